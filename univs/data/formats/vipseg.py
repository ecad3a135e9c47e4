"""VIPSeg video panoptic segmentation (VIPSeg-Dataset, CVPR 2022), in its converted COCO-panoptic
video form (``create_panoptic_video_labels.py`` + ``splitjson.py`` of the official repository).

Tree::

    images/<vid>/<frame>.jpg
    panomasks/<vid>/<frame>.png            RGB, segment id = R + 256·G + 256²·B, 0 = void/unlabelled
                                           (the converter's own output folder is panomasksRGB/;
                                           readers take that name first when it exists)
    panoptic_gt_VIPSeg_<split>.json        {"videos": [{"video_id", "images": [{"id", "width", "height",
                                                                                "file_name"}]}],
                                            "annotations": [{"video_id", "annotations": [per frame, in
                                               "images" order: {"image_id", "file_name",
                                               "segments_info": [{"id", "category_id", "iscrowd", "area"}]}]}],
                                            "categories": [{"id", "name", "isthing", "color"}]}
    <split>.txt                            video names, one per line

A segment id is constant over a video (one per thing track, one per stuff class): the reader's
track id. ``segments_info`` is ordered by VIPSeg's raw label — ``cat+1`` for stuff and for crowd
(instance-less) thing regions, ``(cat+1)·100 + k`` for the k-th (from 0) thing instance of a
category — which STQ's instance numbering depends on. Every non-zero PNG id must be listed for
its frame and every listed id must be in the PNG.

Predictions (``write_vipseg_results``): ``pan_pred/<vid>/<frame>.png`` in the same encoding plus
``pred.json`` {"annotations": [{"video_id", "annotations": [per frame {"image_id", "file_name",
"segments_info": [{"id", "category_id", "area"}]}]}]}, as VIPSeg's ``eval_vpq_vspw.py`` reads them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from univs.data.formats.common import (PANOPTIC_MAX_ID, categories_json, check_lengths, expect_dict,
                                       expect_list, field, image_size, open_frames, paint_ids,
                                       read_categories, read_json, read_panoptic_frame, write_frames,
                                       write_json, write_lines, write_rgb_ids)
from univs.data.types import RLE, Track, VideoDataset, VideoRecord, encode_mask
from univs.errors import InputError


def _json_path(root: Path, split: str | None, json_file: str | Path | None) -> Path:
    if json_file is not None:
        return root / json_file
    if split is not None:
        return root / f"panoptic_gt_VIPSeg_{split}.json"
    found = sorted(root.glob("panoptic_gt*.json"))
    if len(found) != 1:
        raise InputError(f"expected one panoptic_gt*.json, found {len(found)}; pass split= or json_file=", root)
    return found[0]


def mask_root(root: Path) -> Path:
    """``panomasksRGB/`` (the converter's name) when present, else ``panomasks/``."""
    rgb = root / "panomasksRGB"
    return rgb if rgb.is_dir() else root / "panomasks"


def _read_video(entry: dict, frames_ann: list, root: Path, path: Path, categories: dict) -> VideoRecord:
    vid = str(field(entry, "video_id", path, "video"))
    images = expect_list(field(entry, "images", path, f"video {vid!r}"), path, f"video {vid!r} images")
    if not images:
        raise InputError(f"video {vid!r} has no images", path)
    if len(frames_ann) != len(images):
        raise InputError(f"video {vid!r}: {len(frames_ann)} frame annotations for {len(images)} images", path)
    first = expect_dict(images[0], path, f"video {vid!r} image")
    names = [Path(str(field(im, "file_name", path, f"video {vid!r} image"))).stem for im in images]
    if "height" in first and "width" in first:
        size = (int(first["height"]), int(first["width"]))
    else:
        size = image_size(mask_root(root) / vid / f"{names[0]}.png")
    n = len(images)
    masks: dict[int, list[RLE | None]] = {}
    info: dict[int, dict] = {}
    void: list[RLE | None] = [None] * n
    for t, fa in enumerate(frames_ann):
        where = f"video {vid!r} frame {names[t]!r}"
        fa = expect_dict(fa, path, where)
        png = mask_root(root) / vid / f"{Path(str(fa.get('file_name', names[t] + '.png'))).stem}.png"
        ids, listed = read_panoptic_frame(png, size, fa, categories, path, where)
        for sid, s in listed.items():
            cid = s["category_id"]
            prev = info.setdefault(sid, {"category_id": cid, "iscrowd": bool(s.get("iscrowd", 0))})
            if prev["category_id"] != cid:
                raise InputError(f"segment id {sid} changes category in video {vid!r} "
                                 f"({prev['category_id']} → {cid})", path)
            masks.setdefault(sid, [None] * n)[t] = encode_mask(ids == sid)
        if 0 in np.unique(ids):
            void[t] = encode_mask(ids == 0)
    tracks = [Track(track_id=sid, masks=masks[sid], category_id=info[sid]["category_id"],
                    isthing=categories[info[sid]["category_id"]].isthing, iscrowd=info[sid]["iscrowd"])
              for sid in sorted(masks)]
    return VideoRecord(name=vid, frame_names=names, frames=open_frames(root / "images" / vid, names, size),
                       height=size[0], width=size[1], tracks=tracks,
                       void=void if any(v is not None for v in void) else None)


def read_vipseg(root: str | Path, split: str | None = None, json_file: str | Path | None = None) -> VideoDataset:
    """Read a VIPSeg root: ``panoptic_gt_VIPSeg_<split>.json`` (or ``json_file``; with neither, the
    one ``panoptic_gt*.json`` there), RGB panoptic PNGs, frames from ``images/`` when present."""
    root = Path(root)
    path = _json_path(root, split, json_file)
    data = expect_dict(read_json(path), path, "top level")
    categories = read_categories(field(data, "categories", path, "top level"), path)
    anns = {}
    for a in expect_list(field(data, "annotations", path, "top level"), path, "annotations"):
        a = expect_dict(a, path, "annotations[]")
        anns[str(field(a, "video_id", path, "annotation"))] = expect_list(
            field(a, "annotations", path, "annotation"), path, "video annotations")
    videos = []
    for entry in expect_list(field(data, "videos", path, "top level"), path, "videos"):
        entry = expect_dict(entry, path, "videos[]")
        vid = str(field(entry, "video_id", path, "video"))
        if vid not in anns:
            raise InputError(f"video {vid!r} has no entry in annotations", path)
        videos.append(_read_video(entry, anns[vid], root, path, categories))
    return VideoDataset(name="vipseg", videos=videos, categories=categories,
                        meta={"format": "vipseg", "split": split, "json": str(path)})


def raw_label_order(video: VideoRecord, categories: dict) -> list[int]:
    """Track ids in VIPSeg's raw-label order (see the module docstring)."""
    keys = {}
    rank: dict[int, int] = {}
    for tr in sorted(video.tracks, key=lambda tr: tr.track_id):
        cid = tr.category_id
        if categories[cid].isthing and not tr.iscrowd:
            k = rank.get(cid, 0)
            rank[cid] = k + 1
            keys[tr.track_id] = ((cid + 1) * 100 + k, tr.track_id)
        else:
            keys[tr.track_id] = (cid + 1, tr.track_id)
    return sorted(keys, key=keys.get)


def _frame_segments(ids: np.ndarray, order: list[int], video: VideoRecord, crowd: bool) -> list[dict]:
    values, counts = np.unique(ids, return_counts=True)
    area = dict(zip(values.tolist(), counts.tolist()))
    tracks = {tr.track_id: tr for tr in video.tracks}
    out = []
    for sid in order:
        if area.get(sid, 0) > 0:
            seg = {"id": sid, "category_id": tracks[sid].category_id}
            if crowd:
                seg["iscrowd"] = int(tracks[sid].iscrowd)
            seg["area"] = int(area[sid])
            out.append(seg)
    return out


def _check_categories(video: VideoRecord, categories: dict) -> None:
    for tr in video.tracks:
        if tr.category_id not in categories:
            raise InputError(f"video {video.name!r}: track {tr.track_id} has category {tr.category_id!r}, "
                             "which the dataset does not list")


def write_vipseg(dataset: VideoDataset, root: str | Path, split: str = "val") -> None:
    """Write frames, RGB panoptic PNGs (segment id = track id), ``panoptic_gt_VIPSeg_<split>.json``
    and ``<split>.txt``. Overlaps are flattened with later tracks on top; void pixels become 0."""
    root = Path(root)
    videos, annotations = [], []
    for video in dataset:
        check_lengths(video)
        _check_categories(video, dataset.categories)
        order = raw_label_order(video, dataset.categories)
        write_frames(video, root / "images" / video.name)
        images, frames = [], []
        for t, name in enumerate(video.frame_names):
            ids = paint_ids(video, t, PANOPTIC_MAX_ID, None, dtype=np.uint32)
            write_rgb_ids(root / "panomasks" / video.name / f"{name}.png", ids)
            images.append({"id": name, "width": video.width, "height": video.height, "file_name": f"{name}.png"})
            frames.append({"image_id": name, "file_name": f"{name}.png",
                           "segments_info": _frame_segments(ids, order, video, crowd=True)})
        videos.append({"video_id": video.name, "images": images})
        annotations.append({"video_id": video.name, "annotations": frames})
    write_json(root / f"panoptic_gt_VIPSeg_{split}.json",
               {"videos": videos, "annotations": annotations, "categories": categories_json(dataset.categories)})
    write_lines(root / f"{split}.txt", [v.name for v in dataset])


def write_vipseg_results(dataset: VideoDataset, root: str | Path) -> None:
    """Predictions for VIPSeg's evaluators: ``<root>/pan_pred/<vid>/<frame>.png`` and ``<root>/pred.json``."""
    root = Path(root)
    annotations = []
    for video in dataset:
        check_lengths(video)
        _check_categories(video, dataset.categories)
        order = raw_label_order(video, dataset.categories)
        frames = []
        for t, name in enumerate(video.frame_names):
            ids = paint_ids(video, t, PANOPTIC_MAX_ID, None, dtype=np.uint32)
            write_rgb_ids(root / "pan_pred" / video.name / f"{name}.png", ids)
            frames.append({"image_id": name, "file_name": f"{name}.png",
                           "segments_info": _frame_segments(ids, order, video, crowd=False)})
        annotations.append({"video_id": video.name, "annotations": frames})
    write_json(root / "pred.json", {"annotations": annotations})
