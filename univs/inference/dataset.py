"""Whole benchmark splits through a segmenter: ``univs segment --dataset ROOT --task T --out DIR``.

The split is read in its native layout by :func:`univs.data.formats.read_format` (format ``fmt``;
by default the one its layout shows, :func:`univs.data.formats.detect_format`, else the task's
usual benchmark: DAVIS for VOS, VIPOSeg for PVOS, Ref-YouTube-VOS for
RefVOS, YouTube-VIS for VIS, VIPSeg for VPS, VSPW for VSS) and each video becomes a
:class:`~univs.inference.run.VideoJob`, as the benchmark's protocol poses it:

- VOS / PVOS (semi-supervised): every annotated object is prompted by its mask on the frame where
  it first appears (the first-appearance masks of YouTube-VOS and VIPOSeg; PVOS stuff and things
  alike) — DAVIS gives the first frame's masks only, and its objects are those of frame 0;
- RefVOS: every expression of the video is one target, prompted by its text on frame 0;
- VIS / VSS / VPS: the dataset's category names are the vocabulary (VPS: its stuff categories one
  target per class; VSS: all of them).

Predictions go to ``out`` in the same format (:mod:`univs.inference.writers`), which is what
``univs eval --task T --gt ROOT --pred out`` reads (VIS: ``--pred out/results.json``).

Resuming and sharding: a video whose done-marker exists is skipped, so an interrupted run picks up
where it stopped (a video cut short is done again from its start). Under ``torchrun`` (``RANK``,
``WORLD_SIZE``) process r takes the videos ``r, r + W, r + 2W, …`` of the sorted split; the
process that finishes last joins the split-level JSON (``results.json`` / ``pred.json``); a rerun
of a complete split only rewrites that file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from univs.data.formats import FORMAT_NAMES, FORMAT_TASK, detect_format, read_format
from univs.data.types import VideoDataset, VideoRecord
from univs.errors import InputError
from univs.inference.run import PromptInput, VideoJob, run_video
from univs.inference.segmenter import VideoSegmenter
from univs.inference.writers import DEFAULT_FORMAT, PredictionWriter, VideoSpec, is_done


@dataclass
class Shard:
    """This process's part of a split: ``rank`` of ``world_size`` processes."""

    rank: int = 0
    world_size: int = 1

    @classmethod
    def from_env(cls) -> "Shard":
        """The torchrun shard (``RANK``, ``WORLD_SIZE``), or the whole split."""
        try:
            rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
        except ValueError:
            raise InputError("RANK and WORLD_SIZE must be integers") from None
        if not 0 <= rank < world:
            raise InputError(f"RANK {rank} is not in 0..WORLD_SIZE-1 (WORLD_SIZE {world})")
        return cls(rank, world)

    def take(self, names: list[str]) -> list[str]:
        return names[self.rank::self.world_size]


@dataclass
class DatasetReport:
    """What a dataset run did: videos of the split, of this shard, done now, skipped as finished;
    ``frames`` written now; ``complete``: every video of the split is finished."""

    videos: int
    shard: int
    processed: int
    skipped: int
    frames: int
    complete: bool


def dataset_format(task: str, fmt: str | None, root: str | Path) -> str:
    """The native format a ``task`` split at ``root`` is read (and written) in: ``fmt``, else the
    one its layout shows (:func:`~univs.data.formats.detect_format`), else the task's default."""
    if fmt is None:
        fmt = detect_format(root, task) or DEFAULT_FORMAT[task]
    if fmt not in FORMAT_NAMES or FORMAT_TASK[fmt] == "image":
        video = [n for n in FORMAT_NAMES if FORMAT_TASK[n] != "image"]
        raise InputError(f"unknown video dataset format {fmt!r}; known: {', '.join(video)}")
    if FORMAT_TASK[fmt] != task:
        fits = [n for n in FORMAT_NAMES if FORMAT_TASK[n] == task]
        raise InputError(f"format {fmt!r} holds {FORMAT_TASK[fmt]} data, not {task}; use {', '.join(fits)}")
    return fmt


FIRST_FRAME_ONLY = ("davis",)
"""Formats whose protocol prompts only the objects of the first frame."""


def _first_masks(video: VideoRecord, first_frame_only: bool) -> list[PromptInput]:
    """One mask prompt per track, on the frame where it first appears (or on frame 0 only)."""
    prompts = []
    for track in video.tracks:
        present = track.present_frames()
        if present and (present[0] == 0 or not first_frame_only):
            t = present[0]
            prompts.append(PromptInput(frame=t, obj_id=track.track_id, mask=track.mask(t)))
    return prompts


def video_job(ds: VideoDataset, index: int, task: str, fmt: str) -> VideoJob:
    """The job of video ``index`` of ``ds`` (format ``fmt``) under ``task``'s protocol (see the
    module docstring)."""
    video = ds.videos[index]
    if video.frames is None:
        raise InputError(f"video {video.name!r} has no frames in this dataset layout")
    spec = VideoSpec(video.name, (video.height, video.width), list(video.frame_names),
                     video_id=video.video_id if video.video_id is not None else index + 1)
    if task in ("vos", "pvos"):
        prompts = _first_masks(video, fmt in FIRST_FRAME_ONLY)
        if not prompts:
            raise InputError(f"video {video.name!r} has no object annotation to prompt with")
        return VideoJob(video.frames, task, spec, prompts=prompts)
    if task == "refvos":
        spec.expressions = {k + 1: e for k, e in enumerate(video.expressions)}
        prompts = [PromptInput(frame=0, obj_id=k, text=e.text) for k, e in spec.expressions.items()]
        return VideoJob(video.frames, task, spec, prompts=prompts)
    categories = [ds.categories[c] for c in sorted(ds.categories)]
    if not categories:
        raise InputError(f"dataset {ds.name!r} lists no categories: {task} needs its vocabulary")
    spec.category_ids = [c.id for c in categories]
    spec.categories = dict(ds.categories)
    stuff = [c.name for c in categories if not c.isthing] if task == "vps" else []
    return VideoJob(video.frames, task, spec, vocabulary=[c.name for c in categories], stuff=stuff)


def run_dataset(segmenter: VideoSegmenter, root: str | Path, task: str, out: str | Path, fmt: str | None = None,
                split: str | None = None, raw: bool = False, quiet: bool = False,
                shard: Shard | None = None, prepare: Callable[[VideoJob], VideoJob] | None = None,
                overlay: str | Path | Sequence[str | Path] | None = None) -> DatasetReport:
    """Segment every video of the split at ``root`` into ``out`` (resumable, sharded; see the module
    docstring). ``split`` is passed to the format's reader when given; ``prepare`` rewrites each
    video's job before it runs (e.g. other prompt kinds); ``overlay``: an overlay video of the
    split's first video (by name) is written there (or at each of several paths) when that video
    runs."""
    fmt = dataset_format(task, fmt, root)
    shard = Shard.from_env() if shard is None else shard
    ds = read_format(fmt, root, **({} if split is None else {"split": split}))
    if not len(ds):
        raise InputError(f"no videos in this {fmt} dataset", root)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError("output exists and is not a folder", out)
    order = sorted(range(len(ds)), key=lambda i: ds.videos[i].name)
    names = [ds.videos[i].name for i in order]
    mine = set(shard.take(names))
    todo = [i for i in order if ds.videos[i].name in mine and not is_done(out, ds.videos[i].name)]
    frames = 0
    with PredictionWriter(out, fmt, raw=raw) as writer:
        for i in tqdm(todo, desc=f"{fmt} videos", unit="video", disable=quiet, position=0):
            job = video_job(ds, i, task, fmt)
            job = job if prepare is None else prepare(job)
            if overlay is not None and i == order[0]:
                with PredictionWriter(out, fmt, raw=raw, overlay=overlay) as first:
                    frames += run_video(segmenter, job, first, quiet=quiet, position=1)
            else:
                frames += run_video(segmenter, job, writer, quiet=quiet, position=1)
        complete = writer.finalize(names)
    return DatasetReport(len(names), len(mine), len(todo), len(mine) - len(todo), frames, complete)
