"""``VideoSegmenter``: the user-facing entry to streaming inference for all six tasks.

::

    seg = univs.VideoSegmenter(model, device="cuda")              # or "cpu"
    with seg.session("clip.mp4", task="vos") as s: ...            # prompt-guided (univs.inference.session)
    run = seg.segment("clip.mp4", task="vps", vocabulary=["person", "car", "sky"], stuff=["sky"])
    for frame_idx, result in run: ...                             # category-guided
    run.tracks()                                                  # video-level VIS scores
    live = seg.stream(task="vis", vocabulary=[...]); live.step(frame_rgb)

Settings: ``config`` (an :class:`~univs.config.InferenceConfig`) is used as given; without one each
task gets ``InferenceConfig().for_task(task)``, the official per-task values. R, the pixels the
visual sampler draws per target and frame, is the model's per-task setting
(``ModelConfig.prompt_encoder.num_points_per_task``).
"""

from __future__ import annotations

from typing import Sequence

import torch

from univs.config import CATEGORY_TASKS, PROMPT_TASKS, TASKS, InferenceConfig
from univs.errors import InputError
from univs.inference.category import CategoryTracker
from univs.inference.engine import FrameEngine
from univs.inference.frames import Geometry, Source, open_source
from univs.inference.prompt_tracker import PromptTracker
from univs.inference.session import Session
from univs.inference.stream import CategoryRun, LiveStream
from univs.model.univs_model import UniVS


def check_task(task: str, allowed: Sequence[str] = TASKS) -> str:
    if task not in allowed:
        raise InputError(f"task {task!r} is not one of {', '.join(allowed)}")
    return task


def check_vocabulary(vocabulary: Sequence[str] | None, stuff: Sequence[str] = ()) -> tuple[list[str], list[str]]:
    """The category names (non-empty, distinct) and the stuff names among them."""
    if isinstance(vocabulary, str) or not vocabulary:
        raise InputError("category-guided tasks need a vocabulary: a list of category names")
    names = [str(n).strip() for n in vocabulary]
    if any(not n for n in names):
        raise InputError("category names must not be empty")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"category name(s) given twice: {', '.join(twice)}")
    stuff = [str(n).strip() for n in stuff]
    unknown = [n for n in stuff if n not in names]
    if unknown:
        raise InputError(f"unknown category name(s) {', '.join(map(repr, unknown))}: stuff names must be in "
                         f"the vocabulary ({', '.join(names)})")
    return names, stuff


class VideoSegmenter:
    """Streaming UniVS inference with one model on one device (see the module docstring)."""

    def __init__(self, model: UniVS, device: str | torch.device | None = None, config: InferenceConfig | None = None):
        if device is None:
            device = model.pixel_mean.device
        try:
            self.device = torch.device(device)
        except RuntimeError:
            raise InputError(f"unknown device {device!r}; use cpu, cuda or cuda:N") from None
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise InputError("device cuda asked for, but CUDA is not available")
        self.model = model.to(self.device).eval()
        self.config = config

    def task_config(self, task: str) -> InferenceConfig:
        """The settings a ``task`` run uses."""
        return self.config if self.config is not None else InferenceConfig().for_task(check_task(task))

    def _engine(self, task: str, cfg: InferenceConfig, vocabulary: list[str] | None = None) -> FrameEngine:
        pe = self.model.cfg.prompt_encoder
        embeddings = None
        if vocabulary is not None:
            with torch.no_grad():
                embeddings = self.model.class_embeddings(vocabulary).float()
        return FrameEngine(self.model, cfg, self.device, pe.num_points_per_task.get(task, pe.num_points), embeddings)

    def session(self, source: Source, task: str = "vos") -> Session:
        """A prompt-guided session (task vos, pvos or refvos) over a video source."""
        task = check_task(task, PROMPT_TASKS)
        cfg = self.task_config(task)
        return Session(source, self._engine(task, cfg), cfg)

    def _category_tracker(self, task: str, vocabulary: list[str], stuff: list[str], geometry: Geometry
                          ) -> CategoryTracker:
        cfg = self.task_config(task)
        flags = torch.tensor([task == "vss" or (task == "vps" and n in stuff) for n in vocabulary])
        return CategoryTracker(self._engine(task, cfg, vocabulary), geometry, cfg, flags)

    def segment(self, source: Source, task: str, vocabulary: Sequence[str], stuff: Sequence[str] = ()) -> CategoryRun:
        """Category-guided segmentation (vis, vss or vps) of a video source over an open
        ``vocabulary``; ``stuff`` names the vocabulary's stuff classes (VPS: one target per stuff
        class; VSS treats every class so)."""
        task = check_task(task, CATEGORY_TASKS)
        names, stuff_names = check_vocabulary(vocabulary, stuff)
        frames = open_source(source)
        geometry = Geometry.of(tuple(frames.size), self.task_config(task).short_side,
                               self.model.cfg.pixel_decoder.common_stride)
        return CategoryRun(frames, self._category_tracker(task, names, stuff_names, geometry), names)

    def stream(self, task: str = "vis", vocabulary: Sequence[str] | None = None, stuff: Sequence[str] = ()
               ) -> LiveStream:
        """A live stream: ``step(frame)`` per frame. Category tasks need a ``vocabulary``;
        prompt-guided streams take ``add_prompt(obj_id, ...)`` before the frame it applies to."""
        task = check_task(task)
        cfg = self.task_config(task)
        if task in CATEGORY_TASKS:
            names, stuff_names = check_vocabulary(vocabulary, stuff)

            def make(geometry: Geometry) -> CategoryTracker:
                return self._category_tracker(task, names, stuff_names, geometry)
        else:
            def make(geometry: Geometry) -> PromptTracker:
                return PromptTracker(self._engine(task, cfg), geometry, cfg)
        return LiveStream(task, make, cfg.short_side, self.model.cfg.pixel_decoder.common_stride)
