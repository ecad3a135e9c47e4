"""BiSoftmax association of new detections with known targets (architecture.md §6 step 2; the
bi-directional softmax of QDTrack, as the official UniVS inference uses it for new-vs-known).

Each known target remembers the re-id embeddings of its last few frames (official 3). For every
remembered frame f, similarities S_f = ⟨target emb_f, detection emb⟩ / τ (τ the model's learned
re-id temperature) are turned into S_bi,f = ½(softmax over targets + softmax over detections); the
frames' values are averaged (each target over the frames it has). Values under τ_new are set to 0,
Hungarian matching on 1 − S_bi pairs them, and a pair counts as a match only when S_bi > τ_new.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch.nn import functional as F


@dataclass
class Association:
    """Matches of K targets with M detections: ``pairs`` (target, detection, S_bi) with
    S_bi > τ_new, and ``similarity`` the (K, M) BiSoftmax matrix after thresholding."""

    pairs: list[tuple[int, int, float]]
    similarity: torch.Tensor


def bisoftmax(histories: list[torch.Tensor], detections: torch.Tensor, temperature: float) -> torch.Tensor:
    """(K, M) BiSoftmax similarity of K targets (each (F_k, D) remembered embeddings, F_k ≥ 1) with M
    detection embeddings (M, D), averaged over each target's remembered frames."""
    k, m = len(histories), detections.shape[0]
    if k == 0 or m == 0:
        return detections.new_zeros(k, m)
    frames = max(h.shape[0] for h in histories)
    d = detections.shape[1]
    # right-align histories (newest last) so frame f of every target is comparably recent
    stacked = detections.new_zeros(k, frames, d)
    have = torch.zeros(k, frames, dtype=torch.bool, device=detections.device)
    for i, h in enumerate(histories):
        stacked[i, frames - h.shape[0]:] = F.normalize(h.to(detections), dim=-1)
        have[i, frames - h.shape[0]:] = True
    sim = torch.einsum("kfd,md->fkm", stacked, F.normalize(detections, dim=-1)) / temperature
    # softmax over targets uses only the targets that have frame f
    over_targets = sim.masked_fill(~have.T[:, :, None], float("-inf")).softmax(1).nan_to_num(0.0)
    over_detections = sim.softmax(2)
    both = 0.5 * (over_targets + over_detections) * have.T[:, :, None]
    return both.sum(0) / have.sum(1).clamp(min=1)[:, None]


def associate(histories: list[torch.Tensor], detections: torch.Tensor, temperature: float,
              threshold: float) -> Association:
    """Hungarian matching of targets and detections on 1 − BiSoftmax (values under ``threshold``
    zeroed); pairs with S_bi > ``threshold`` are returned."""
    sim = bisoftmax(histories, detections, temperature)
    sim = torch.where(sim < threshold, torch.zeros_like(sim), sim)
    if sim.numel() == 0:
        return Association([], sim)
    cost = (1.0 - sim).cpu().numpy().astype(np.float64)
    rows, cols = linear_sum_assignment(cost)
    pairs = [(int(r), int(c), float(sim[r, c])) for r, c in zip(rows, cols) if float(sim[r, c]) > threshold]
    return Association(pairs, sim)
