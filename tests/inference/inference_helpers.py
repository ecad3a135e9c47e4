"""Values shared by the inference tests and their overfitted model (``conftest.py``)."""

from __future__ import annotations

import numpy as np

EXPRESSIONS = {1: "the square", 2: "the thing that comes into the frame"}
"""Track id → the referring expression the overfitted model learns for it."""


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two (H, W) bool masks (1 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0
