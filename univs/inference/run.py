"""One video through a segmenter into a prediction writer: the unit of ``univs segment``.

A :class:`VideoJob` says what to do with a video — its prompts (prompt-guided tasks) or vocabulary
(category-guided ones) and how its outputs are named (:class:`~univs.inference.writers.VideoSpec`).
:func:`run_video` streams the results to the writer frame by frame and marks the video done only
after its last frame; an error on the way leaves what was written and no done-marker.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from univs.config import PROMPT_TASKS
from univs.inference.frames import Source
from univs.inference.segmenter import VideoSegmenter
from univs.inference.writers import PredictionWriter, VideoSpec


@dataclass
class PromptInput:
    """One prompt of a job: target ``obj_id`` on ``frame``, exactly one of the prompt fields set
    (as ``Session.add_prompt`` takes them)."""

    frame: int
    obj_id: int
    mask: np.ndarray | None = None
    points: list[tuple[float, ...]] | None = None
    box: tuple[float, float, float, float] | None = None
    scribble: np.ndarray | None = None
    text: str | None = None


@dataclass
class VideoJob:
    """A video to segment: its source, task, prompts or vocabulary, and output naming.

    labels: object id → name drawn in an overlay (optional).
    """

    source: Source
    task: str
    spec: VideoSpec
    prompts: list[PromptInput] = field(default_factory=list)
    vocabulary: list[str] = field(default_factory=list)
    stuff: list[str] = field(default_factory=list)
    labels: dict[int, str] = field(default_factory=dict)


def run_video(segmenter: VideoSegmenter, job: VideoJob, writer: PredictionWriter, quiet: bool = True,
              position: int = 0) -> int:
    """Segment ``job`` into ``writer`` (begin, frames, end); returns the number of frames written."""
    count = 0
    if job.task in PROMPT_TASKS:
        with segmenter.session(job.source, job.task) as session:
            for p in job.prompts:
                session.add_prompt(p.frame, p.obj_id, mask=p.mask, points=p.points, box=p.box,
                                   scribble=p.scribble, text=p.text)
            writer.begin(job.spec, session.fps, job.labels)
            bar = tqdm(session.propagate(), total=session.num_frames, desc=job.spec.name, unit="frame",
                       disable=quiet, position=position, leave=False)
            for t, result in bar:
                writer.add(t, result, session.source[t] if writer.overlay_paths else None)
                count += 1
            writer.end()
        return count
    run = segmenter.segment(job.source, job.task, job.vocabulary, job.stuff)
    labels = dict(job.labels)
    writer.begin(job.spec, run.fps, labels)
    bar = tqdm(run, total=run.num_frames, desc=job.spec.name, unit="frame", disable=quiet, position=position,
               leave=False)
    for t, result in bar:
        labels.update({i: run.vocabulary[c] for i, c in zip(result.obj_ids, result.class_ids)})
        writer.add(t, result, run.source[t] if writer.overlay_paths else None)
        count += 1
    writer.end(run.tracks())
    return count
