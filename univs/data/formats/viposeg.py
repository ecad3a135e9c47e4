"""VIPOSeg panoptic VOS (Xu et al., "Video Object Segmentation in Panoptic Wild Scenes", IJCAI 2023;
yoxu515/VIPOSeg-Benchmark). Built from VIPSeg: every thing *and* stuff region is an object.

Tree::

    train/JPEGImages/<vid>/<frame>.jpg
    train/Annotations/<vid>/<frame>.png       palette PNG of object ids, every frame
    train/obj_class.json                      {vid: {"<object id>": <VIPSeg class id 0..123>}}
    valid/JPEGImages/<vid>/<frame>.jpg
    valid/Annotations/<vid>/<frame>.png       reference masks: a PNG on each frame where objects
                                              first appear, holding only those objects
    valid/Annotations_gt/<vid>/<frame>.png    full ground truth, every frame (what is scored)
    valid/obj_class.json
    valid/meta.json                           {"videos": {vid: {"objects": {"<id>": {"frames": [...]}}}}}
    panoVIPSeg_categories.json                (univs addition, see below)

Classes are VIPSeg's (ids 0..123, thing/stuff as VIPSeg defines them); the benchmark's seen/unseen
split is fixed in its evaluator and given here as :data:`UNSEEN_THING_CLASSES` /
:data:`UNSEEN_STUFF_CLASSES` (``meta["unseen_category_ids"]``). The release has no category file;
the writer adds VIPSeg's own ``panoVIPSeg_categories.json`` at the root so that a dataset with
other categories (the synthetic world) keeps its names and thing/stuff flags, and the reader uses
it when present, else VIPSeg's 124 classes.

The reader reads ``valid`` ground truth from ``Annotations_gt`` when present, else the reference
masks (``meta["first_appearance_only"]``).
"""

from __future__ import annotations

from pathlib import Path

from univs.data.formats.common import (add_declared_tracks, categories_json, check_lengths, expect_dict,
                                       read_categories, read_json, read_palette_video, write_frames,
                                       write_json)
from univs.data.formats.vipseg_categories import vipseg_categories
from univs.data.formats.ytvos import VOID, object_entries, write_annotations, write_first_appearance
from univs.data.types import VideoDataset
from univs.data.video import natural_key
from univs.errors import InputError

CATEGORY_FILE = "panoVIPSeg_categories.json"
UNSEEN_THING_CLASSES = (102, 99, 109, 47, 55, 61, 118, 72, 46, 96, 64, 101, 86, 97, 100, 116, 95)
UNSEEN_STUFF_CLASSES = (9, 71, 120, 58, 94, 5, 34, 20, 6, 26, 112, 17, 57, 113, 25, 81, 38)


def read_viposeg(root: str | Path, split: str = "valid") -> VideoDataset:
    """Read ``<root>/<split>``: frames (lazy), object masks, and each object's class."""
    root = Path(root)
    base = root / split
    cls_path = base / "obj_class.json"
    obj_class = expect_dict(read_json(cls_path), cls_path, "top level")
    cat_path = root / CATEGORY_FILE
    categories = read_categories(read_json(cat_path), cat_path) if cat_path.is_file() else vipseg_categories()
    gt = base / "Annotations_gt"
    ann_root = gt if gt.is_dir() else base / "Annotations"
    videos = []
    for vid in sorted(obj_class, key=natural_key):
        classes = object_entries(expect_dict(obj_class[vid], cls_path, f"video {vid!r}"), cls_path, vid)
        video = read_palette_video(vid, ann_root / vid, base / "JPEGImages" / vid, known_ids=set(classes),
                                   declared_in=cls_path, void_value=VOID)
        add_declared_tracks(video, sorted(classes))
        for tr in video.tracks:
            try:
                cid = int(classes[tr.track_id])
            except (TypeError, ValueError):
                raise InputError(f"video {vid!r} object {tr.track_id}: class {classes[tr.track_id]!r} "
                                 "is not an integer", cls_path) from None
            if cid not in categories:
                raise InputError(f"video {vid!r} object {tr.track_id}: unknown class {cid}", cls_path)
            tr.category_id, tr.isthing = cid, categories[cid].isthing
        videos.append(video)
    return VideoDataset(name="viposeg", videos=videos, categories=categories,
                        meta={"format": "viposeg", "split": split,
                              "first_appearance_only": split != "train" and not gt.is_dir(),
                              "unseen_category_ids": sorted(UNSEEN_THING_CLASSES + UNSEEN_STUFF_CLASSES)})


def write_viposeg(dataset: VideoDataset, root: str | Path, split: str = "valid") -> None:
    """Write ``<root>/<split>`` in the release layout plus ``<root>/panoVIPSeg_categories.json``.

    ``train``: masks of every annotated frame. Other splits: reference masks in ``Annotations``,
    full masks in ``Annotations_gt`` and ``meta.json``. Object ids must be 1..254.
    """
    root = Path(root)
    base = root / split
    obj_class, meta = {}, {}
    for video in dataset:
        check_lengths(video)
        for tr in video.tracks:
            if tr.category_id is None:
                raise InputError(f"video {video.name!r}: object {tr.track_id} has no class; VIPOSeg needs one")
        write_frames(video, base / "JPEGImages" / video.name)
        obj_class[video.name] = {str(tr.track_id): tr.category_id for tr in video.tracks}
        if split == "train":
            write_annotations(video, base / "Annotations" / video.name)
            continue
        write_first_appearance(video, base / "Annotations" / video.name)
        write_annotations(video, base / "Annotations_gt" / video.name)
        meta[video.name] = {"objects": {str(tr.track_id): {"frames": [video.frame_names[t]
                                                                      for t in tr.present_frames()]}
                                        for tr in video.tracks}}
    write_json(base / "obj_class.json", obj_class)
    if split != "train":
        write_json(base / "meta.json", {"videos": meta})
    write_json(root / CATEGORY_FILE, categories_json(dataset.categories))
