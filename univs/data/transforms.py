"""Clip augmentations: one geometric transform shared by every frame of a clip (arXiv 2402.18115 §4.1).

A :class:`ClipTransform` scales a frame (aspect kept), places a fixed-size output window on the
scaled frame (a random crop where the frame is larger, zero padding bottom/right where it is
smaller) and optionally mirrors it horizontally. The same instance maps frames, masks, points and
boxes, so they stay aligned: a pixel at continuous position ``(x, y)`` of the source frame lands at
``(x·sx − left, y·sy − top)`` of the output (then ``x → W − x`` when flipped), and output pixel
``(j, i)`` reads the source pixel whose centre maps nearest to ``(j + ½, i + ½)``.

Scale jitter: the frame's short side is resized to r × the output's short side (aspect kept), r
uniform in a range, then a random output-size window is cropped (zero padding where the scaled frame
is smaller) — with a wide range (official image stage: 0.1..2.0) this is large-scale jitter.
When a clip is flipped, "left" and "right" in its referring expressions swap
(:func:`swap_left_right`), as the official training code does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import cv2
import numpy as np

from univs.config import AugmentationConfig

_SIDE = re.compile(r"\b(left|right)(most|ward|wards)?\b", re.IGNORECASE)


def swap_left_right(text: str) -> str:
    """Swap the words "left" and "right" (also "-most", "-ward(s)") keeping their case.

    Whole words only: "leftover" and "bright" stay as they are; "left-hand" becomes "right-hand".
    """

    def swap(match: re.Match) -> str:
        word, suffix = match.group(1), match.group(2) or ""
        other = "right" if word.lower() == "left" else "left"
        if word.isupper():
            other = other.upper()
        elif word[0].isupper():
            other = other.capitalize()
        return other + suffix

    return _SIDE.sub(swap, text)


@dataclass(frozen=True)
class ClipTransform:
    """Scale, crop/pad and flip shared by all frames of a clip.

    in_size: (h, w) of the source frames; scaled_size: (sh, sw) after resizing;
    offset: (top, left) of the output window in the scaled frame (≥ 0);
    out_size: (H, W) of the output; flip: mirror the output horizontally.
    """

    in_size: tuple[int, int]
    scaled_size: tuple[int, int]
    offset: tuple[int, int]
    out_size: tuple[int, int]
    flip: bool

    def _axis_sources(self) -> tuple[np.ndarray, np.ndarray]:
        """Source row (H,) and column (W,) of every output pixel, −1 where it is padding."""
        (h, w), (sh, sw), (top, left), (oh, ow) = self.in_size, self.scaled_size, self.offset, self.out_size

        def axis(n_out: int, start: int, n_scaled: int, n_in: int) -> np.ndarray:
            scaled = start + np.arange(n_out)
            src = np.floor((scaled + 0.5) * n_in / n_scaled).astype(np.int64)
            return np.where(scaled < n_scaled, np.minimum(src, n_in - 1), -1)

        rows, cols = axis(oh, top, sh, h), axis(ow, left, sw, w)
        return rows, cols[::-1] if self.flip else cols

    def masks(self, masks: np.ndarray) -> np.ndarray:
        """(..., h, w) bool → (..., H, W) bool, nearest source pixel; padding is False."""
        if masks.shape[-2:] != self.in_size:
            raise ValueError(f"masks of size {masks.shape[-2:]} for a transform of {self.in_size}")
        rows, cols = self._axis_sources()
        out = masks[..., np.maximum(rows, 0)[:, None], np.maximum(cols, 0)[None, :]]
        return out & ((rows >= 0)[:, None] & (cols >= 0)[None, :])

    def images(self, frames: np.ndarray) -> np.ndarray:
        """(T, h, w, 3) uint8 → (T, H, W, 3) uint8, bilinear; padding is 0."""
        if frames.shape[1:3] != self.in_size:
            raise ValueError(f"frames of size {frames.shape[1:3]} for a transform of {self.in_size}")
        (h, w), (sh, sw), (top, left), (oh, ow) = self.in_size, self.scaled_size, self.offset, self.out_size
        sx, sy = w / sw, h / sh
        # output pixel centre u ↦ source pixel coordinate (u + left)·sx − ½ (centre convention)
        ax, bx = (-sx, (ow - 0.5 + left) * sx - 0.5) if self.flip else (sx, (0.5 + left) * sx - 0.5)
        matrix = np.array([[ax, 0.0, bx], [0.0, sy, (0.5 + top) * sy - 0.5]])
        out = [cv2.warpAffine(f, matrix, (ow, oh), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0) for f in frames]
        rows, cols = self._axis_sources()
        content = ((rows >= 0)[:, None] & (cols >= 0)[None, :]).astype(np.uint8)
        return np.stack(out) * content[None, :, :, None]

    def points(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 2) (x, y) source pixels → (N, 2) output pixels and (N,) bool "inside the output image"."""
        (h, w), (sh, sw), (top, left), (oh, ow) = self.in_size, self.scaled_size, self.offset, self.out_size
        x = xy[:, 0] * (sw / w) - left
        y = xy[:, 1] * (sh / h) - top
        inside = (x >= 0) & (x < min(ow, sw - left)) & (y >= 0) & (y < min(oh, sh - top))
        if self.flip:
            x = ow - x
        return np.stack([x, y], 1).astype(np.float32), inside

    def boxes(self, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 4) (x0, y0, x1, y1) source pixels → (N, 4) output boxes clipped to the image content,
        and (N,) bool "box still has area"."""
        (h, w), (sh, sw), (top, left), (oh, ow) = self.in_size, self.scaled_size, self.offset, self.out_size
        x = np.clip(boxes[:, [0, 2]] * (sw / w) - left, 0, min(ow, sw - left))
        y = np.clip(boxes[:, [1, 3]] * (sh / h) - top, 0, min(oh, sh - top))
        if self.flip:
            x = ow - x[:, ::-1]
        out = np.stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]], 1).astype(np.float32)
        return out, (out[:, 2] > out[:, 0]) & (out[:, 3] > out[:, 1])


def sample_transform(in_size: tuple[int, int], cfg: AugmentationConfig,
                     rng: np.random.Generator) -> ClipTransform:
    """A random scale-jitter + crop/pad + flip transform for frames of ``in_size`` (h, w)."""
    h, w = in_size
    oh, ow = cfg.output_size
    scale = rng.uniform(*cfg.scale_range) * min(oh, ow) / min(h, w)
    sh, sw = max(1, round(h * scale)), max(1, round(w * scale))
    top = int(rng.integers(0, max(sh - oh, 0) + 1))
    left = int(rng.integers(0, max(sw - ow, 0) + 1))
    flip = bool(rng.random() < cfg.flip_prob)
    return ClipTransform((h, w), (sh, sw), (top, left), (oh, ow), flip)
