"""VSPW video semantic segmentation (VSPW, CVPR 2021; the VSPW_480p release).

Tree::

    data/<video>/origin/<frame>.jpg
    data/<video>/mask/<frame>.png     single channel: 1..124 = classes, 0 = "others", 255 = void
    {train,val,test}.txt              video names, one per line, each line ending in a newline
                                      (the official scripts cut the last character of every line)
    label_num_dic_final.json          {"wall": "1", ..., "others": "0"}: class name → mask value

Label convention: a mask value v in 1..254 is category id v, and the reader makes one track per
class present with ``track_id = category_id = v`` (what the ``vss`` task expects). "others" (0)
is background without a track; 255 goes to ``VideoRecord.void``. Without a
``label_num_dic_final.json`` the 124 VSPW classes are used (value v = VIPSeg class v−1, same
names). VSPW has no thing/stuff split: every category is read with ``isthing=False``.

Predictions (``write_vspw_results``): ``<root>/<video>/<frame>.png`` holding category id − 1
(VSPW's 0..123 network output space, which its mIoU script compares against the mapped GT),
255 where no track covers a pixel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from univs.data.formats.common import (check_lengths, expect_dict, paint_ids, read_json, read_lines,
                                       read_palette_video, subfolders, write_frames, write_gray_png,
                                       write_json, write_lines)
from univs.data.formats.vipseg_categories import vipseg_categories
from univs.data.types import Category, Track, VideoDataset, VideoRecord
from univs.errors import InputError

LABEL_FILE = "label_num_dic_final.json"
OTHERS = 0
VOID = 255
MAX_CLASS = 254


def read_label_file(path: Path) -> dict[int, Category]:
    """``label_num_dic_final.json`` → ``{mask value: Category}`` ("others" left out)."""
    data = expect_dict(read_json(path), path, "top level")
    out = {}
    for name, value in data.items():
        try:
            v = int(value)
        except (TypeError, ValueError):
            raise InputError(f"class {name!r}: value {value!r} is not an integer", path) from None
        if v != OTHERS:
            out[v] = Category(id=v, name=name, isthing=False)
    return out


def default_categories() -> dict[int, Category]:
    """The 124 VSPW classes keyed by mask value (VIPSeg id + 1)."""
    return {c.id + 1: Category(id=c.id + 1, name=c.name, isthing=False) for c in vipseg_categories().values()}


def _read_video(root: Path, name: str, categories: dict[int, Category], label_src: str) -> VideoRecord:
    video = read_palette_video(name, root / "data" / name / "mask", root / "data" / name / "origin",
                               known_ids=set(categories), declared_in=label_src, void_value=VOID, required=False)
    for tr in video.tracks:
        tr.category_id, tr.isthing = tr.track_id, False
    return video


def read_vspw(root: str | Path, split: str | None = None) -> VideoDataset:
    """Read a VSPW root; ``split`` picks ``<split>.txt``, ``None`` reads every video under ``data/``."""
    root = Path(root)
    if not (root / "data").is_dir():
        raise InputError("not a VSPW root: no data/ folder", root)
    label_path = root / LABEL_FILE
    if label_path.is_file():
        categories, label_src = read_label_file(label_path), str(label_path)
    else:
        categories, label_src = default_categories(), "the 124 VSPW classes"
    names = read_lines(root / f"{split}.txt") if split else subfolders(root / "data")
    videos = [_read_video(root, n, categories, label_src) for n in names]
    return VideoDataset(name="vspw", videos=videos, categories=categories,
                        meta={"format": "vspw", "split": split})


def _class_video(video: VideoRecord) -> VideoRecord:
    """A view of ``video`` whose track ids are the category ids (the values VSPW stores)."""
    for tr in video.tracks:
        if tr.category_id is None:
            raise InputError(f"video {video.name!r}: track {tr.track_id} has no category; VSPW stores classes")
    tracks = [Track(track_id=tr.category_id, masks=tr.masks, category_id=tr.category_id, isthing=tr.isthing)
              for tr in video.tracks]
    return VideoRecord(name=video.name, frame_names=video.frame_names, frames=video.frames,
                       height=video.height, width=video.width, tracks=tracks, annotated=video.annotated,
                       void=video.void)


def write_vspw(dataset: VideoDataset, root: str | Path, split: str = "val") -> None:
    """Write ``data/<video>/{origin,mask}``, ``<split>.txt`` and ``label_num_dic_final.json``.

    Mask value = the track's category id (1..254); uncovered pixels are "others" (0), void 255.
    """
    root = Path(root)
    for video in dataset:
        check_lengths(video)
        classes = _class_video(video)
        write_frames(video, root / "data" / video.name / "origin")
        for t, name in enumerate(video.frame_names):
            if video.is_annotated(t):
                write_gray_png(root / "data" / video.name / "mask" / f"{name}.png",
                               paint_ids(classes, t, MAX_CLASS, VOID))
    labels = {"others": str(OTHERS)}
    labels.update({c.name: str(c.id) for c in sorted(dataset.categories.values(), key=lambda c: c.id)})
    write_json(root / LABEL_FILE, labels)
    write_lines(root / f"{split}.txt", [v.name for v in dataset])


def write_vspw_results(dataset: VideoDataset, root: str | Path) -> None:
    """Predictions ``<root>/<video>/<frame>.png``: category id − 1 per pixel, 255 where uncovered."""
    root = Path(root)
    for video in dataset:
        check_lengths(video)
        classes = _class_video(video)
        for t, name in enumerate(video.frame_names):
            ids = paint_ids(classes, t, MAX_CLASS, None).astype(np.int32) - 1
            write_gray_png(root / video.name / f"{name}.png", np.where(ids < 0, VOID, ids))
