"""Region similarity J and boundary accuracy F per object and frame, and their statistics.

Definitions (davisvideochallenge/davis2017-evaluation @ ac7c43fca936f9722837b7fbd337d284ba37004b,
``davis2017/metrics.py`` and ``davis2017/utils.py``; MeViS's ``tools/metrics.py`` is identical):

- J = |P∩G| / |P∪G| over non-void pixels, and 1 when that union is empty.
- Boundary map (Martin's seg2bmap): for y<H-1, x<W-1, b = m[y,x]≠m[y,x+1] ∨ m[y,x]≠m[y+1,x]
  ∨ m[y,x]≠m[y+1,x+1]; last row: m[y,x]≠m[y,x+1]; last column: m[y,x]≠m[y+1,x]; the bottom-right
  pixel is 0. Void pixels are removed from both masks first.
- F: boundaries dilated (cv2.dilate) with the disk {dy²+dx² ≤ r²}, r = ceil(0.008·sqrt(H²+W²));
  precision = |b_P ∧ dil(b_G)| / |b_P|, recall = |b_G ∧ dil(b_P)| / |b_G|; an empty prediction
  boundary with a non-empty GT one gives P=1, R=0; the reverse P=0, R=1; both empty P=R=1;
  F = 2PR/(P+R), 0 when P+R = 0.
- Statistics over the N per-frame values: Mean = nanmean, Recall = mean(v > 0.5),
  Decay = mean(bin 0) − mean(bin 3) with bin edges round_half_up(linspace(1, N, 5)) − 1 cast to
  uint8 (bins overlap at their edges; N=1 gives 0).

Speed: J and F are computed on the window around both masks (their bounding boxes grown by one
pixel), which holds every boundary pixel of either mask, so the numbers equal the full-frame ones.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

Slice2 = tuple[slice, slice] | None


def davis_radius(height: int, width: int) -> int:
    """Boundary tolerance in pixels: ceil(0.008 · image diagonal)."""
    return int(math.ceil(0.008 * float(np.linalg.norm((height, width)))))


def disk_kernel(radius: int) -> np.ndarray:
    """``(2r+1, 2r+1)`` uint8 disk {dy²+dx² ≤ r²} (skimage ``disk``)."""
    span = np.arange(-radius, radius + 1)
    return (span[:, None] ** 2 + span[None, :] ** 2 <= radius**2).astype(np.uint8)


def seg2bmap(mask: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool boundary map of a ``(H, W)`` bool mask (boundary on the top/left side)."""
    b = np.zeros(mask.shape, dtype=bool)
    right = mask[:, :-1] != mask[:, 1:]
    down = mask[:-1, :] != mask[1:, :]
    b[:-1, :-1] = right[:-1] | down[:, :-1] | (mask[:-1, :-1] != mask[1:, 1:])
    b[-1, :-1] = right[-1]
    b[:-1, -1] = down[:, -1]
    return b


def f_measure(pred: np.ndarray, gt: np.ndarray, kernel: np.ndarray) -> float:
    """F of two ``(h, w)`` bool masks (void already removed) whose boundaries lie inside the array."""
    bp = seg2bmap(pred)
    bg = seg2bmap(gt)
    n_p = int(np.count_nonzero(bp))
    n_g = int(np.count_nonzero(bg))
    if n_p == 0 and n_g == 0:
        return 1.0
    if n_p == 0 or n_g == 0:
        return 0.0
    dil_p = cv2.dilate(bp.view(np.uint8), kernel).view(bool)
    dil_g = cv2.dilate(bg.view(np.uint8), kernel).view(bool)
    precision = np.count_nonzero(bp & dil_g) / float(n_p)
    recall = np.count_nonzero(bg & dil_p) / float(n_g)
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def label_slices(labels: np.ndarray, max_label: int) -> list[Slice2]:
    """Bounding slices of ids 1..max_label in a ``(H, W)`` label map (``None`` for an absent id).

    One equality pass per id present (faster than ``ndimage.find_objects`` for a few ids).
    """
    out: list[Slice2] = [None] * max(max_label, 0)
    for k in range(1, min(max_label, int(labels.max(initial=0))) + 1):
        mask = labels == k
        rows = np.flatnonzero(mask.any(axis=1))
        if rows.size:
            cols = np.flatnonzero(mask[rows[0]:rows[-1] + 1].any(axis=0))
            out[k - 1] = (slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1))
    return out


def _window(a: Slice2, b: Slice2, height: int, width: int) -> Slice2:
    if a is None and b is None:
        return None
    boxes = [s for s in (a, b) if s is not None]
    y0 = max(min(s[0].start for s in boxes) - 1, 0)
    x0 = max(min(s[1].start for s in boxes) - 1, 0)
    y1 = min(max(s[0].stop for s in boxes) + 1, height)
    x1 = min(max(s[1].stop for s in boxes) + 1, width)
    return slice(y0, y1), slice(x0, x1)


def object_jf(gt: np.ndarray, gt_id: int, gt_box: Slice2, pred: np.ndarray, pred_id: int,
              pred_box: Slice2, kernel: np.ndarray, void: np.ndarray | None = None) -> tuple[float, float]:
    """(J, F) of object ``gt_id`` in the GT label map against ``pred_id`` in the predicted one.

    ``gt``/``pred``: ``(H, W)`` label maps; ``*_box``: the ids' bounding slices (``None`` if absent);
    ``void``: optional ``(H, W)`` bool map of pixels excluded from both (unsupervised protocol).
    """
    win = _window(gt_box, pred_box, *gt.shape)
    if win is None:
        return 1.0, 1.0
    g = gt[win] == gt_id
    p = pred[win] == pred_id
    if void is not None:
        keep = ~void[win]
        g &= keep
        p &= keep
    union = int(np.count_nonzero(g | p))
    j = 1.0 if union == 0 else np.count_nonzero(g & p) / union
    return j, f_measure(p, g, kernel)


def davis_statistics(values: np.ndarray) -> tuple[float, float, float]:
    """(Mean, Recall, Decay) of one object's per-frame J (or F) values, as ``db_statistics``."""
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        edges = (np.round(np.linspace(1, len(values), 5) + 1e-10) - 1).astype(np.uint8)
    bins = [values[edges[i]:edges[i + 1] + 1] for i in range(4)]
    mean = float(np.nanmean(values))
    recall = float(np.nanmean(values > 0.5))
    decay = float(np.nanmean(bins[0]) - np.nanmean(bins[3]))
    return mean, recall, decay
