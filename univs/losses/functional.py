"""Loss functions on plain tensors: mask BCE/dice on points, sigmoid focal, re-id contrastive.

The criterion (``univs.losses.criterion``) decides *what* is compared; these functions say *how*.
All expect float32 inputs (the criterion disables autocast).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def point_bce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Sigmoid BCE averaged over points (Mask2Former's mask loss). logits, labels: (N, P) → (N,)."""
    return F.binary_cross_entropy_with_logits(logits, labels, reduction="none").mean(dim=1)


def point_dice(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Dice loss with +1 smoothing, ``1 − (2Σσy + 1) / (Σσ + Σy + 1)`` (Mask2Former/official).

    logits, labels: (N, P) → (N,). The smoothing makes an empty target with an empty prediction
    cost 0 instead of 0/0.
    """
    probs = logits.sigmoid()
    numerator = 2.0 * (probs * labels).sum(dim=1)
    denominator = probs.sum(dim=1) + labels.sum(dim=1)
    return 1.0 - (numerator + 1.0) / (denominator + 1.0)


def sigmoid_focal_loss(logits: torch.Tensor, targets: torch.Tensor, alpha: float,
                       gamma: float) -> torch.Tensor:
    """Sigmoid focal loss (Lin et al., ICCV 2017) summed over classes.

    logits, targets: (..., C) with targets in {0, 1}; returns (...,):
    ``Σ_c −α_t (1 − p_t)^γ log p_t`` with ``p_t = p`` for positives and ``1 − p`` for negatives,
    ``α_t = α`` for positives and ``1 − α`` for negatives (official UniVS: α = 0.5, γ = 2).
    """
    probs = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = probs * targets + (1.0 - probs) * (1.0 - targets)
    alpha_t = alpha * targets + (1.0 - alpha) * (1.0 - targets)
    return (alpha_t * (1.0 - p_t) ** gamma * ce).sum(dim=-1)


def contrastive_reid_loss(anchors: torch.Tensor, anchor_ids: torch.Tensor, candidates: torch.Tensor,
                          candidate_ids: torch.Tensor, temperature: torch.Tensor,
                          same_set: bool) -> tuple[torch.Tensor, int]:
    """Multi-positive contrastive re-id loss (quasi-dense similarity learning, Pang et al. CVPR 2021;
    the form the official UniVS/IDOL code uses), summed over anchors.

    anchors: (A, D) and candidates: (N, D) L2-normalised embeddings; anchor_ids: (A,),
    candidate_ids: (N,) track identities; temperature: scalar τ > 0. With similarities
    ``s = cos / τ``, positives P(i) (same identity) and negatives N(i) (other identities), each
    anchor costs ``log(1 + Σ_{p∈P(i)} Σ_{n∈N(i)} exp(s_in − s_ip))``, i.e.
    ``softplus(logsumexp_n s_in + logsumexp_p (−s_ip))``. ``same_set``: candidates are the anchors
    themselves, so an anchor is not its own positive. Anchors lacking a positive or a negative
    have no contrast and are skipped. Returns (sum over anchors, number of anchors used).
    """
    if anchors.shape[0] == 0 or candidates.shape[0] == 0:
        return anchors.new_zeros(()), 0
    sim = anchors @ candidates.t() / temperature
    same = anchor_ids[:, None] == candidate_ids[None, :]
    positive = same.clone()
    if same_set:
        positive.fill_diagonal_(False)
    negative = ~same
    used = positive.any(dim=1) & negative.any(dim=1)
    if not bool(used.any()):
        return anchors.new_zeros(()), 0
    sim, positive, negative = sim[used], positive[used], negative[used]
    neg_term = torch.logsumexp(sim.masked_fill(~negative, float("-inf")), dim=1)
    pos_term = torch.logsumexp((-sim).masked_fill(~positive, float("-inf")), dim=1)
    return F.softplus(neg_term + pos_term).sum(), int(used.sum())
