"""COCO image datasets for image-level training (stage 1): instances, panoptic, and RefCOCO.

Trees (cocodataset.org 2017 release; RefCOCO as the ``refer`` toolkit lays it out)::

    <split>/<image>.jpg                              images (split e.g. train2017)
    annotations/instances_<split>.json               {"images", "annotations", "categories"}
    annotations/panoptic_<split>.json                {"images", "annotations": [{"image_id", "file_name",
                                                      "segments_info": [{"id", "category_id", "iscrowd",
                                                      "bbox", "area"}]}], "categories"}
    annotations/panoptic_<split>/<image>.png         RGB, segment id = R + 256·G + 256²·B, 0 = void
    refcoco/instances.json                           COCO instances of the referred images
    refcoco/refs(unc).json                           RefCOCO refs (see below)

Each image is read as a one-frame :class:`VideoRecord` named after the image file (without
suffix), ``video_id`` = the image id. A video dataset is written frame by frame: frame ``f`` of
video ``v`` becomes image ``<v>_<f>.jpg`` (a one-frame video whose frame name is its own name
keeps that name, so a read dataset writes back unchanged).

Instances: thing tracks only (``isthing``), segmentation as uncompressed RLE (lossless; COCO's
crowd encoding — polygons are read too). Annotation ids are the track ids when those are unique
across the file, else 1..N in image order. Panoptic: every track, segment id = track id.

RefCOCO ships its refs as a Python pickle (``refs(unc).p``); univs never unpickles files, so it
reads and writes the same records as JSON: a list of {"ref_id", "ann_id", "image_id", "split",
"category_id", "file_name", "sent_ids", "sentences": [{"sent_id", "sent", "raw", "tokens"}]}.
A sentence is an :class:`Expression` (``exp_id`` = sent id, text = ``sent``) referring to its ref's
annotation; every expression must refer to exactly one track.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from univs.data.formats.common import (PANOPTIC_MAX_ID, categories_json, check_lengths, expect_dict,
                                       expect_list, field, frames_of, keep_or_renumber, paint_ids,
                                       read_categories, read_json, read_panoptic_frame, write_frame,
                                       write_json, write_rgb_ids)
from univs.data.formats.rle import polygons_to_rle, rle_area, rle_bbox, rle_from_json, rle_to_json
from univs.data.types import Expression, Track, VideoDataset, VideoRecord, encode_mask
from univs.errors import InputError

REFS_FILE = "refs(unc).json"


# --------------------------------------------------------------------------- images


def _image_records(data: dict, path: Path, image_dir: Path) -> dict[int, VideoRecord]:
    out = {}
    for im in expect_list(field(data, "images", path, "top level"), path, "images"):
        im = expect_dict(im, path, "images[]")
        iid = field(im, "id", path, "image")
        where = f"image {iid}"
        fname = str(field(im, "file_name", path, where))
        h, w = int(field(im, "height", path, where)), int(field(im, "width", path, where))
        frames = None
        if image_dir.is_dir():
            p = image_dir / fname
            if not p.is_file():
                raise InputError(f"missing image of {where} (listed in {path.name})", p)
            frames = frames_of([p], (h, w), f"{path.name} ({where})")
        stem = Path(fname).stem
        out[iid] = VideoRecord(name=stem, frame_names=[stem], frames=frames, height=h, width=w,
                               video_id=iid if isinstance(iid, int) else None)
    return out


def _images(dataset: VideoDataset) -> list[tuple[VideoRecord, int, str]]:
    """``(video, frame index, image stem)`` for every annotated frame, in dataset order."""
    out = []
    for video in dataset:
        check_lengths(video)
        for t, name in enumerate(video.frame_names):
            if video.is_annotated(t):
                single = len(video) == 1 and name == video.name
                out.append((video, t, name if single else f"{video.name}_{name}"))
    return out


def _image_entries(images: list[tuple[VideoRecord, int, str]], image_dir: Path) -> list[dict]:
    entries = []
    for i, (video, t, stem) in enumerate(images, start=1):
        if video.frames is not None:
            write_frame(video, t, image_dir / f"{stem}.jpg")
        entries.append({"id": i, "file_name": f"{stem}.jpg", "height": video.height, "width": video.width})
    return entries


def _present(tr: Track, t: int) -> bool:
    return tr.masks[t] is not None and rle_area(tr.masks[t]) > 0


# --------------------------------------------------------------------------- instances


def _segmentation(seg: object, shape: tuple[int, int], path: Path, where: str):
    if isinstance(seg, list):
        return polygons_to_rle(seg, shape, path, where)
    return rle_from_json(seg, shape, path, where)


def read_instances_json(path: str | Path, image_dir: str | Path) -> VideoDataset:
    """Read a COCO instances JSON; images from ``image_dir`` when it exists."""
    path = Path(path)
    data = expect_dict(read_json(path), path, "top level")
    categories = read_categories(field(data, "categories", path, "top level"), path)
    records = _image_records(data, path, Path(image_dir))
    for a in expect_list(field(data, "annotations", path, "top level"), path, "annotations"):
        a = expect_dict(a, path, "annotations[]")
        aid = field(a, "id", path, "annotation")
        where = f"annotation {aid}"
        iid, cid = field(a, "image_id", path, where), field(a, "category_id", path, where)
        if iid not in records:
            raise InputError(f"{where}: unknown image id {iid!r}", path)
        if cid not in categories:
            raise InputError(f"{where}: unknown category id {cid!r}", path)
        rec = records[iid]
        rec.tracks.append(Track(track_id=int(aid),
                                masks=[_segmentation(field(a, "segmentation", path, where),
                                                     (rec.height, rec.width), path, where)],
                                category_id=cid, isthing=categories[cid].isthing,
                                iscrowd=bool(a.get("iscrowd", 0))))
    return VideoDataset(name=path.stem, videos=list(records.values()), categories=categories,
                        meta={"format": "coco", "json": str(path)})


def _instances_json(dataset: VideoDataset, image_dir: Path) -> tuple[dict, list[list[int]]]:
    """Instances JSON of the thing tracks, and the annotation id of every written track per image."""
    images = _images(dataset)
    entries = _image_entries(images, image_dir)
    per_image = [[tr for tr in video.tracks if tr.isthing and _present(tr, t)] for video, t, _ in images]
    ids = iter(keep_or_renumber([tr.track_id for row in per_image for tr in row]))
    ann_ids = [[next(ids) for _ in row] for row in per_image]
    annotations = []
    for (video, t, _), entry, row, row_ids in zip(images, entries, per_image, ann_ids):
        for tr, aid in zip(row, row_ids):
            if tr.category_id is None:
                raise InputError(f"video {video.name!r}: track {tr.track_id} has no category; COCO needs one")
            m = tr.masks[t]
            annotations.append({"id": aid, "image_id": entry["id"], "category_id": tr.category_id,
                                "segmentation": rle_to_json(m, compressed=False), "area": rle_area(m),
                                "bbox": rle_bbox(m), "iscrowd": int(tr.iscrowd)})
    things = {c.id: c for c in dataset.categories.values() if c.isthing}
    return ({"info": {"description": f"{dataset.name} written by univs"}, "licenses": [], "images": entries,
             "annotations": annotations,
             "categories": categories_json(things, supercategory=True, isthing=False, color=False)}, ann_ids)


def read_coco(root: str | Path, split: str = "train2017") -> VideoDataset:
    """Read ``annotations/instances_<split>.json`` with images from ``<split>/``."""
    root = Path(root)
    ds = read_instances_json(root / "annotations" / f"instances_{split}.json", root / split)
    ds.meta.update(split=split)
    return ds


def write_coco(dataset: VideoDataset, root: str | Path, split: str = "train2017") -> None:
    """Write every annotated frame as ``<split>/<image>.jpg`` and its thing tracks as instances."""
    root = Path(root)
    data, _ = _instances_json(dataset, root / split)
    write_json(root / "annotations" / f"instances_{split}.json", data)


# --------------------------------------------------------------------------- panoptic


def read_coco_panoptic(root: str | Path, split: str = "train2017") -> VideoDataset:
    """Read ``annotations/panoptic_<split>.json`` and its PNG folder; images from ``<split>/``."""
    root = Path(root)
    path = root / "annotations" / f"panoptic_{split}.json"
    data = expect_dict(read_json(path), path, "top level")
    categories = read_categories(field(data, "categories", path, "top level"), path)
    records = _image_records(data, path, root / split)
    for a in expect_list(field(data, "annotations", path, "top level"), path, "annotations"):
        a = expect_dict(a, path, "annotations[]")
        iid = field(a, "image_id", path, "annotation")
        if iid not in records:
            raise InputError(f"annotation: unknown image id {iid!r}", path)
        rec = records[iid]
        png = root / "annotations" / f"panoptic_{split}" / str(field(a, "file_name", path, f"image {iid}"))
        ids, listed = read_panoptic_frame(png, (rec.height, rec.width), a, categories, path, f"image {iid}")
        rec.tracks = [Track(track_id=sid, masks=[encode_mask(ids == sid)], category_id=s["category_id"],
                            isthing=categories[s["category_id"]].isthing, iscrowd=bool(s.get("iscrowd", 0)))
                      for sid, s in sorted(listed.items())]
        if (ids == 0).any():
            rec.void = [encode_mask(ids == 0)]
    return VideoDataset(name=path.stem, videos=list(records.values()), categories=categories,
                        meta={"format": "coco_panoptic", "split": split, "json": str(path)})


def write_coco_panoptic(dataset: VideoDataset, root: str | Path, split: str = "train2017") -> None:
    """Write images, panoptic PNGs (segment id = track id, later tracks on top) and the JSON."""
    root = Path(root)
    images = _images(dataset)
    entries = _image_entries(images, root / split)
    annotations = []
    for (video, t, stem), entry in zip(images, entries):
        ids = paint_ids(video, t, PANOPTIC_MAX_ID, None, dtype=np.uint32)
        write_rgb_ids(root / "annotations" / f"panoptic_{split}" / f"{stem}.png", ids)
        segments = []
        for tr in sorted(video.tracks, key=lambda tr: tr.track_id):
            m = ids == tr.track_id
            if not m.any():
                continue
            if tr.category_id not in dataset.categories:
                raise InputError(f"video {video.name!r}: track {tr.track_id} has category {tr.category_id!r}, "
                                 "which the dataset does not list")
            rle = encode_mask(m)
            segments.append({"id": tr.track_id, "category_id": tr.category_id, "iscrowd": int(tr.iscrowd),
                             "bbox": [int(v) for v in rle_bbox(rle)], "area": rle_area(rle)})
        annotations.append({"segments_info": segments, "file_name": f"{stem}.png", "image_id": entry["id"]})
    write_json(root / "annotations" / f"panoptic_{split}.json",
               {"info": {"description": f"{dataset.name} written by univs"}, "licenses": [], "images": entries,
                "annotations": annotations,
                "categories": categories_json(dataset.categories, supercategory=True)})


# --------------------------------------------------------------------------- RefCOCO


def read_refcoco(root: str | Path, split: str | None = None, dataset: str = "refcoco",
                 image_dir: str = "train2014") -> VideoDataset:
    """Read ``<dataset>/instances.json`` and ``<dataset>/refs(unc).json``; images from ``<image_dir>/``.

    ``split`` (``train``, ``val``, ``testA``, ...) keeps the refs of that split and the images they
    are on; ``None`` keeps everything.
    """
    root = Path(root)
    ds = read_instances_json(root / dataset / "instances.json", root / image_dir)
    path = root / dataset / REFS_FILE
    by_id = {v.video_id: v for v in ds}
    used = set()
    for i, ref in enumerate(expect_list(read_json(path), path, "refs")):
        where = f"ref {i}"
        ref = expect_dict(ref, path, where)
        if split is not None and ref.get("split") != split:
            continue
        iid, aid = field(ref, "image_id", path, where), field(ref, "ann_id", path, where)
        if iid not in by_id:
            raise InputError(f"{where}: unknown image id {iid!r}", path)
        video = by_id[iid]
        if all(tr.track_id != aid for tr in video.tracks):
            raise InputError(f"{where}: ann_id {aid!r} is not an annotation of image {iid}", path)
        for s in expect_list(field(ref, "sentences", path, where), path, f"{where} sentences"):
            s = expect_dict(s, path, f"{where} sentence")
            video.expressions.append(Expression(exp_id=str(field(s, "sent_id", path, f"{where} sentence")),
                                                text=str(field(s, "sent", path, f"{where} sentence")),
                                                track_ids=[int(aid)]))
        used.add(iid)
    if split is not None:
        ds.videos = [v for v in ds if v.video_id in used]
    ds.name = dataset
    ds.meta.update(format="refcoco", refs=str(path), split=split)
    return ds


def write_refcoco(dataset: VideoDataset, root: str | Path, name: str = "refcoco", image_dir: str = "train2014",
                  split: str = "train") -> None:
    """Write images, ``<name>/instances.json`` and ``<name>/refs(unc).json``.

    On every image, each expression whose target is present there becomes a sentence of the ref of
    that target (one ref per image and target; sent and ref ids count from 0 over the file).
    """
    root = Path(root)
    data, ann_ids = _instances_json(dataset, root / image_dir)
    refs = []
    sent_id = 0
    for (video, t, stem), entry, row_ids in zip(_images(dataset), data["images"], ann_ids):
        written = [tr for tr in video.tracks if tr.isthing and _present(tr, t)]
        ann_of = {tr.track_id: (aid, tr) for tr, aid in zip(written, row_ids)}
        sentences: dict[int, list[dict]] = {}
        for e in video.expressions:
            if len(e.track_ids) != 1:
                raise InputError(f"video {video.name!r} expression {e.exp_id!r} refers to {len(e.track_ids)} "
                                 "objects; a RefCOCO sentence refers to exactly one")
            if e.track_ids[0] in ann_of:
                sentences.setdefault(e.track_ids[0], []).append(
                    {"tokens": e.text.lower().split(), "raw": e.text, "sent_id": sent_id, "sent": e.text})
                sent_id += 1
        for tid in sorted(sentences):
            aid, tr = ann_of[tid]
            refs.append({"image_id": entry["id"], "split": split, "sentences": sentences[tid],
                         "file_name": f"{stem}_{aid}.jpg", "category_id": tr.category_id, "ann_id": aid,
                         "sent_ids": [s["sent_id"] for s in sentences[tid]], "ref_id": len(refs)})
    write_json(root / name / "instances.json", data)
    write_json(root / name / REFS_FILE, refs)
