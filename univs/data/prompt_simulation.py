"""Prompt simulation for training (arXiv 2402.18115 §3.4 and §4.1; architecture.md §5).

Every training clip gets the prompts its task would get from a user, simulated from its ground
truth (``masks`` (M, T, H, W) at the input resolution, after augmentation):

- category-guided tasks (VIS/VSS/VPS): all GT objects are targets of the learnable queries; each
  also becomes a visual prompt (its GT mask on one frame) with probability
  ``category_prompt_prob``, so the model learns to continue tracks from detections;
- VOS and PVOS (things and stuff alike): every object gets a visual prompt from its GT on one
  frame, of a random kind — ``mask``, ``box`` (its filled rectangle), ``points`` (clicks in the
  interior) or ``scribble`` (a thin stroke inside the object) — sometimes with negative clicks
  around it (on the background or a neighbouring object); it is supervised on all frames;
- RefVOS: each expression is a ``text`` prompt, its referred object the target.

At most ``max_prompts_per_frame`` visual prompts lie on one frame (texts: per clip). A visual
prompt is a :class:`RawPrompt`: a boolean region from which positive points are drawn plus explicit
negative points; :func:`draw_points` turns them into :class:`PromptRegions` of R points per target
for the model's visual sampler (the official R per task: 256 VOS/PVOS, 128 VIS, 64 VPS/VSS,
32 RefVOS). The official code has no scribbles; they are ours.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from univs.config import CATEGORY_TASKS, PromptSimulationConfig
from univs.model.types import PromptRegions

VISUAL_KINDS = ("mask", "box", "points", "scribble")
PROMPT_KINDS = VISUAL_KINDS + ("text",)


@dataclass
class RawPrompt:
    """One prompted target of a clip, before its points are drawn.

    kind: one of :data:`PROMPT_KINDS`; target: index of the object in the clip's ``masks``
    (−1: refers to no object of the clip); frame: the clip frame a visual prompt lies on;
    region: (H, W) bool, the pixels positive points are drawn from (None for text);
    negatives: (n, 2) float32 (x, y) pixel centres of negative clicks; text: the expression.
    """

    kind: str
    target: int
    frame: int = 0
    region: np.ndarray | None = None
    negatives: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))
    text: str | None = None


def _centres(ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """(n, 2) float32 (x, y) pixel centres."""
    return np.stack([xs + 0.5, ys + 0.5], 1).astype(np.float32)


def _interior_distance(mask: np.ndarray) -> np.ndarray:
    """(H, W) float32 distance of each object pixel to the nearest background pixel (0 outside)."""
    padded = np.pad(mask.astype(np.uint8), 1)  # the frame border counts as background
    return cv2.distanceTransform(padded, cv2.DIST_L2, 3)[1:-1, 1:-1]


def box_region(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool: the filled bounding rectangle of a non-empty (H, W) bool mask."""
    ys, xs = np.nonzero(mask)
    region = np.zeros_like(mask, dtype=bool)
    region[ys.min():ys.max() + 1, xs.min():xs.max() + 1] = True
    return region


def click_region(mask: np.ndarray, clicks: int, rng: np.random.Generator) -> np.ndarray:
    """(H, W) bool with ``clicks`` pixels of a non-empty mask set, drawn with probability ∝ their
    distance to the object's border (users click in the interior)."""
    dist = _interior_distance(mask)
    ys, xs = np.nonzero(mask)
    weight = dist[ys, xs].astype(np.float64)
    pick = rng.choice(len(ys), size=min(clicks, len(ys)), replace=False, p=weight / weight.sum())
    region = np.zeros_like(mask, dtype=bool)
    region[ys[pick], xs[pick]] = True
    return region


def scribble_region(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(H, W) bool: a thin polyline stroke inside a non-empty mask.

    2–4 anchors are drawn from the object's core (pixels at least half the maximal distance from
    its border), ordered along the object's principal axis and joined by a 1–2 px line, which is
    then clipped to the mask (never empty: the deepest pixel is always part of the stroke).
    """
    dist = _interior_distance(mask)
    ys, xs = np.nonzero(dist >= 0.5 * dist.max())
    anchors = rng.choice(len(ys), size=min(int(rng.integers(2, 5)), len(ys)), replace=False)
    oy, ox = np.nonzero(mask)
    coords = np.stack([ox, oy], 1).astype(np.float64)
    axis = np.linalg.svd(coords - coords.mean(0), full_matrices=False)[2][0]
    pts = np.stack([xs[anchors], ys[anchors]], 1)
    pts = pts[np.argsort(pts @ axis)].astype(np.int32)
    canvas = np.zeros(mask.shape, np.uint8)
    cv2.polylines(canvas, [pts.reshape(-1, 1, 2)], False, 1, thickness=1 + int(dist.max() > 6))
    stroke = canvas.astype(bool) & mask
    deepest = np.unravel_index(int(np.argmax(dist)), mask.shape)
    stroke[deepest] = True
    return stroke


def negative_clicks(mask: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """(n ≤ count, 2) float32 (x, y) pixel centres outside a non-empty mask, in a ring around it
    (background or a neighbouring object), ring width ~15% of the object's size (at least 2 px)."""
    radius = max(2, round(0.15 * float(np.sqrt(mask.sum()))))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    ring = cv2.dilate(mask.astype(np.uint8), kernel).astype(bool) & ~mask
    ys, xs = np.nonzero(ring)
    pick = rng.choice(len(ys), size=min(count, len(ys)), replace=False)
    return _centres(ys[pick], xs[pick])


def visual_prompt(kind: str, mask: np.ndarray, target: int, frame: int, cfg: PromptSimulationConfig,
                  rng: np.random.Generator, negatives: bool) -> RawPrompt:
    """A visual prompt of ``kind`` from one frame's non-empty (H, W) GT mask; with ``negatives``,
    1..``cfg.max_negatives`` negative clicks around the object."""
    if kind == "mask":
        region = mask.copy()
    elif kind == "box":
        region = box_region(mask)
    elif kind == "points":
        region = click_region(mask, int(rng.integers(1, cfg.max_clicks + 1)), rng)
    elif kind == "scribble":
        region = scribble_region(mask, rng)
    else:
        raise ValueError(f"unknown visual prompt kind {kind!r}; known: {', '.join(VISUAL_KINDS)}")
    neg = (negative_clicks(mask, int(rng.integers(1, cfg.max_negatives + 1)), rng) if negatives
           else np.zeros((0, 2), np.float32))
    return RawPrompt(kind, target, frame, region, neg)


def _kind_sampler(cfg: PromptSimulationConfig) -> tuple[list[str], np.ndarray]:
    kinds = [k for k, w in cfg.kind_weights.items() if w > 0]
    unknown = sorted(set(cfg.kind_weights) - set(VISUAL_KINDS))
    if unknown or not kinds:
        raise ValueError(f"prompt kind_weights must give positive weight to some of "
                         f"{', '.join(VISUAL_KINDS)}; got {cfg.kind_weights}")
    weights = np.array([cfg.kind_weights[k] for k in kinds], np.float64)
    return kinds, weights / weights.sum()


def simulate_prompts(task: str, masks: np.ndarray, valid: np.ndarray, expressions: list[tuple[str, int]],
                     cfg: PromptSimulationConfig, rng: np.random.Generator) -> list[RawPrompt]:
    """The prompts of one training clip, visual prompts first, then texts.

    masks: (M, T, H, W) bool GT objects of the clip; valid: (M, T) bool annotated frames;
    expressions: (text, target object index or −1) of a RefVOS clip.
    An object's visual prompt lies on a random frame where it is visible and fewer than
    ``cfg.max_prompts_per_frame`` prompts lie already; objects are considered in random order.
    """
    if task == "refvos":
        order = rng.permutation(len(expressions))[: cfg.max_prompts_per_frame]
        return [RawPrompt("text", expressions[i][1], text=expressions[i][0]) for i in order]
    category = task in CATEGORY_TASKS
    kinds, weights = _kind_sampler(cfg)
    visible = masks.any(axis=(2, 3)) & valid
    per_frame = np.zeros(masks.shape[1], np.int64)
    prompts: list[RawPrompt] = []
    for m in rng.permutation(masks.shape[0]):
        if category and rng.random() >= cfg.category_prompt_prob:
            continue
        frames = np.nonzero(visible[m] & (per_frame < cfg.max_prompts_per_frame))[0]
        if len(frames) == 0:
            continue
        t = int(rng.choice(frames))
        per_frame[t] += 1
        if category:
            prompts.append(RawPrompt("mask", int(m), t, masks[m, t].copy()))
        else:
            kind = str(rng.choice(kinds, p=weights))
            prompts.append(visual_prompt(kind, masks[m, t], int(m), t, cfg, rng,
                                         negatives=bool(rng.random() < cfg.negative_prob)))
    return prompts


def draw_points(prompts: list[RawPrompt], num_points: int, rng: np.random.Generator) -> PromptRegions:
    """R = ``num_points`` labelled points per visual prompt, for the model's visual sampler.

    Each target's row holds positives drawn without replacement from its region (label 1; all of
    the region's pixels when fewer fit), then its negative clicks (label 0, at most R − 1 of them),
    then padding (label −1, at (0, 0)). Points are pixel centres (x + ½, y + ½).
    Returns PromptRegions: points (K, R, 2) float32, labels (K, R) long, frame (K,) long.
    """
    k = len(prompts)
    points = np.zeros((k, num_points, 2), np.float32)
    labels = np.full((k, num_points), -1, np.int64)
    for i, p in enumerate(prompts):
        if p.region is None:
            raise ValueError(f"a {p.kind!r} prompt has no region to draw points from")
        neg = p.negatives[: num_points - 1]
        ys, xs = np.nonzero(p.region)
        room = num_points - len(neg)
        pick = rng.choice(len(ys), size=room, replace=False) if len(ys) > room else np.arange(len(ys))
        row = np.concatenate([_centres(ys[pick], xs[pick]), neg])
        points[i, : len(row)] = row
        labels[i, : len(pick)] = 1
        labels[i, len(pick): len(row)] = 0
    frame = np.array([p.frame for p in prompts], np.int64)
    return PromptRegions(torch.from_numpy(points), torch.from_numpy(labels), torch.from_numpy(frame))
