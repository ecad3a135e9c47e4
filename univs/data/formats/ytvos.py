"""YouTube-VOS 2019 (youtube-vos.org, the semi-supervised VOS track release).

Tree, per split (``train``, ``valid``, ``test``)::

    <split>/JPEGImages/<vid>/<frame>.jpg      frame names are the original frame numbers (00000, 00005, ...)
    <split>/Annotations/<vid>/<frame>.png     palette PNG, index = object id
    <split>/meta.json                         {"videos": {vid: {"objects": {"1": {"category": name,
                                                                               "frames": [...]}}}}}

``train`` annotates every 5th frame (frame numbers divisible by 5) with every object; the
``*_all_frames`` release puts all frames in ``JPEGImages`` with the same annotations, and frames
without a PNG are read as not annotated. ``valid``/``test`` give each object's mask only on the
frame where it first appears: a PNG there holds only the objects it introduces, so ``None`` on
an annotated frame means "not given", not "absent" (``meta["first_appearance_only"]``). Their
``meta.json`` has no categories, and an object's ``frames`` run from its first appearance on.
"""

from __future__ import annotations

from pathlib import Path

from univs.data.formats.common import (add_declared_tracks, check_lengths, expect_dict, field, paint_ids,
                                       read_json, read_palette_video, write_frames, write_json,
                                       write_palette_png)
from univs.data.types import Category, VideoDataset, VideoRecord
from univs.errors import InputError

SPARSE_SPLITS = ("valid", "test")
MAX_ID = 254
VOID = 255


def object_entries(objects: dict, path: Path, vid: str) -> dict[int, dict]:
    """``{object id: entry}`` of a ``meta.json`` video; ids must be integers."""
    try:
        return {int(k): v for k, v in objects.items()}
    except ValueError:
        raise InputError(f"video {vid!r}: object ids must be integers, got {list(objects)}", path) from None


def read_meta_videos(path: Path) -> dict:
    """``meta.json``'s ``videos`` mapping, checked to be ``{vid: {"objects": {id: {...}}}}``."""
    videos = expect_dict(field(expect_dict(read_json(path), path, "meta.json"), "videos", path, "meta.json"),
                         path, "videos")
    for vid, entry in videos.items():
        objects = expect_dict(field(entry, "objects", path, f"video {vid!r}"), path, f"video {vid!r} objects")
        for oid, obj in objects.items():
            expect_dict(obj, path, f"video {vid!r} object {oid!r}")
    return videos


def meta_categories(meta_videos: dict) -> tuple[dict[int, Category], dict[str, int]]:
    """Categories of a ``meta.json`` (names only), numbered 1..N in sorted name order, and name → id."""
    names = sorted({o["category"] for e in meta_videos.values() for o in e["objects"].values()
                    if isinstance(o.get("category"), str)})
    categories = {i: Category(id=i, name=n) for i, n in enumerate(names, start=1)}
    return categories, {c.name: c.id for c in categories.values()}


def read_ytvos(root: str | Path, split: str = "train") -> VideoDataset:
    """Read ``<root>/<split>``: frames (lazy), palette annotations, object categories.

    Categories are the ``meta.json`` names, numbered 1..N in sorted name order (YouTube-VOS has no
    category ids). A PNG id that ``meta.json`` does not list is an :class:`InputError`.
    """
    base = Path(root) / split
    meta_path = base / "meta.json"
    meta_videos = read_meta_videos(meta_path)
    categories, by_name = meta_categories(meta_videos)
    videos = []
    for vid, entry in meta_videos.items():
        objects = object_entries(entry["objects"], meta_path, vid)
        video = read_palette_video(vid, base / "Annotations" / vid, base / "JPEGImages" / vid,
                                   known_ids=set(objects), declared_in=meta_path, void_value=VOID)
        add_declared_tracks(video, sorted(objects))
        for tr in video.tracks:
            tr.category_id = by_name.get(objects[tr.track_id].get("category"))
        videos.append(video)
    return VideoDataset(name="ytvos", videos=videos, categories=categories,
                        meta={"format": "ytvos", "split": split,
                              "first_appearance_only": split in SPARSE_SPLITS})


def first_frames(video: VideoRecord) -> dict[int, int]:
    """Track id → index of its first frame with a non-empty mask."""
    out = {}
    for tr in video.tracks:
        present = tr.present_frames()
        if present:
            out[tr.track_id] = present[0]
    return out


def write_first_appearance(video: VideoRecord, folder: Path) -> dict[int, int]:
    """On each frame where objects first appear, a PNG of only those objects; returns
    :func:`first_frames`."""
    first = first_frames(video)
    for t, name in enumerate(video.frame_names):
        new = {tid for tid, t0 in first.items() if t0 == t}
        if new:
            write_palette_png(folder / f"{name}.png", paint_ids(video, t, MAX_ID, VOID, only=new))
    return first


def write_annotations(video: VideoRecord, folder: Path, step: int = 1) -> list[int]:
    """A PNG of all objects on every annotated frame whose number is divisible by ``step``
    (non-numeric frame names are kept); returns the frame indices written."""
    written = []
    for t, name in enumerate(video.frame_names):
        if video.is_annotated(t) and (step <= 1 or not name.isdigit() or int(name) % step == 0):
            write_palette_png(folder / f"{name}.png", paint_ids(video, t, MAX_ID, VOID))
            written.append(t)
    return written


def meta_objects(video: VideoRecord, categories: dict, frames: list[int]) -> dict:
    """``meta.json`` objects of a train-style split: category name and the listed frames it is in."""
    objects = {}
    for tr in video.tracks:
        obj = {}
        if tr.category_id is not None and tr.category_id in categories:
            obj["category"] = categories[tr.category_id].name
        present = set(tr.present_frames())
        obj["frames"] = [video.frame_names[t] for t in frames if t in present]
        objects[str(tr.track_id)] = obj
    return objects


def write_ytvos(dataset: VideoDataset, root: str | Path, split: str = "train",
                annotation_step: int = 5) -> None:
    """Write ``<root>/<split>`` as YouTube-VOS ships it.

    ``train``: every frame as JPEG (the all-frames layout) and a PNG of all objects on annotated
    frames whose number is divisible by ``annotation_step``. ``valid``/``test``: a PNG on each
    frame where some object first appears, holding only those objects, and ``meta.json`` frames
    that run from the first appearance on.
    """
    base = Path(root) / split
    meta: dict = {}
    for video in dataset:
        check_lengths(video)
        write_frames(video, base / "JPEGImages" / video.name)
        folder = base / "Annotations" / video.name
        if split in SPARSE_SPLITS:
            first = write_first_appearance(video, folder)
            meta[video.name] = {"objects": {str(tr.track_id): {"frames": video.frame_names[first[tr.track_id]:]
                                                                if tr.track_id in first else []}
                                            for tr in video.tracks}}
        else:
            written = write_annotations(video, folder, annotation_step)
            meta[video.name] = {"objects": meta_objects(video, dataset.categories, written)}
    write_json(base / "meta.json", {"videos": meta})
