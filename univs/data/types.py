"""One typed in-memory representation for every dataset format univs reads or writes.

Every reader in ``univs.data.formats`` returns a :class:`VideoDataset`; every writer takes one.
Frames stay lazy (a :class:`FrameSource` decodes on access); masks stay run-length encoded
(pycocotools RLE dicts) until :meth:`Track.mask` decodes one frame.

Conventions (see ``docs/datasets.md``):
- frame indices are positions in ``VideoRecord.frame_names`` (0-based, natural order);
- a track's ``masks[t]`` is ``None`` where the track is absent *or* frame t is not annotated;
  ``VideoRecord.annotated`` tells which (YouTube-VOS/VIS annotate every 5th frame);
- ``track_id`` is the id the native format uses (DAVIS palette index, YouTube-VIS instance id,
  VIPSeg segment id, VSPW class value) so a round trip keeps ids;
- category ids are the dataset's own ids; ``VideoDataset.categories`` maps them to names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Protocol, runtime_checkable

import numpy as np
from pycocotools import mask as mask_utils

RLE = dict  # pycocotools RLE: {"size": [H, W], "counts": bytes | str}


@runtime_checkable
class FrameSource(Protocol):
    """Lazy random access to a video's RGB frames, each ``(H, W, 3)`` uint8."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> np.ndarray: ...

    @property
    def fps(self) -> float: ...

    @property
    def size(self) -> tuple[int, int]:
        """``(height, width)`` of the frames as returned."""
        ...


def encode_mask(mask: np.ndarray) -> RLE:
    """Encode one ``(H, W)`` bool mask as an RLE with ``counts`` as ``bytes``."""
    return mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))


def decode_mask(rle: RLE) -> np.ndarray:
    """Decode an RLE (compressed bytes/str or uncompressed list counts) to a ``(H, W)`` bool mask."""
    if isinstance(rle.get("counts"), list):
        h, w = rle["size"]
        rle = mask_utils.frPyObjects(rle, h, w)
    return mask_utils.decode(rle).astype(bool)


@dataclass
class Category:
    """A dataset category: thing (countable object) or stuff (amorphous region)."""

    id: int
    name: str
    isthing: bool = True
    color: tuple[int, int, int] | None = None


@dataclass
class Track:
    """One object or stuff segment followed through a video.

    ``masks`` has one entry per frame of the video: an RLE, or ``None`` where the track is
    absent or the frame is not annotated.
    """

    track_id: int
    masks: list[RLE | None]
    category_id: int | None = None
    isthing: bool = True
    iscrowd: bool = False
    score: float | None = None  # prediction confidence (results files); None for ground truth

    def mask(self, t: int) -> np.ndarray | None:
        """``(H, W)`` bool mask on frame ``t``, or ``None`` where absent/unannotated."""
        rle = self.masks[t]
        return None if rle is None else decode_mask(rle)

    def present_frames(self) -> list[int]:
        """Frame indices where the track has a non-empty mask."""
        return [t for t, r in enumerate(self.masks) if r is not None and mask_utils.area(r) > 0]

    def areas(self) -> list[int | None]:
        """Pixel area per frame (``None`` where the mask is ``None``)."""
        return [None if r is None else int(mask_utils.area(r)) for r in self.masks]


@dataclass
class Expression:
    """A referring expression that singles out one or more tracks of its video."""

    exp_id: str
    text: str
    track_ids: list[int]


@dataclass
class VideoRecord:
    """One video: lazy frames plus its annotations.

    ``void`` holds, per frame, an RLE of the pixels the format marks as void/ignore
    (DAVIS/VSPW 255, VIPSeg 0), or ``None``.
    """

    name: str
    frame_names: list[str]
    frames: FrameSource | None
    height: int
    width: int
    tracks: list[Track] = field(default_factory=list)
    expressions: list[Expression] = field(default_factory=list)
    annotated: list[bool] | None = None
    void: list[RLE | None] | None = None
    video_id: int | None = None

    def __len__(self) -> int:
        return len(self.frame_names)

    def track(self, track_id: int) -> Track:
        for tr in self.tracks:
            if tr.track_id == track_id:
                return tr
        raise KeyError(f"video {self.name!r} has no track {track_id}")

    def is_annotated(self, t: int) -> bool:
        return True if self.annotated is None else self.annotated[t]

    def id_map(self, t: int, dtype: type = np.int32) -> np.ndarray:
        """``(H, W)`` map of track ids on frame ``t`` (0 = none); later tracks are drawn on top."""
        out = np.zeros((self.height, self.width), dtype=dtype)
        for tr in self.tracks:
            m = tr.mask(t)
            if m is not None:
                out[m] = tr.track_id
        return out


@dataclass
class VideoDataset:
    """A set of videos in one label space. ``meta`` keeps format-specific extras."""

    name: str
    videos: list[VideoRecord]
    categories: dict[int, Category] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.videos)

    def __iter__(self) -> Iterator[VideoRecord]:
        return iter(self.videos)

    def video(self, name: str) -> VideoRecord:
        for v in self.videos:
            if v.name == name:
                return v
        raise KeyError(f"dataset {self.name!r} has no video {name!r}")

    def category_by_name(self, name: str) -> Category:
        for c in self.categories.values():
            if c.name == name:
                return c
        known = ", ".join(sorted(c.name for c in self.categories.values()))
        raise KeyError(f"unknown category {name!r}; known: {known}")
