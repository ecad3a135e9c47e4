"""Ref-YouTube-VOS (Seo et al., ECCV 2020; the CodaLab release used by ReferFormer and UniVS).

Tree::

    meta_expressions/<split>/meta_expressions.json
        {"videos": {vid: {"expressions": {"0": {"exp": str, "obj_id": "1"}, ...}, "frames": [...]}}}
    <split>/JPEGImages/<vid>/<frame>.jpg
    <split>/Annotations/<vid>/<frame>.png    palette PNG of object ids (train only)
    <split>/meta.json                        YouTube-VOS 2019 meta: objects with category and frames

Each expression refers to exactly one object (``obj_id``, a string). ``valid``/``test`` ship no
masks and their expressions have no ``obj_id``: they are read with no target. Every frame listed
in ``frames`` has an annotation PNG in ``train``.

Submission (``write_refytvos_submission``): a zip holding ``Annotations/<vid>/<exp_id>/<frame>.png``,
one single-channel PNG per frame with 255 on the referred object and 0 elsewhere — the layout the
CodaLab server scores and MeViS's evaluator reads (``write_expression_masks`` writes the tree).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from univs.data.atomic import atomic_path
from univs.data.formats.common import (add_declared_tracks, check_lengths, decode, expect_dict, expect_list,
                                       field, read_json, read_palette_video, write_frames, write_gray_png,
                                       write_json)
from univs.data.formats.ytvos import (VOID, meta_categories, meta_objects, object_entries, read_meta_videos,
                                      write_annotations)
from univs.data.types import Expression, VideoDataset, VideoRecord
from univs.errors import InputError

ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def _expressions(entry: dict, path: Path, vid: str) -> list[Expression]:
    exps = expect_dict(field(entry, "expressions", path, f"video {vid!r}"), path, f"video {vid!r} expressions")
    out = []
    for exp_id, e in exps.items():
        where = f"video {vid!r} expression {exp_id!r}"
        e = expect_dict(e, path, where)
        text = field(e, "exp", path, where)
        targets = []
        if "obj_id" in e:
            try:
                targets = [int(e["obj_id"])]
            except (TypeError, ValueError):
                raise InputError(f"{where}: obj_id {e['obj_id']!r} is not an integer", path) from None
        out.append(Expression(exp_id=str(exp_id), text=str(text), track_ids=targets))
    return out


def read_refytvos(root: str | Path, split: str = "train") -> VideoDataset:
    """Read one split: expressions, frames (lazy), and (train) masks with categories."""
    root = Path(root)
    exp_path = root / "meta_expressions" / split / "meta_expressions.json"
    videos_meta = expect_dict(field(expect_dict(read_json(exp_path), exp_path, "top level"), "videos",
                                    exp_path, "top level"), exp_path, "videos")
    base = root / split
    meta_path = base / "meta.json"
    objects_meta = read_meta_videos(meta_path) if meta_path.is_file() else {}
    categories, by_name = meta_categories(objects_meta)
    videos = []
    for vid, entry in videos_meta.items():
        entry = expect_dict(entry, exp_path, f"video {vid!r}")
        frames = [str(f) for f in expect_list(field(entry, "frames", exp_path, f"video {vid!r}"), exp_path,
                                               f"video {vid!r} frames")]
        objects = object_entries(objects_meta[vid]["objects"], meta_path, vid) if vid in objects_meta else None
        video = read_palette_video(vid, base / "Annotations" / vid, base / "JPEGImages" / vid, frame_names=frames,
                                   known_ids=None if objects is None else set(objects), declared_in=meta_path,
                                   void_value=VOID, required=False)
        if objects is not None:
            add_declared_tracks(video, sorted(objects))
            for tr in video.tracks:
                tr.category_id = by_name.get(objects[tr.track_id].get("category"))
        video.expressions = _expressions(entry, exp_path, vid)
        known = {tr.track_id for tr in video.tracks}
        for e in video.expressions:
            if video.tracks and not set(e.track_ids) <= known:
                raise InputError(f"video {vid!r} expression {e.exp_id!r} refers to object "
                                 f"{e.track_ids[0]}, which has no annotation", exp_path)
        videos.append(video)
    return VideoDataset(name="refytvos", videos=videos, categories=categories,
                        meta={"format": "refytvos", "split": split})


def _single_target(video: VideoRecord, e: Expression) -> int:
    if len(e.track_ids) != 1:
        raise InputError(f"video {video.name!r} expression {e.exp_id!r} refers to {len(e.track_ids)} objects; "
                         "a Ref-YouTube-VOS expression refers to exactly one")
    return e.track_ids[0]


def write_refytvos(dataset: VideoDataset, root: str | Path, split: str = "train") -> None:
    """Write one split: frames, ``meta_expressions.json`` and (``train``) annotations + ``meta.json``.

    Every frame is listed in ``frames``; in ``train`` every annotated frame gets a PNG.
    """
    root = Path(root)
    base = root / split
    exp_meta, obj_meta = {}, {}
    train = split == "train"
    for video in dataset:
        check_lengths(video)
        write_frames(video, base / "JPEGImages" / video.name)
        expressions = {}
        for e in video.expressions:
            expressions[e.exp_id] = {"exp": e.text}
            if train:
                expressions[e.exp_id]["obj_id"] = str(_single_target(video, e))
        exp_meta[video.name] = {"expressions": expressions, "frames": list(video.frame_names)}
        if train:
            written = write_annotations(video, base / "Annotations" / video.name)
            obj_meta[video.name] = {"objects": meta_objects(video, dataset.categories, written)}
    write_json(root / "meta_expressions" / split / "meta_expressions.json", {"videos": exp_meta})
    if train:
        write_json(base / "meta.json", {"videos": obj_meta})


def expression_mask(video: VideoRecord, e: Expression, t: int) -> np.ndarray:
    """``(H, W)`` bool union of the masks of ``e``'s tracks on frame ``t``."""
    out = np.zeros((video.height, video.width), dtype=bool)
    tracks = {tr.track_id: tr for tr in video.tracks}
    for tid in e.track_ids:
        if tid not in tracks:
            raise InputError(f"video {video.name!r} expression {e.exp_id!r} refers to missing track {tid}")
        rle = tracks[tid].masks[t]
        if rle is not None:
            out |= decode(rle, video, t)
    return out


def write_expression_masks(dataset: VideoDataset, root: str | Path) -> None:
    """``<root>/<vid>/<exp_id>/<frame>.png`` (mode L, 255 = referred object) for every frame."""
    root = Path(root)
    for video in dataset:
        check_lengths(video)
        for e in video.expressions:
            for t, name in enumerate(video.frame_names):
                write_gray_png(root / video.name / e.exp_id / f"{name}.png",
                               expression_mask(video, e, t).astype(np.uint8) * 255)


def write_refytvos_submission(dataset: VideoDataset, path: str | Path) -> None:
    """The CodaLab submission zip: ``Annotations/<vid>/<exp_id>/<frame>.png`` (reproducible bytes)."""
    with atomic_path(Path(path)) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for video in dataset:
            check_lengths(video)
            for e in video.expressions:
                for t, name in enumerate(video.frame_names):
                    buf = io.BytesIO()
                    mask = expression_mask(video, e, t).astype(np.uint8) * 255
                    Image.fromarray(mask, mode="L").save(buf, format="PNG")
                    info = zipfile.ZipInfo(f"Annotations/{video.name}/{e.exp_id}/{name}.png", ZIP_DATE)
                    info.compress_type = zipfile.ZIP_DEFLATED
                    zf.writestr(info, buf.getvalue())
