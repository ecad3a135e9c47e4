"""User prompts of the prompt-guided tasks, checked and turned into the visual sampler's point sets.

A visual prompt (arXiv 2402.18115 §3.1; architecture.md §3) is a set of pixels on one frame: a
mask, a box (its filled rectangle), clicks ``(x, y[, label])`` (label 1 positive, 0 negative) or a
scribble (its stroke pixels). A text prompt is a referring expression. Coordinates are pixels of the
original frame, (x, y) order, as SAM takes them.

Bad prompts raise :class:`univs.errors.InputError` with one clear line: an empty mask or scribble,
points or a box outside the frame, no positive click, an empty text, a frame index past the end.
A mask or scribble of another size than the frame is resized (nearest neighbour) with a warning:
real prompt files are sometimes a pixel off (the judo clip's ``masks/00005.png`` is 853 px wide for
854-px frames).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from univs.errors import InputError
from univs.inference.frames import Geometry
from univs.model.prompt_encoder import click_prompt, sample_box_prompt, sample_mask_prompt
from univs.model.types import PromptRegions

VISUAL_KINDS = ("mask", "points", "box", "scribble")


@dataclass
class VisualPrompt:
    """A mask / points / box / scribble prompt on frame ``frame`` (original pixels).

    mask: (H, W) bool for ``mask`` and ``scribble``; points: (P, 2) float32 (x, y) and labels (P,)
    int64 for ``points``; box: (4,) float32 (x0, y0, x1, y1) for ``box``.
    """

    kind: str
    frame: int
    mask: np.ndarray | None = None
    points: np.ndarray | None = None
    labels: np.ndarray | None = None
    box: np.ndarray | None = None

    def merged(self, other: "VisualPrompt") -> "VisualPrompt":
        """Clicks of ``other`` added to these clicks (the same target and frame); any other kind
        replaces this prompt."""
        if self.kind != "points" or other.kind != "points" or self.frame != other.frame:
            return other
        return VisualPrompt("points", self.frame, points=np.concatenate([self.points, other.points]),
                            labels=np.concatenate([self.labels, other.labels]))


@dataclass
class TextPrompt:
    """A referring expression, given on frame ``frame``."""

    text: str
    frame: int

    def merged(self, other: "VisualPrompt | TextPrompt") -> "VisualPrompt | TextPrompt":
        return other


Prompt = VisualPrompt | TextPrompt


def _region(mask: object, size: tuple[int, int], what: str, frame: int) -> np.ndarray:
    """A mask-like prompt as (H, W) bool at the frame size (resized with a warning when it differs)."""
    arr = np.asarray(mask.detach().cpu() if isinstance(mask, torch.Tensor) else mask)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2 or arr.size == 0:
        raise InputError(f"{what} prompt on frame {frame} must be a 2-D (H, W) array, got shape {arr.shape}")
    region = arr != 0
    h, w = size
    if region.shape != (h, w):
        warnings.warn(f"{what} prompt on frame {frame} is {region.shape[1]}x{region.shape[0]} (WxH), frames are "
                      f"{w}x{h}; resized with nearest-neighbour", stacklevel=3)
        region = cv2.resize(region.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
    if not region.any():
        raise InputError(f"{what} prompt on frame {frame} is empty (no foreground pixel)")
    return region


def _points(points: object, size: tuple[int, int], frame: int) -> tuple[np.ndarray, np.ndarray]:
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim == 1 and arr.shape[0] in (2, 3):
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] not in (2, 3) or arr.shape[0] == 0:
        raise InputError(f"points on frame {frame} must be a list of (x, y) or (x, y, label), got shape {arr.shape}")
    labels = arr[:, 2] if arr.shape[1] == 3 else np.ones(len(arr))
    if not np.isin(labels, (0, 1)).all():
        raise InputError(f"point labels on frame {frame} must be 1 (positive) or 0 (negative), got "
                         f"{sorted(set(labels.tolist()))}")
    h, w = size
    xy = arr[:, :2]
    outside = ~((xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h))
    if outside.any():
        x, y = xy[np.argmax(outside)]
        raise InputError(f"point ({x:g}, {y:g}) on frame {frame} lies outside the {w}x{h} (WxH) frame")
    if not (labels == 1).any():
        raise InputError(f"points on frame {frame} need at least one positive click (label 1)")
    return xy.astype(np.float32), labels.astype(np.int64)


def _box(box: object, size: tuple[int, int], frame: int) -> np.ndarray:
    arr = np.asarray(box, dtype=np.float64).reshape(-1)
    if arr.shape != (4,):
        raise InputError(f"box on frame {frame} must be (x0, y0, x1, y1), got {arr.tolist()}")
    x0, y0, x1, y1 = arr
    h, w = size
    if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
        raise InputError(f"box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) on frame {frame} is not a box inside the "
                         f"{w}x{h} (WxH) frame (need 0 <= x0 < x1 <= {w}, 0 <= y0 < y1 <= {h})")
    return arr.astype(np.float32)


def check_one_prompt(**prompt: object) -> None:
    """Exactly one of the prompt keywords (mask, points, box, scribble, text) is given (not None)."""
    given = [k for k, v in prompt.items() if v is not None]
    if len(given) != 1:
        raise InputError(f"give exactly one of mask=, points=, box=, scribble=, text= per prompt, got "
                         f"{', '.join(given) or 'none'}")


def make_prompt(frame: int, size: tuple[int, int], mask: object = None, points: object = None,
                box: object = None, scribble: object = None, text: str | None = None) -> Prompt:
    """Check one prompt (exactly one of the keywords) for a frame of ``size`` (H, W)."""
    check_one_prompt(mask=mask, points=points, box=box, scribble=scribble, text=text)
    if mask is not None:
        return VisualPrompt("mask", frame, mask=_region(mask, size, "mask", frame))
    if scribble is not None:
        return VisualPrompt("scribble", frame, mask=_region(scribble, size, "scribble", frame))
    if points is not None:
        xy, labels = _points(points, size, frame)
        return VisualPrompt("points", frame, points=xy, labels=labels)
    if box is not None:
        return VisualPrompt("box", frame, box=_box(box, size, frame))
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"text prompt on frame {frame} is empty")
    return TextPrompt(text.strip(), frame)


def prompt_regions(prompt: VisualPrompt, geometry: Geometry, num_points: int, device: torch.device,
                   generator: torch.Generator | None = None) -> PromptRegions:
    """The prompt's point set (one target, frame index 0) in processing pixels for the visual sampler:
    R pixels drawn from a mask or scribble, R points inside a box, or the clicks as they are."""
    if prompt.kind in ("mask", "scribble"):
        region = geometry.mask_to_processing(prompt.mask, device)
        if not region.any():  # a thin scribble can vanish when shrunk: keep its nearest pixels
            region = _nearest_pixels(prompt.mask, geometry, device)
        return sample_mask_prompt(region[None], 0, num_points, generator=generator)
    if prompt.kind == "box":
        box = geometry.points_to_processing(torch.from_numpy(prompt.box).to(device).view(2, 2)).view(1, 4)
        return sample_box_prompt(box, 0, num_points, generator=generator)
    xy = geometry.points_to_processing(torch.from_numpy(prompt.points).to(device))
    return click_prompt(xy[None], torch.from_numpy(prompt.labels).to(device)[None], 0)


def _nearest_pixels(mask: np.ndarray, geometry: Geometry, device: torch.device) -> torch.Tensor:
    """(h, w) bool: the processing pixels that the original mask's pixels fall into."""
    ys, xs = np.nonzero(mask)
    sx, sy = geometry.scale
    h, w = geometry.processing
    out = torch.zeros(h, w, dtype=torch.bool, device=device)
    out[torch.from_numpy(np.minimum((ys * sy).astype(np.int64), h - 1)),
        torch.from_numpy(np.minimum((xs * sx).astype(np.int64), w - 1))] = True
    return out
