"""MeViS motion-expression video segmentation (Ding et al., ICCV 2023; henghuiding/MeViS release).

Tree, per split (``train``, ``valid_u``, ``valid``)::

    <split>/JPEGImages/<vid>/<frame>.jpg
    <split>/meta_expressions.json   {"videos": {vid: {"expressions": {exp_id: {"exp": str,
                                        "obj_id": [int], "anno_id": [int]}}, "vid_id": int,
                                        "frames": ["00000", ...]}}}
    <split>/mask_dict.json          {"<anno_id>": [compressed RLE | null per frame]}

``obj_id`` numbers a video's objects from 0; ``anno_id`` is unique across the split and keys the
object's masks. An expression may refer to several objects. The reader gives each object a track
with ``track_id = obj_id + 1`` (univs ids start at 1) and reads only objects some expression
refers to (the release has no other list of objects). ``valid`` ships no ``mask_dict.json``: its
videos are read without tracks or targets.

Predictions use the Ref-YouTube-VOS tree ``<vid>/<exp_id>/<frame>.png``
(:func:`univs.data.formats.refytvos.write_expression_masks`).
"""

from __future__ import annotations

from pathlib import Path

from univs.data.formats.common import (check_lengths, expect_dict, expect_list, field, first_frame_size,
                                       open_frames, read_json, write_frames, write_json)
from univs.data.formats.rle import rle_from_json, rle_to_json
from univs.data.types import Expression, Track, VideoDataset, VideoRecord
from univs.errors import InputError


def _int_list(value: object, path: Path, where: str) -> list[int]:
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in items):
        raise InputError(f"{where}: expected non-negative integer ids, got {value!r}", path)
    return items


def _masks(entry: object, n: int, size: tuple[int, int] | None, path: Path, where: str):
    entry = expect_list(entry, path, where)
    if len(entry) != n:
        raise InputError(f"{where}: {len(entry)} masks for a video of {n} frames", path)
    if size is None:
        size = next((tuple(int(s) for s in r["size"]) for r in entry
                     if isinstance(r, dict) and isinstance(r.get("size"), list) and len(r["size"]) == 2), None)
    masks = [None if r is None else rle_from_json(r, size or (0, 0), path, f"{where} frame {t}")
             for t, r in enumerate(entry)]
    return masks, size


def _read_video(vid: str, entry: dict, base: Path, exp_path: Path, mask_dict: dict | None,
                mask_path: Path) -> VideoRecord:
    where = f"video {vid!r}"
    frames = [str(f) for f in expect_list(field(entry, "frames", exp_path, where), exp_path, f"{where} frames")]
    img_dir = base / "JPEGImages" / vid
    size = first_frame_size(img_dir, frames)
    expressions, anno_of = [], {}
    for exp_id, e in expect_dict(field(entry, "expressions", exp_path, where), exp_path,
                                 f"{where} expressions").items():
        ew = f"{where} expression {exp_id!r}"
        e = expect_dict(e, exp_path, ew)
        objs = (_int_list(field(e, "obj_id", exp_path, ew), exp_path, f"{ew} obj_id")
                if mask_dict is not None else [])
        if objs:
            annos = _int_list(field(e, "anno_id", exp_path, ew), exp_path, f"{ew} anno_id")
            if len(annos) != len(objs):
                raise InputError(f"{ew}: {len(objs)} obj_id but {len(annos)} anno_id", exp_path)
            for o, a in zip(objs, annos):
                if anno_of.setdefault(o, a) != a:
                    raise InputError(f"{where}: object {o} has anno_id {anno_of[o]} and {a}", exp_path)
        expressions.append(Expression(exp_id=str(exp_id), text=str(field(e, "exp", exp_path, ew)),
                                      track_ids=[o + 1 for o in objs]))
    tracks = []
    for o, a in sorted(anno_of.items()):
        if str(a) not in mask_dict:
            raise InputError(f"{where}: anno_id {a} (object {o}) is not in {mask_path.name}", mask_path)
        masks, size = _masks(mask_dict[str(a)], len(frames), size, mask_path, f"anno_id {a}")
        tracks.append(Track(track_id=o + 1, masks=masks))
    if size is None:
        raise InputError(f"{where}: no frames and no masks tell the frame size", exp_path)
    vid_id = entry.get("vid_id")
    return VideoRecord(name=vid, frame_names=frames, frames=open_frames(img_dir, frames, size),
                       height=int(size[0]), width=int(size[1]), tracks=tracks, expressions=expressions,
                       video_id=vid_id if isinstance(vid_id, int) else None)


def read_mevis(root: str | Path, split: str | None = "train") -> VideoDataset:
    """Read ``<root>/<split>`` (or ``root`` itself when ``split`` is ``None``)."""
    base = Path(root) / split if split else Path(root)
    exp_path, mask_path = base / "meta_expressions.json", base / "mask_dict.json"
    videos = expect_dict(field(expect_dict(read_json(exp_path), exp_path, "top level"), "videos", exp_path,
                               "top level"), exp_path, "videos")
    mask_dict = expect_dict(read_json(mask_path), mask_path, "top level") if mask_path.is_file() else None
    out = [_read_video(str(vid), expect_dict(entry, exp_path, f"video {vid!r}"), base, exp_path, mask_dict, mask_path)
           for vid, entry in videos.items()]
    return VideoDataset(name="mevis", videos=out, meta={"format": "mevis", "split": split})


def write_mevis(dataset: VideoDataset, root: str | Path, split: str = "train") -> None:
    """Write frames, ``meta_expressions.json`` and ``mask_dict.json`` of ``<root>/<split>``.

    Objects are the tracks some expression refers to (``obj_id = track_id − 1``); ``anno_id``
    counts them over the dataset in video order. Unannotated frames are ``null``.
    """
    base = Path(root) / split
    meta, mask_dict = {}, {}
    next_anno = 0
    for i, video in enumerate(dataset):
        check_lengths(video)
        write_frames(video, base / "JPEGImages" / video.name)
        tracks = {tr.track_id: tr for tr in video.tracks}
        referred = sorted({tid for e in video.expressions for tid in e.track_ids})
        anno = {}
        for tid in referred:
            if tid not in tracks or tid < 1:
                raise InputError(f"video {video.name!r}: an expression refers to track {tid}, which cannot be "
                                 "written (missing, or id < 1)")
            anno[tid] = next_anno
            mask_dict[str(next_anno)] = [rle_to_json(m) if m is not None and video.is_annotated(t) else None
                                         for t, m in enumerate(tracks[tid].masks)]
            next_anno += 1
        expressions = {e.exp_id: {"exp": e.text, "obj_id": [tid - 1 for tid in e.track_ids],
                                  "anno_id": [anno[tid] for tid in e.track_ids]} for e in video.expressions}
        meta[video.name] = {"expressions": expressions,
                            "vid_id": video.video_id if video.video_id is not None else i,
                            "frames": list(video.frame_names)}
    write_json(base / "meta_expressions.json", {"videos": meta})
    write_json(base / "mask_dict.json", mask_dict)
