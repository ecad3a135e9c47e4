"""Exact binary masks of the 12 thing shapes: no anti-aliasing, so a mask is the set of pixels painted.

A shape lives in unit coordinates (x right, y down, every point within :data:`CIRCUMRADIUS` of the
centre), is scaled by a radius in pixels, rotated by an angle (radians, clockwise on screen) and
placed at a sub-pixel centre; pixel ``(row i, col j)`` has its centre at ``(x, y) = (j, i)``.
Polygons are filled by OpenCV (``fillPoly`` with 4 fractional bits, 8-connected, no anti-aliasing);
round shapes are analytic inequalities on the pixel grid.
"""

from __future__ import annotations

import cv2
import numpy as np

CIRCUMRADIUS = 1.1
"""Every shape fits in a disc of this radius (unit coordinates)."""

INRADIUS = {"circle": 0.9, "square": 0.75, "hexagon": 0.866}
"""Radius of the largest centred disc inside each shape used as an occluder."""


def _regular(n: int, radius: float = 1.0, start: float = -np.pi / 2) -> np.ndarray:
    a = start + 2 * np.pi * np.arange(n) / n
    return np.stack([radius * np.cos(a), radius * np.sin(a)], 1)


def _star() -> np.ndarray:
    a = -np.pi / 2 + np.pi * np.arange(10) / 5
    r = np.where(np.arange(10) % 2 == 0, 1.0, 0.42)
    return np.stack([r * np.cos(a), r * np.sin(a)], 1)


_CROSS_W = 0.3
POLYGONS: dict[str, np.ndarray] = {
    "square": np.array([[-0.75, -0.75], [0.75, -0.75], [0.75, 0.75], [-0.75, 0.75]]),
    "triangle": _regular(3),
    "hexagon": _regular(6, start=0.0),
    "diamond": np.array([[0.0, -1.0], [0.65, 0.0], [0.0, 1.0], [-0.65, 0.0]]),
    "star": _star(),
    "cross": np.array([[-_CROSS_W, -1], [_CROSS_W, -1], [_CROSS_W, -_CROSS_W], [1, -_CROSS_W], [1, _CROSS_W],
                       [_CROSS_W, _CROSS_W], [_CROSS_W, 1], [-_CROSS_W, 1], [-_CROSS_W, _CROSS_W],
                       [-1, _CROSS_W], [-1, -_CROSS_W], [-_CROSS_W, -_CROSS_W]]),
    "arrow": np.array([[-1, -0.25], [0.2, -0.25], [0.2, -0.65], [1, 0], [0.2, 0.65], [0.2, 0.25], [-1, 0.25]]),
}


def _analytic(shape: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Membership of unit coordinates ``(x, y)`` (arrays) in a round shape."""
    r2 = x * x + y * y
    if shape == "circle":
        return r2 <= 0.9 ** 2
    if shape == "ellipse":
        return x * x + (y / 0.55) ** 2 <= 1.0
    if shape == "ring":
        return (r2 <= 0.95 ** 2) & (r2 >= 0.5 ** 2)
    if shape == "crescent":
        return (r2 <= 0.95 ** 2) & ((x - 0.45) ** 2 + y * y > 0.75 ** 2)
    if shape == "heart":  # (X² + Y² − 1)³ ≤ X² Y³ with Y pointing up
        hx, hy = 1.2 * x, 0.15 - 1.2 * y
        return (hx * hx + hy * hy - 1) ** 3 <= hx * hx * hy ** 3
    raise KeyError(shape)


def shape_mask(shape: str, cx: float, cy: float, radius: float, angle: float) -> tuple[np.ndarray, int, int]:
    """``(mask, y0, x0)``: the shape's bool mask on its bounding box, whose top-left pixel is
    ``(y0, x0)`` in frame coordinates (the box is not clipped to any frame)."""
    half = int(np.ceil(CIRCUMRADIUS * radius)) + 1
    x0, y0 = int(np.floor(cx)) - half, int(np.floor(cy)) - half
    size = 2 * half + 2
    cos, sin = np.cos(angle), np.sin(angle)
    if shape in POLYGONS:
        pts = POLYGONS[shape] * radius
        px = pts[:, 0] * cos - pts[:, 1] * sin + cx - x0
        py = pts[:, 0] * sin + pts[:, 1] * cos + cy - y0
        canvas = np.zeros((size, size), np.uint8)
        poly = np.rint(np.stack([px, py], 1) * 16).astype(np.int32)
        cv2.fillPoly(canvas, [poly], 1, lineType=cv2.LINE_8, shift=4)
        return canvas.astype(bool), y0, x0
    yy, xx = np.mgrid[0:size, 0:size]
    u, v = (xx + x0 - cx) / radius, (yy + y0 - cy) / radius
    return _analytic(shape, u * cos + v * sin, -u * sin + v * cos), y0, x0
