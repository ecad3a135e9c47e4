"""Mixture batch sampler: which clips a training step sees (arXiv 2402.18115 §4.1; architecture.md §5).

Every batch comes from **one dataset and one task** (the official finding: more stable training):
the sampler picks a dataset with probability proportional to its ratio, then B clips from it. A clip
is a video and T sorted frame indices: an *anchor* frame where some target object is visible, plus
T − 1 more annotated frames drawn within ``frame_range`` consecutive frames around it (repeats only
when the window has fewer than T annotated frames; T = 1 gives single images, also from videos).
Datasets that annotate every 5th frame are sampled on their annotated frames only.

Determinism and DDP sharding. Epoch e draws one *global* stream of batches from the generator
seeded with ``(seed, e)``; with ``world_size`` W, rank r yields the global batches r, r + W, r + 2W, …
So ranks see different clips, the union over ranks is exactly the single-process stream of W times
as many batches, and the result depends on nothing but (seed, epoch, rank, world_size). Each
:class:`ClipRef` carries its own seed for augmentation and prompt simulation, so a clip is the
same whatever DataLoader worker builds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from univs.errors import InputError


@dataclass(frozen=True)
class ClipRef:
    """One clip to build: dataset ``source`` (index in the mixture), video index, sorted frame
    indices (T,) of that video, and the seed of its augmentation and prompt simulation."""

    source: int
    video: int
    frames: tuple[int, ...]
    seed: int


@dataclass
class VideoIndex:
    """What the sampler knows of one video: its annotated frames and the anchor frames among
    them (annotated, with some target object visible), both sorted (n,) int64."""

    annotated: np.ndarray
    anchors: np.ndarray


@dataclass
class SourceIndex:
    """One dataset of the mixture for the sampler: its name, ratio and per-video index."""

    name: str
    ratio: float
    videos: list[VideoIndex]


def sample_clip_frames(video: VideoIndex, num_frames: int, frame_range: int,
                       rng: np.random.Generator) -> tuple[int, ...]:
    """T = ``num_frames`` sorted frame indices: a random anchor and T − 1 annotated frames of a
    random ``frame_range`` window that contains it (drawn with repeats only when too few)."""
    anchor = int(rng.choice(video.anchors))
    if num_frames == 1:
        return (anchor,)
    last = int(video.annotated[-1])
    start = int(rng.integers(anchor - frame_range + 1, anchor + 1))
    start = max(0, min(start, last + 1 - frame_range))
    window = video.annotated[(video.annotated >= start) & (video.annotated < start + frame_range)]
    others = window[window != anchor]
    replace = len(others) < num_frames - 1
    pool = window if replace else others
    picked = rng.choice(pool, size=num_frames - 1, replace=replace)
    return tuple(sorted([anchor, *(int(t) for t in picked)]))


class MixtureBatchSampler:
    """Batches of :class:`ClipRef` for ``torch.utils.data.DataLoader(batch_sampler=...)``.

    sources: the datasets of the mixture (ratios need not sum to 1); each batch holds
    ``batch_size`` clips of one source (distinct videos while it has enough), T = ``num_frames``.
    ``len(sampler)`` = ``batches_per_epoch`` batches per rank (fewer after ``set_epoch(e, start)``);
    call :meth:`set_epoch` each epoch.
    """

    def __init__(self, sources: Sequence[SourceIndex], batch_size: int, num_frames: int,
                 frame_range: int, batches_per_epoch: int, seed: int = 0, rank: int = 0,
                 world_size: int = 1):
        if not sources:
            raise InputError("the training mixture has no dataset")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        if batch_size < 1 or num_frames < 1 or frame_range < num_frames:
            raise InputError(f"need batch_size ≥ 1 and frame_range ≥ num_frames ≥ 1; got batch_size "
                             f"{batch_size}, num_frames {num_frames}, frame_range {frame_range}")
        for s in sources:
            if not s.ratio > 0:
                raise InputError(f"dataset {s.name!r}: sampling ratio must be > 0, got {s.ratio}")
            if not any(len(v.anchors) for v in s.videos):
                raise InputError(f"dataset {s.name!r}: no annotated frame shows an object of its task")
        self.sources = list(sources)
        ratios = np.array([s.ratio for s in sources], np.float64)
        self.probabilities = ratios / ratios.sum()
        self.eligible = [np.array([i for i, v in enumerate(s.videos) if len(v.anchors)]) for s in sources]
        self.batch_size, self.num_frames, self.frame_range = batch_size, num_frames, frame_range
        self.batches_per_epoch, self.seed = batches_per_epoch, seed
        self.rank, self.world_size = rank, world_size
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch whose stream :meth:`__iter__` yields next, from its batch ``start`` on
        (a resumed run skips the batches it already trained on; skipped batches build no clip)."""
        if not 0 <= start <= self.batches_per_epoch:
            raise ValueError(f"start batch {start} outside an epoch of {self.batches_per_epoch}")
        self.epoch, self.start = epoch, start

    def __len__(self) -> int:
        return self.batches_per_epoch - self.start

    def _batch(self, rng: np.random.Generator) -> list[ClipRef]:
        source = int(rng.choice(len(self.sources), p=self.probabilities))
        eligible = self.eligible[source]
        videos = rng.choice(eligible, size=self.batch_size, replace=len(eligible) < self.batch_size)
        refs = []
        for v in videos:
            frames = sample_clip_frames(self.sources[source].videos[v], self.num_frames,
                                        self.frame_range, rng)
            refs.append(ClipRef(source, int(v), frames, int(rng.integers(2**63 - 1))))
        return refs

    def __iter__(self) -> Iterator[list[ClipRef]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        for i in range(self.batches_per_epoch * self.world_size):
            batch = self._batch(rng)
            if i % self.world_size == self.rank and i >= self.start * self.world_size:
                yield batch
