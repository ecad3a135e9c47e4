"""Typed values that streaming inference hands to its callers (``univs.inference``).

Masks are numpy at the *original* frame size, so callers need no torch: ``FrameResult.masks`` is
``(N, H, W)`` bool for the N targets known on that frame, in ``obj_ids`` order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class FrameResult:
    """The targets of one frame.

    frame_idx: index of the frame in its source (live streams: frames stepped so far − 1);
    masks: (N, H, W) bool at the original frame size; obj_ids: N user ids (prompt-guided) or
        target ids 1.. (category-guided), every target that exists on the frame (an absent target
        has an empty mask);
    scores: (N,) float32 in 0..1 — mask quality (VOS/PVOS), × the expression probability
        (RefVOS), or class probability × mask quality (VIS/VSS/VPS), 0 where the mask is empty;
    class_ids: (N,) int64 index into the vocabulary, −1 for targets without a category.
    """

    frame_idx: int
    masks: np.ndarray
    obj_ids: list[int]
    scores: np.ndarray
    class_ids: np.ndarray

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)`` of the masks."""
        return int(self.masks.shape[1]), int(self.masks.shape[2])

    def id_map(self) -> np.ndarray:
        """(H, W) int32 map of object ids (0 = none); later objects are drawn over earlier ones."""
        out = np.zeros(self.size, np.int32)
        for obj_id, mask in zip(self.obj_ids, self.masks):
            out[mask] = obj_id
        return out


@dataclass
class TrackSummary:
    """Video-level result of one category-guided target (YouTube-VIS style).

    class_id: vocabulary index of its category — the argmax of its class probabilities averaged
    over the frames where it was visible; score: that mean probability (the VIS video score);
    frames: number of frames where it was visible; stuff: one target per class (VSS/VPS stuff);
    alternatives: its next most probable ``(class_id, score)`` pairs, best first
    (``InferenceConfig.classes_per_track`` − 1 of them for things, none for stuff).
    """

    obj_id: int
    class_id: int
    score: float
    frames: int
    stuff: bool = False
    alternatives: tuple[tuple[int, float], ...] = ()

    def class_scores(self) -> list[tuple[int, float]]:
        """``(class_id, score)`` of its category, then of its alternatives."""
        return [(self.class_id, self.score), *self.alternatives]
