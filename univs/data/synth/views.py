"""Task views of the synthetic world: the slice of the panoptic world each task's formats hold.

- ``vos``: thing tracks only, ids 1..K (DAVIS style); ``vis``: the same, read with their categories;
- ``vss``: one track per category present, ``track_id = category_id`` (VSPW style, ``isthing``
  False: semantic segments have no instances);
- ``vps`` / ``pvos``: every track (panoptic; things 1..K, stuff 100 + category id);
- ``refvos``: thing tracks and the referring expressions;
- ``image``: a few evenly spaced frames of each video as one-frame videos named
  ``<video>_<frame>`` (COCO style), every track, and the expressions true on a single image (the
  ``static`` group: colour, shape, texture) whose object shows on that frame.

Views share the world's RLEs and frames; they copy no pixels except the image view's frames.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from pycocotools import mask as mask_utils

from univs.data.types import Expression, Track, VideoDataset, VideoRecord
from univs.data.video import ArrayFrames
from univs.errors import InputError

TASK_VIEWS = ("vos", "vis", "vss", "vps", "pvos", "refvos", "image")
IMAGE_FRAMES = 3
"""Frames per video in the ``image`` view."""


def _semantic(video: VideoRecord) -> list[Track]:
    """One track per category: the union of its tracks' masks on each frame."""
    out = []
    for cid in sorted({tr.category_id for tr in video.tracks}):
        parts = [tr for tr in video.tracks if tr.category_id == cid]
        masks = []
        for t in range(len(video)):
            rles = [tr.masks[t] for tr in parts if tr.masks[t] is not None]
            masks.append(None if not rles else rles[0] if len(rles) == 1 else mask_utils.merge(rles, intersect=False))
        out.append(Track(track_id=cid, masks=masks, category_id=cid, isthing=False))
    return out


def _images(world: VideoDataset) -> list[VideoRecord]:
    images = []
    for video in world:
        groups = world.meta.get("expressions", {}).get(video.name, {})
        static = [e for e in video.expressions if groups.get(e.exp_id, {}).get("group") == "static"]
        for t in sorted({int(round(x)) for x in np.linspace(0, len(video) - 1, IMAGE_FRAMES)}):
            name = f"{video.name}_{video.frame_names[t]}"
            tracks = [Track(track_id=tr.track_id, masks=[tr.masks[t]], category_id=tr.category_id,
                            isthing=tr.isthing) for tr in video.tracks if tr.masks[t] is not None]
            shown = {tr.track_id for tr in tracks}
            frames = ArrayFrames(np.asarray(video.frames[t])[None], fps=video.frames.fps)
            images.append(VideoRecord(
                name=name, frame_names=[name], frames=frames, height=video.height, width=video.width,
                tracks=tracks, expressions=[e for e in static if set(e.track_ids) <= shown],
                video_id=len(images) + 1))
    return images


def _first_per_object(expressions: list[Expression], limit: int | None) -> list[Expression]:
    seen: dict[tuple[int, ...], int] = {}
    out = []
    for e in expressions:
        key = tuple(e.track_ids)
        seen[key] = seen.get(key, 0) + 1
        if limit is None or seen[key] <= limit:
            out.append(e)
    return out


def task_view(world: VideoDataset, task: str, max_expressions: int | None = None) -> VideoDataset:
    """The ``task`` view of a panoptic ``world`` (task in :data:`TASK_VIEWS`); ``max_expressions``
    keeps only the first that many expressions of each object (Ref-DAVIS holds four)."""
    if task not in TASK_VIEWS:
        raise InputError(f"unknown task view {task!r}; known: {', '.join(TASK_VIEWS)}")
    things = {k: c for k, c in world.categories.items() if c.isthing}
    meta = {"task": task, "source": world.name}
    if task == "image":
        return VideoDataset(world.name, _images(world), dict(world.categories), meta)
    videos = []
    for v in world:
        if task == "vss":
            tracks = _semantic(v)
        else:
            tracks = [dataclasses.replace(tr, masks=list(tr.masks)) for tr in v.tracks
                      if tr.isthing or task in ("vps", "pvos")]
        expressions = _first_per_object(v.expressions, max_expressions) if task == "refvos" else []
        videos.append(dataclasses.replace(v, tracks=tracks, expressions=expressions))
    categories = things if task in ("vos", "vis", "refvos") else dict(world.categories)
    return VideoDataset(world.name, videos, categories, meta)
