"""Video-level Hungarian matching of the learnable queries to a clip's GT objects.

UniVS (arXiv 2402.18115, §3.4 and architecture.md §5) matches the learnable queries of each
clip to its ground-truth objects as whole tracks, Mask2Former-style, with the costs

    C = cost_class · C_class + cost_mask · C_bce + cost_dice · C_dice + cost_reid · C_reid

(official weights 3, 5, 5 and 0.5), solved by ``scipy.optimize.linear_sum_assignment``.

- **Mask costs** use ``num_points`` uniformly random points shared by every query, object and
  frame of the clip (predictions are read at stride 4, GT masks at input resolution, see
  ``univs.losses.point_sampling``). Only frames where the object is annotated
  (``ClipTargets.valid``) count: ``C_bce`` is the mean point BCE over those frames, ``C_dice`` the
  dice cost of the whole track (its points on those frames pooled), both as the official code.
- **Class cost** ``C_class = −softmax_c(5 · σ(z))[gt]`` — the official matcher turns the sigmoid
  class probabilities into a distribution over the vocabulary (sharpness 5) and takes the GT
  entry, so the cost agrees with both the focal (sigmoid) and the CE (softmax) terms of the class
  loss. Objects of unknown class (−1) and predictions without vocabulary get no class cost.
- **Re-id cost**: a GT track has no embedding of its own, but a prompt query supervised by the
  same object (``ClipTargets.prompt_targets``) is trained to represent it, so it serves as the
  track's reference. ``C_reid[q, m] = 1 − mean cos(e_q(t), e_k(t'))`` over the prompt queries
  ``k`` of object ``m`` and all pairs of frames ``t, t'`` where ``m`` is visible (for unit vectors
  the mean pairwise cosine equals the dot product of the two mean embeddings). Objects without a
  prompt query have no re-id reference and get cost 0 (a constant column does not change the
  assignment). The official matcher has no re-id cost; architecture.md §5 lists 0.5.

Objects that are visible (annotated with a non-empty mask) on no frame of the clip are left out of
the matching: a learnable query cannot detect what the clip does not show.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from univs.config import LossConfig
from univs.losses.point_sampling import point_sample, sample_binary_masks
from univs.model.types import ClipTargets, QueryPredictions

# Official matcher: softmax over the vocabulary of 5 × sigmoid(logits).
CLASS_COST_SHARPNESS = 5.0


def visible_frames(target: ClipTargets) -> torch.Tensor:
    """(M, T) bool: object annotated on the frame *and* its mask non-empty there."""
    return target.valid & target.masks.flatten(2).any(dim=2)


def matching_cost(cfg: LossConfig, target: ClipTargets, objects: torch.Tensor, points: torch.Tensor,
                  mask_logits: torch.Tensor, class_logits: torch.Tensor | None, reid: torch.Tensor,
                  prompt_reid: torch.Tensor | None) -> torch.Tensor:
    """Cost matrix of one clip (float32, no gradient).

    objects: (M',) indices into ``target``'s objects to match; points: (P, 2) normalised ``(x, y)``;
    mask_logits: (Q, T, h, w); class_logits: (Q, C) or None; reid: (Q, T, D) unit vectors;
    prompt_reid: (K, T, D) unit vectors of the clip's prompt queries (K ≥ len(prompt_targets))
    or None. Returns (Q, M').
    """
    num_q, num_t = mask_logits.shape[:2]
    valid = target.valid[objects].to(torch.float32)  # (M', T)
    n_valid = valid.sum(dim=1).clamp(min=1.0)

    # shared points: the Q·T maps are channels of one map, interpolated once
    pred = point_sample(mask_logits.flatten(0, 1).unsqueeze(0).float(), points.unsqueeze(0))
    pred = pred.view(num_q, num_t, -1)  # (Q, T, P)
    frames = (objects[:, None] * num_t + torch.arange(num_t, device=objects.device)).flatten()
    gt = sample_binary_masks(target.masks.flatten(0, 1), points, frames)
    gt = gt.view(len(objects), num_t, -1) * valid.unsqueeze(-1)  # (M', T, P), 0 off valid frames
    gt_neg = (1.0 - gt) * valid.unsqueeze(-1)
    num_points = pred.shape[-1]
    cost_bce = (torch.einsum("qtp,mtp->qm", F.softplus(-pred), gt)
                + torch.einsum("qtp,mtp->qm", F.softplus(pred), gt_neg))
    cost_bce = cost_bce / (num_points * n_valid)
    probs = pred.sigmoid()
    numerator = 2.0 * torch.einsum("qtp,mtp->qm", probs, gt)
    denominator = torch.einsum("qt,mt->qm", probs.sum(dim=-1), valid) + gt.sum(dim=(1, 2))
    cost_dice = 1.0 - (numerator + 1.0) / (denominator + 1.0)
    cost = cfg.cost_mask * cost_bce + cfg.cost_dice * cost_dice

    if class_logits is not None and class_logits.shape[-1] > 0:
        classes = target.classes[objects]
        known = classes >= 0
        probs_c = (CLASS_COST_SHARPNESS * class_logits.float().sigmoid()).softmax(dim=-1)
        cost_class = -probs_c[:, classes.clamp(min=0)] * known
        cost = cost + cfg.cost_class * cost_class

    if prompt_reid is not None and cfg.cost_reid != 0.0:
        cost = cost + cfg.cost_reid * _reid_cost(target, objects, reid.float(), prompt_reid.float())
    return cost


def _reid_cost(target: ClipTargets, objects: torch.Tensor, reid: torch.Tensor,
               prompt_reid: torch.Tensor) -> torch.Tensor:
    """(Q, M') re-id cost against each object's prompt queries (see the module docstring)."""
    visible = visible_frames(target)[objects].to(torch.float32)  # (M', T)
    prompt_targets = target.prompt_targets.to(objects.device)
    # owner[m, k] = 1 where prompt query k is supervised by object objects[m]
    owner = (prompt_targets[None, :] == objects[:, None]).to(torch.float32)  # (M', K)
    weight = owner[:, :, None] * visible[:, None, :]  # (M', K, T)
    count = weight.sum(dim=(1, 2))
    reference = torch.einsum("mkt,ktd->md", weight, prompt_reid[: len(prompt_targets)])
    reference = reference / count.clamp(min=1.0)[:, None]  # mean prompt embedding of each object
    sim = torch.einsum("qtd,md->qtm", reid, reference)
    sim = torch.einsum("qtm,mt->qm", sim, visible) / visible.sum(dim=1).clamp(min=1.0)
    return (1.0 - sim) * (count > 0)


class HungarianMatcher:
    """Matches each clip's learnable queries to its visible GT objects (one-to-one, video level)."""

    def __init__(self, cfg: LossConfig):
        self.cfg = cfg

    @torch.no_grad()
    def __call__(self, learnable: QueryPredictions, targets: list[ClipTargets],
                 prompt: QueryPredictions | None = None) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per clip ``(query_indices, object_indices)``, both (min(Q, M'),) long on the targets' device.

        learnable: predictions of one decoder layer, mask_logits (B, Q, T, h, w);
        prompt: the same layer's prompt-query predictions (their re-id embeddings are the re-id
        references), or None. ``object_indices`` index ``ClipTargets.masks``.
        """
        out = []
        for b, target in enumerate(targets):
            device = target.masks.device
            objects = visible_frames(target).any(dim=1).nonzero().squeeze(1)
            num_q = learnable.mask_logits.shape[1]
            if len(objects) == 0 or num_q == 0:
                empty = torch.zeros(0, dtype=torch.long, device=device)
                out.append((empty, empty))
                continue
            points = torch.rand(self.cfg.num_points, 2, device=learnable.mask_logits.device)
            prompt_reid = None
            if prompt is not None and len(target.prompt_targets) > 0:
                prompt_reid = prompt.reid[b]
            with torch.autocast(learnable.mask_logits.device.type, enabled=False):
                cost = matching_cost(
                    self.cfg, target, objects, points, learnable.mask_logits[b],
                    None if learnable.class_logits is None else learnable.class_logits[b],
                    learnable.reid[b], prompt_reid)
            rows, cols = linear_sum_assignment(cost.cpu().numpy())
            out.append((torch.as_tensor(rows, dtype=torch.long, device=device),
                        objects[torch.as_tensor(cols, dtype=torch.long, device=device)]))
        return out
