"""Per-frame mask arithmetic of streaming inference (architecture.md §6, §6a): mask quality and
stability, boxes, NMS, mask IoU, and the pixel competition between targets. Plain torch, any device.
"""

from __future__ import annotations

import torch


def mask_quality(logits: torch.Tensor) -> torch.Tensor:
    """(K,) mean foreground probability inside each mask (logit > 0; Mask2Former's mask score),
    0 for an empty mask. logits: (K, h, w)."""
    prob = logits.float().sigmoid()
    fg = (logits > 0).float()
    return (prob * fg).flatten(1).sum(1) / fg.flatten(1).sum(1).clamp(min=1)


def mask_stability(logits: torch.Tensor, offset: float) -> torch.Tensor:
    """(K,) IoU of the masks at logit > +offset and logit > −offset (SAM's stability score);
    0 for an empty mask. logits: (K, h, w)."""
    high = (logits > offset).flatten(1).sum(1).float()
    low = (logits > -offset).flatten(1).sum(1).float()
    return torch.where(low > 0, high / low.clamp(min=1), torch.zeros_like(low))


def mask_boxes(masks: torch.Tensor) -> torch.Tensor:
    """(K, 4) float (x0, y0, x1, y1) pixel boxes of (K, h, w) bool masks (zeros when empty)."""
    k, h, w = masks.shape
    rows, cols = masks.any(2), masks.any(1)
    ys = torch.arange(h, device=masks.device)
    xs = torch.arange(w, device=masks.device)
    y0 = torch.where(rows, ys, h).amin(1)
    y1 = torch.where(rows, ys + 1, 0).amax(1)
    x0 = torch.where(cols, xs, w).amin(1)
    x1 = torch.where(cols, xs + 1, 0).amax(1)
    boxes = torch.stack([x0, y0, x1, y1], 1).float()
    return torch.where(rows.any(1, keepdim=True), boxes, torch.zeros_like(boxes))


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(A, B) IoU of boxes (A, 4) and (B, 4) in (x0, y0, x1, y1)."""
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).clamp(min=0).prod(-1)
    return inter / (area_a[:, None] + area_b[None] - inter).clamp(min=1e-6)


def mask_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(A, B) IoU of bool masks (A, h, w) and (B, h, w); 0 where both are empty."""
    fa, fb = a.flatten(1).float(), b.flatten(1).float()
    inter = fa @ fb.T
    union = fa.sum(1)[:, None] + fb.sum(1)[None] - inter
    return inter / union.clamp(min=1)


def nms(scores: torch.Tensor, iou: torch.Tensor, threshold: float) -> torch.Tensor:
    """Greedy NMS: indices (by descending score) kept when their IoU (K, K) with every kept
    higher-scored item is under ``threshold``."""
    order = scores.argsort(descending=True).tolist()
    keep: list[int] = []
    for i in order:
        if all(float(iou[i, j]) < threshold for j in keep):
            keep.append(i)
    return torch.tensor(keep, dtype=torch.long, device=scores.device)


def compete(logits: torch.Tensor, weights: torch.Tensor, min_survival: float,
            cover_all: bool = False) -> torch.Tensor:
    """Pixel competition (architecture.md §6a): each pixel goes to the target with the highest
    ``sigmoid(logit) × weight`` among those that claim it (logit > 0); a target keeps its pixels only
    if at least ``min_survival`` of its claimed area survives, else its mask is empty on the frame.
    With ``cover_all`` every pixel goes to its best target, claimed or not (semantic maps).

    logits: (K, h, w); weights: (K,) ≥ 0. Returns (K, h, w) bool, disjoint masks.
    """
    k = logits.shape[0]
    if k == 0:
        return torch.zeros_like(logits, dtype=torch.bool)
    claim = logits > 0
    strength = logits.float().sigmoid() * weights.float().view(k, 1, 1)
    if not cover_all:
        strength = strength.masked_fill(~claim, -1.0)
    winner = strength.argmax(0)
    won = torch.arange(k, device=logits.device).view(k, 1, 1) == winner[None]
    if cover_all:
        return won
    won &= claim
    claimed = claim.flatten(1).sum(1)
    survived = won.flatten(1).sum(1)
    keep = survived.float() >= min_survival * claimed.float()
    return won & keep.view(k, 1, 1)
