"""Streaming inference for the six UniVS tasks (arXiv 2402.18115 §3.3, §4; architecture.md §6, §6a).

- :class:`VideoSegmenter` — ``session(source, task)`` for prompt-guided VOS / PVOS / RefVOS
  (:class:`Session`: prompts on any frame, ``propagate()`` streams results), ``segment(source, task,
  vocabulary)`` for category-guided VIS / VSS / VPS (:class:`CategoryRun`), ``stream(task, ...)`` for
  live frames (:class:`LiveStream`).
- Results: :class:`FrameResult` per frame (masks at the original size), :class:`TrackSummary` per
  VIS/VPS target. Settings: :class:`univs.config.InferenceConfig`.
- Outputs in every benchmark's native layout: :mod:`univs.inference.writers`; whole dataset splits,
  resumable and sharded: :mod:`univs.inference.dataset`; ``univs segment``: :mod:`univs.inference.cli`.
"""

from univs.config import InferenceConfig
from univs.inference.segmenter import VideoSegmenter
from univs.inference.session import Session
from univs.inference.stream import CategoryRun, LiveStream
from univs.inference.types import FrameResult, TrackSummary

__all__ = ["CategoryRun", "FrameResult", "InferenceConfig", "LiveStream", "Session", "TrackSummary",
           "VideoSegmenter"]
