"""YouTube-VIS 2019/2021 and OVIS: COCO-style video instance JSON (youtube-vos.org VIS track,
songbai.site/ovis), and the results file the YouTube-VIS evaluator (youtubevos/cocoapi) scores.

Trees::

    YouTube-VIS 2019:  <split>/JPEGImages/<vid>/<frame>.jpg   <split>.json
    YouTube-VIS 2021:  <split>/JPEGImages/<vid>/<frame>.jpg   <split>/instances.json
    OVIS:              <split>/<vid>/<frame>.jpg              annotations_<split>.json

JSON: ``videos`` [{id, width, height, length, file_names: ["<vid>/<frame>.jpg", ...]}],
``annotations`` [{id, video_id, category_id, iscrowd, segmentations: [RLE | null per frame],
areas: [int | null], bboxes: [[x, y, w, h] | null], height, width, length}], ``categories``
[{id, name, supercategory}]. Segmentations may be uncompressed (counts a list, as the 2019 train
file ships them) or compressed (counts a string); both are read, and ground truth is written
uncompressed as the official file is. ``null`` = the instance is absent from that frame.

Annotation ids are unique across the file (the evaluator indexes annotations by id). The reader
keeps them as track ids; the writer keeps track ids when they are unique across the dataset and
otherwise renumbers every annotation 1..N in video order (the numbering the official files use).

Results: a JSON list of {video_id, category_id, score, segmentations: [RLE | null per frame]}
with compressed RLE; read back against the ground truth's videos.
"""

from __future__ import annotations

from pathlib import Path

from univs.data.formats.common import (categories_json, check_lengths, expect_dict, expect_list, field,
                                       frames_of, keep_or_renumber, read_categories, read_json, write_frames,
                                       write_json)
from univs.data.formats.rle import rle_area, rle_bbox, rle_from_json, rle_to_json
from univs.data.types import Track, VideoDataset, VideoRecord
from univs.errors import InputError

LAYOUTS = ("2019", "2021", "ovis")


def layout_paths(root: Path, split: str, layout: str) -> tuple[Path, Path]:
    """``(json file, image root)`` of a split in one of :data:`LAYOUTS`."""
    if layout == "2019":
        return root / f"{split}.json", root / split / "JPEGImages"
    if layout == "2021":
        return root / split / "instances.json", root / split / "JPEGImages"
    if layout == "ovis":
        return root / f"annotations_{split}.json", root / split
    raise InputError(f"unknown YouTube-VIS layout {layout!r}; known: {', '.join(LAYOUTS)}")


def _int(value: object, path: Path, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{where}: expected an integer, got {value!r}", path)
    return value


def _video(entry: object, image_root: Path | None, path: Path) -> VideoRecord:
    entry = expect_dict(entry, path, "videos[]")
    vid = _int(field(entry, "id", path, "video"), path, "video id")
    where = f"video {vid}"
    files = expect_list(field(entry, "file_names", path, where), path, f"{where} file_names")
    if not files or not all(isinstance(f, str) for f in files):
        raise InputError(f"{where}: file_names must be a non-empty list of strings", path)
    h = _int(field(entry, "height", path, where), path, f"{where} height")
    w = _int(field(entry, "width", path, where), path, f"{where} width")
    if "length" in entry and entry["length"] != len(files):
        raise InputError(f"{where}: length {entry['length']} but {len(files)} file_names", path)
    folders = {Path(f).parent.as_posix() for f in files}
    name = folders.pop() if len(folders) == 1 else str(vid)
    frames = None
    if image_root is not None and image_root.is_dir():
        paths = [image_root / f for f in files]
        for p in paths:
            if not p.is_file():
                raise InputError(f"missing frame of {where} (listed in {path.name})", p)
        frames = frames_of(paths, (h, w), f"{path.name} ({where})")
    return VideoRecord(name=name, frame_names=[Path(f).stem for f in files], frames=frames,
                       height=h, width=w, video_id=vid)


def _segmentations(segs: object, video: VideoRecord, path: Path, where: str) -> list:
    segs = expect_list(segs, path, f"{where} segmentations")
    if len(segs) != len(video):
        raise InputError(f"{where}: {len(segs)} segmentations for a video of {len(video)} frames", path)
    return [None if s is None else rle_from_json(s, (video.height, video.width), path, f"{where} frame {t}")
            for t, s in enumerate(segs)]


def read_ytvis_json(json_path: str | Path, image_root: str | Path | None = None) -> VideoDataset:
    """Read a YouTube-VIS/OVIS JSON; frames from ``image_root/<file_name>`` when that folder exists."""
    path = Path(json_path)
    data = expect_dict(read_json(path), path, "top level")
    image_root = Path(image_root) if image_root is not None else None
    categories = read_categories(field(data, "categories", path, "top level"), path)
    videos = [_video(v, image_root, path) for v in expect_list(field(data, "videos", path, "top level"),
                                                                 path, "videos")]
    by_id = {v.video_id: v for v in videos}
    for a in expect_list(field(data, "annotations", path, "top level"), path, "annotations"):
        a = expect_dict(a, path, "annotations[]")
        aid = _int(field(a, "id", path, "annotation"), path, "annotation id")
        where = f"annotation {aid}"
        vid = field(a, "video_id", path, where)
        if vid not in by_id:
            raise InputError(f"{where}: unknown video id {vid!r}", path)
        cid = field(a, "category_id", path, where)
        if cid not in categories:
            raise InputError(f"{where}: unknown category id {cid!r}", path)
        video = by_id[vid]
        if any(tr.track_id == aid for tr in video.tracks):
            raise InputError(f"{where}: annotation id used twice", path)
        video.tracks.append(Track(track_id=aid, masks=_segmentations(field(a, "segmentations", path, where),
                                                                     video, path, where),
                                  category_id=cid, isthing=categories[cid].isthing,
                                  iscrowd=bool(a.get("iscrowd", 0))))
    return VideoDataset(name=path.stem, videos=videos, categories=categories,
                        meta={"format": "ytvis", "json": str(path)})


def read_ytvis(root: str | Path, split: str = "train", layout: str = "2019") -> VideoDataset:
    """Read split ``split`` of a YouTube-VIS 2019/2021 or OVIS root (see :data:`LAYOUTS`)."""
    json_path, image_root = layout_paths(Path(root), split, layout)
    ds = read_ytvis_json(json_path, image_root)
    ds.meta.update(split=split, layout=layout)
    return ds


def _annotation_ids(dataset: VideoDataset) -> list[list[int]]:
    """Per video, the annotation id of each track: track ids where unique across the dataset,
    else 1..N in video order."""
    flat = iter(keep_or_renumber([tr.track_id for v in dataset for tr in v.tracks]))
    return [[next(flat) for _ in v.tracks] for v in dataset]


def _video_ids(dataset: VideoDataset) -> list[int]:
    ids = [v.video_id for v in dataset]
    if all(isinstance(i, int) for i in ids) and len(set(ids)) == len(ids):
        return ids
    return list(range(1, len(dataset) + 1))


def to_ytvis_json(dataset: VideoDataset, frame_suffix: str = ".jpg") -> dict:
    """The ground-truth JSON of ``dataset`` (every track an annotation, uncompressed RLE).

    Every frame is listed in ``file_names``; on a frame the record marks not annotated every
    track gets ``null`` (YouTube-VIS has no other way to say "unannotated").
    """
    videos, annotations = [], []
    for video, vid, ann_ids in zip(dataset, _video_ids(dataset), _annotation_ids(dataset)):
        check_lengths(video)
        videos.append({"id": vid, "width": video.width, "height": video.height, "length": len(video),
                       "file_names": [f"{video.name}/{n}{frame_suffix}" for n in video.frame_names]})
        for tr, aid in zip(video.tracks, ann_ids):
            masks = [m if video.is_annotated(t) else None for t, m in enumerate(tr.masks)]
            if tr.category_id is None:
                raise InputError(f"video {video.name!r}: track {tr.track_id} has no category; "
                                 "YouTube-VIS needs one")
            annotations.append({
                "id": aid, "video_id": vid, "category_id": tr.category_id, "iscrowd": int(tr.iscrowd),
                "segmentations": [None if m is None else rle_to_json(m, compressed=False) for m in masks],
                "areas": [None if m is None else rle_area(m) for m in masks],
                "bboxes": [None if m is None else rle_bbox(m) for m in masks],
                "height": video.height, "width": video.width, "length": len(video)})
    categories = categories_json(dataset.categories, supercategory=True, isthing=False, color=False)
    return {"info": {"description": f"{dataset.name} written by univs"}, "licenses": [],
            "videos": videos, "annotations": annotations, "categories": categories}


def write_ytvis(dataset: VideoDataset, root: str | Path, split: str = "train", layout: str = "2019") -> None:
    """Write frames and the instance JSON (:func:`to_ytvis_json`) of ``split`` in a :data:`LAYOUTS` layout."""
    json_path, image_root = layout_paths(Path(root), split, layout)
    data = to_ytvis_json(dataset)
    for video in dataset:
        write_frames(video, image_root / video.name)
    write_json(json_path, data)


# --------------------------------------------------------------------------- results


def write_ytvis_results(dataset: VideoDataset, path: str | Path) -> None:
    """Predictions as a YouTube-VIS results file: one entry per track (score, category, masks).

    Each video needs its ``video_id`` (the ground truth's) and each track a ``category_id`` and a
    ``score``.
    """
    out = []
    for video in dataset:
        check_lengths(video)
        if video.video_id is None:
            raise InputError(f"video {video.name!r} has no video_id; results must name the GT video")
        for tr in video.tracks:
            if tr.category_id is None or tr.score is None:
                raise InputError(f"video {video.name!r}: track {tr.track_id} needs a category_id and a score")
            out.append({"video_id": video.video_id, "score": float(tr.score), "category_id": tr.category_id,
                        "segmentations": [None if m is None else rle_to_json(m) for m in tr.masks]})
    write_json(Path(path), out)


def read_ytvis_results(path: str | Path, gt: VideoDataset) -> VideoDataset:
    """Read a results file against ground truth ``gt`` (its videos give frames and sizes).

    Tracks are numbered 1.. per video in file order; each carries ``score`` and ``category_id``.
    """
    path = Path(path)
    entries = expect_list(read_json(path), path, "results")
    by_id = {v.video_id: v for v in gt}
    videos = {v.video_id: VideoRecord(name=v.name, frame_names=list(v.frame_names), frames=v.frames,
                                      height=v.height, width=v.width, video_id=v.video_id) for v in gt}
    for i, r in enumerate(entries):
        r = expect_dict(r, path, f"result {i}")
        where = f"result {i}"
        vid = field(r, "video_id", path, where)
        if vid not in by_id:
            raise InputError(f"{where}: unknown video id {vid!r}", path)
        score = field(r, "score", path, where)
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            raise InputError(f"{where}: score must be a number, got {score!r}", path)
        video = videos[vid]
        video.tracks.append(Track(track_id=len(video.tracks) + 1,
                                  masks=_segmentations(field(r, "segmentations", path, where), video, path, where),
                                  category_id=field(r, "category_id", path, where), score=float(score)))
    return VideoDataset(name=path.stem, videos=list(videos.values()), categories=dict(gt.categories),
                        meta={"format": "ytvis_results", "json": str(path)})
