"""Vectorised textures of the synthetic world: thing patterns and stuff surfaces.

Thing patterns are functions of the object's own rotated unit coordinates, so a texture moves,
turns and scales with its object. Stuff textures are drawn once per video over the whole canvas
the camera pans across; every random choice comes from the video's generator.
"""

from __future__ import annotations

import numpy as np


def shade(colour: tuple[int, int, int]) -> np.ndarray:
    """The second colour of a two-tone pattern: darker for light colours, lighter for dark ones."""
    c = np.asarray(colour, np.float32)
    return c * 0.55 if c.mean() > 90 else np.minimum(c + 110.0, 255.0)


def thing_texture(texture: str, colour: tuple[int, int, int], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``(h, w, 3)`` float colours of a pattern at unit coordinates ``x, y`` (each ``(h, w)``)."""
    base = np.asarray(colour, np.float32)
    if texture == "solid":
        return np.broadcast_to(base, x.shape + (3,)).copy()
    if texture == "gradient":
        return base * np.clip(0.5 + 0.25 * (y + 1.0), 0.45, 1.0)[..., None]
    if texture == "stripes":
        second = np.floor((x + 4.0) * 1.5).astype(np.int64) % 2 == 1
    elif texture == "dots":
        second = ((np.mod(x, 0.5) - 0.25) ** 2 + (np.mod(y, 0.5) - 0.25) ** 2) <= 0.12 ** 2
    elif texture == "checker":
        second = (np.floor(x * 2.5).astype(np.int64) + np.floor(y * 2.5).astype(np.int64)) % 2 == 1
    else:
        raise KeyError(texture)
    return np.where(second[..., None], shade(colour), base)


def _noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    return rng.normal(0.0, sigma, size=shape).astype(np.float32)


def stuff_texture(name: str, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """``(height, width, 3)`` float RGB of a stuff class over the whole canvas."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    p = rng.uniform(0, 2 * np.pi, size=4).astype(np.float32)
    if name == "sky":
        base = np.array([105, 165, 235], np.float32) + (yy / height)[..., None] * np.array([60, 50, 15], np.float32)
        cloud = np.sin(xx / 23 + p[0]) * np.sin(yy / 11 + p[1]) + 0.6 * np.sin(xx / 47 + yy / 31 + p[2])
        cloud = np.clip(cloud - 0.6, 0.0, 1.0)[..., None]
        return base * (1 - cloud) + 250.0 * cloud
    if name == "wall":
        bh = int(rng.integers(10, 16))
        bw = int(2.2 * bh)
        row = (yy // bh).astype(np.int64)
        col = ((xx + (row % 2) * (bw // 2)) // bw).astype(np.int64)
        tone = rng.uniform(0.8, 1.15, size=(64, 64)).astype(np.float32)[row % 64, col % 64]
        brick = np.array([165, 75, 55], np.float32) * tone[..., None]
        mortar = ((yy % bh) < 2) | (((xx + (row % 2) * (bw // 2)) % bw) < 2)
        return np.where(mortar[..., None], np.float32(200), brick)
    if name == "water":
        ripple = np.sin(xx / 7 + 2.5 * np.sin(yy / 9 + p[0]) + p[1]) + 0.5 * np.sin(yy / 3.5 + p[2])
        return np.array([35, 95, 170], np.float32) + (18 * ripple)[..., None] * np.array([0.6, 0.9, 1], np.float32)
    if name == "grass":
        blades = rng.normal(0, 18, size=(1, width)).astype(np.float32) + _noise(rng, (height, width), 10)
        return np.array([60, 150, 50], np.float32) + blades[..., None] * np.array([0.5, 1.0, 0.4], np.float32)
    if name == "sand":
        dunes = 10 * np.sin((xx + 0.4 * yy) / 6 + p[0]) + _noise(rng, (height, width), 7)
        return np.array([215, 190, 130], np.float32) + dunes[..., None]
    if name == "road":
        grit = _noise(rng, (height, width), 9)
        return np.array([88, 88, 94], np.float32) + grit[..., None]
    raise KeyError(name)
