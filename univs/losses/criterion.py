"""UniVS training criterion: learnable + prompt streams, deep supervision (arXiv 2402.18115 §3.4).

Ground truth (``univs.model.types.ClipTargets``, one per clip) — the semantics this module relies on:

- ``masks[m, t]`` (M, T, H, W) bool at the input resolution (any size: points are normalised);
  on the same device as the predictions.
- ``valid[m, t]``: frame t's annotation of object m is *known*. A valid frame with an empty mask
  means "absent there" and is supervised as such; an invalid frame (not annotated, e.g. sparse
  YouTube-VIS labels) is left out of every mask and re-id term. An object is *visible* on a frame
  that is valid with a non-empty mask (``univs.losses.matcher.visible_frames``).
- ``classes[m]`` indexes the batch vocabulary — the C names whose text embeddings produced
  ``class_logits`` — or is −1 (unknown class: no class loss for that object).
- ``track_ids[m]``: identity within the clip (re-id positives/negatives). Re-id contrast is
  computed within each clip, never across clips.
- ``prompt_targets[k]``: prompt query k of the clip is supervised by object ``prompt_targets[k]``;
  −1 means the prompt refers to no object of this clip (only its expression score is supervised,
  as a negative). The decoder pads prompt queries to the batch maximum K; queries
  ``k ≥ len(prompt_targets)`` are padding and ignored.

Terms per prediction entry (``DecoderOutput.learnable[i]`` / ``prompt[i]``; all dec_layers + 1
entries when ``deep_supervision``, else the last), summed over entries:

- learnable stream — Hungarian matching per entry (``univs.losses.matcher``); then
  ``class``: the official class loss, a sigmoid focal term (α 0.5, γ 2, summed over the
  vocabulary) on every query — a matched query's target is the one-hot of its object's class, an
  unmatched query's target is all-negative with weight ``no_object_weight`` (design value 0.1;
  the official loss leaves its ``eos_coef`` unused, i.e. 1.0) — plus ``class_ce_weight`` × the
  softmax cross-entropy of the matched queries over the vocabulary; normalised by the number of
  matched objects of known class. ``mask``/``dice``: point BCE and dice (Mask2Former) on
  ``num_points`` importance-sampled points per matched (query, valid frame), normalised by the
  number of such frames. ``reid``: contrastive loss over the matched queries' per-frame
  embeddings on visible frames (same track on another frame = positive, other tracks =
  negatives). ``reid_l2p``: the same, anchors = learnable items, candidates = prompt items.
- prompt stream — no matching: query k is supervised by its own object on every frame
  (``class`` with the same focal + CE form on the supervised queries only, ``mask``/``dice`` on
  valid frames, ``reid`` among prompt items) and ``expr``: BCE of the RefVOS expression score,
  positive iff the referred object is visible on some frame of the clip.

Re-id similarities are ``cos / τ`` with τ = the model's ``reid_temperature`` when given, else
``LossConfig.reid_temperature``. Total = 0.5 × (learnable + prompt), as architecture.md §5
states the official combination (terms of only one stream — ``reid_l2p``, ``expr`` — are halved
too). Counts used as normalisers are averaged over DDP workers, as Mask2Former does.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from univs.config import LossConfig
from univs.losses.functional import contrastive_reid_loss, point_bce, point_dice, sigmoid_focal_loss
from univs.losses.matcher import HungarianMatcher, visible_frames
from univs.losses.point_sampling import point_sample, sample_binary_masks, uncertain_point_coords
from univs.model.types import ClipTargets, DecoderOutput, QueryPredictions

Assignment = tuple[torch.Tensor, torch.Tensor]  # (query indices, object indices) of one clip
ReidItems = tuple[torch.Tensor, torch.Tensor]  # (n, D) embeddings and (n,) track ids of one clip
Term = tuple[torch.Tensor, int]  # (sum over items, number of items)

STREAM_FACTOR = 0.5  # total = 0.5 × (learnable + prompt)

LOSS_TERMS = ("class_learnable", "mask_learnable", "dice_learnable", "reid_learnable", "reid_l2p",
              "class_prompt", "mask_prompt", "dice_prompt", "reid_prompt", "expr")
"""Names of the returned terms (each returned as ``loss_<name>``, beside the total ``loss``)."""


class SetCriterion(nn.Module):
    """Losses of one training step; see the module docstring for every term."""

    def __init__(self, cfg: LossConfig):
        super().__init__()
        self.cfg = cfg
        self.matcher = HungarianMatcher(cfg)
        self.weights = {
            "class_learnable": cfg.class_weight, "class_prompt": cfg.class_weight,
            "mask_learnable": cfg.mask_weight, "mask_prompt": cfg.mask_weight,
            "dice_learnable": cfg.dice_weight, "dice_prompt": cfg.dice_weight,
            "reid_learnable": cfg.reid_weight, "reid_prompt": cfg.reid_weight,
            "reid_l2p": cfg.reid_weight, "expr": cfg.expr_weight,
        }

    def forward(self, outputs: DecoderOutput, targets: list[ClipTargets],
                reid_temperature: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Weighted loss terms ``loss_<name>`` for ``name`` in :data:`LOSS_TERMS` and their sum ``loss``.

        outputs: the decoder's deep-supervised predictions (B clips); targets: B ``ClipTargets``;
        reid_temperature: scalar τ > 0 (similarities are cos / τ), e.g. the model's learned one.
        Every term is a float32 scalar, already multiplied by its weight and by 0.5 and summed
        over the supervised entries. ``loss`` always has a gradient path to every prediction of
        those entries (zero where nothing supervises it).
        """
        device = outputs.learnable[-1].mask_logits.device
        num_entries = len(outputs.learnable)
        entries = range(num_entries) if self.cfg.deep_supervision else [num_entries - 1]
        if outputs.prompt and len(outputs.prompt) != num_entries:
            raise ValueError(f"{len(outputs.prompt)} prompt entries for {num_entries} learnable ones")
        with torch.autocast(device.type, enabled=False):
            if reid_temperature is None:
                tau = torch.tensor(self.cfg.reid_temperature, device=device)
            else:
                tau = reid_temperature.float().reshape(())
            _check_targets(outputs.learnable[-1], outputs.prompt[-1] if outputs.prompt else None,
                           targets)
            totals = {name: torch.zeros((), device=device) for name in LOSS_TERMS}
            anchor = 0.0 * tau
            for i in entries:
                learnable = _as_float(outputs.learnable[i])
                prompt = _as_float(outputs.prompt[i]) if outputs.prompt else None
                terms = self._entry_terms(learnable, prompt, targets, tau)
                counts = _global_counts([terms[name][1] for name in LOSS_TERMS], device)
                for name, count in zip(LOSS_TERMS, counts):
                    totals[name] = totals[name] + terms[name][0] / count
                anchor = anchor + _graph_anchor(learnable, prompt)
            losses = {f"loss_{name}": STREAM_FACTOR * self.weights[name] * totals[name]
                      for name in LOSS_TERMS}
            losses["loss"] = sum(losses.values()) + anchor
        return losses

    def _entry_terms(self, learnable: QueryPredictions, prompt: QueryPredictions | None,
                    targets: list[ClipTargets], tau: torch.Tensor) -> dict[str, Term]:
        """Unweighted (sum, count) of every term for one prediction entry (float32 inputs)."""
        zero: Term = (learnable.mask_logits.new_zeros(()), 0)
        indices = self.matcher(learnable, targets, prompt)
        terms = {"class_learnable": zero if learnable.class_logits is None else self._class_term(
            learnable.class_logits, targets, indices, self.cfg.no_object_weight)}
        terms["mask_learnable"], terms["dice_learnable"] = self._mask_terms(
            learnable.mask_logits, targets, indices)
        learnable_items = _reid_items(learnable.reid, targets, indices)
        terms["reid_learnable"] = _reid_term(learnable_items, learnable_items, tau, same_set=True)

        if prompt is None or prompt.mask_logits.shape[1] == 0:
            terms.update({name: zero for name in ("class_prompt", "mask_prompt", "dice_prompt",
                                                  "reid_prompt", "reid_l2p", "expr")})
            return terms
        assigned = _prompt_assignments(targets)
        terms["class_prompt"] = zero if prompt.class_logits is None else self._class_term(
            prompt.class_logits, targets, assigned, None)
        terms["mask_prompt"], terms["dice_prompt"] = self._mask_terms(
            prompt.mask_logits, targets, assigned)
        prompt_items = _reid_items(prompt.reid, targets, assigned)
        terms["reid_prompt"] = _reid_term(prompt_items, prompt_items, tau, same_set=True)
        terms["reid_l2p"] = _reid_term(learnable_items, prompt_items, tau, same_set=False)
        terms["expr"] = zero if prompt.expr_scores is None else _expr_term(prompt.expr_scores, targets)
        return terms

    def _class_term(self, logits: torch.Tensor, targets: list[ClipTargets],
                    assigned: list[Assignment], no_object_weight: float | None) -> Term:
        """Focal + CE class loss. logits: (B, Q, C). ``no_object_weight`` None: only assigned
        queries are supervised (prompt stream); else unassigned ones are all-negative."""
        total, count = logits.new_zeros(()), 0
        for b, (target, (queries, objects)) in enumerate(zip(targets, assigned)):
            classes = target.classes[objects]
            known = classes >= 0
            queries, classes = queries[known], classes[known]
            onehot = torch.zeros_like(logits[b])
            onehot[queries, classes] = 1.0
            unassigned = 0.0 if no_object_weight is None else no_object_weight
            weight = logits.new_full((logits.shape[1],), unassigned)
            weight[assigned[b][0]] = 0.0
            weight[queries] = 1.0
            focal = sigmoid_focal_loss(logits[b], onehot, self.cfg.focal_alpha, self.cfg.focal_gamma)
            ce = F.cross_entropy(logits[b, queries], classes, reduction="sum")
            total = total + (focal * weight).sum() + self.cfg.class_ce_weight * ce
            count += len(queries)
        return total, count

    def _mask_terms(self, mask_logits: torch.Tensor, targets: list[ClipTargets],
                    assigned: list[Assignment]) -> tuple[Term, Term]:
        """Point BCE and dice over every assigned (query, valid frame). mask_logits: (B, Q, T, h, w)."""
        num_t = mask_logits.shape[2]
        logits, frames = [], []
        for b, (target, (queries, objects)) in enumerate(zip(targets, assigned)):
            pair, t = target.valid[objects].nonzero(as_tuple=True)
            logits.append(mask_logits[b, queries[pair], t])
            frames.append(objects[pair] * num_t + t)  # rows of masks.flatten(0, 1)
        num_items = sum(len(f) for f in frames)
        if num_items == 0:
            zero = mask_logits.new_zeros(())
            return (zero, 0), (zero, 0)
        pred = torch.cat(logits).unsqueeze(1)  # (N, 1, h, w)
        with torch.no_grad():
            coords = uncertain_point_coords(pred, self.cfg.num_points, self.cfg.oversample_ratio,
                                            self.cfg.importance_sample_ratio)
            labels, start = [], 0
            for target, rows in zip(targets, frames):
                labels.append(sample_binary_masks(target.masks.flatten(0, 1),
                                                  coords[start:start + len(rows)], rows))
                start += len(rows)
            point_labels = torch.cat(labels)
        point_logits = point_sample(pred, coords).squeeze(1)
        return ((point_bce(point_logits, point_labels).sum(), num_items),
                (point_dice(point_logits, point_labels).sum(), num_items))


def _prompt_assignments(targets: list[ClipTargets]) -> list[Assignment]:
    """Prompt query k ↔ object ``prompt_targets[k]`` for every k whose target is not −1."""
    out = []
    for target in targets:
        referred = target.prompt_targets.to(target.masks.device)
        queries = torch.arange(len(referred), device=referred.device)
        keep = referred >= 0
        out.append((queries[keep], referred[keep]))
    return out


def _reid_items(reid: torch.Tensor, targets: list[ClipTargets],
                assigned: list[Assignment]) -> list[ReidItems]:
    """Per clip, the embeddings (n, D) of assigned queries on their object's visible frames and
    the object's track id (n,). reid: (B, Q, T, D)."""
    items = []
    for b, (target, (queries, objects)) in enumerate(zip(targets, assigned)):
        pair, t = visible_frames(target)[objects].nonzero(as_tuple=True)
        items.append((reid[b, queries[pair], t], target.track_ids[objects[pair]]))
    return items


def _reid_term(anchors: list[ReidItems], candidates: list[ReidItems], tau: torch.Tensor,
               same_set: bool) -> Term:
    """Contrastive re-id loss within each clip, summed over clips."""
    total, count = tau.new_zeros(()), 0
    for (a_emb, a_ids), (c_emb, c_ids) in zip(anchors, candidates):
        loss, n = contrastive_reid_loss(a_emb, a_ids, c_emb, c_ids, tau, same_set)
        total, count = total + loss, count + n
    return total, count


def _expr_term(scores: torch.Tensor, targets: list[ClipTargets]) -> Term:
    """BCE of expression scores (B, K): positive iff the referred object is visible in the clip."""
    total, count = scores.new_zeros(()), 0
    for b, target in enumerate(targets):
        referred = target.prompt_targets.to(target.masks.device)
        positive = torch.zeros(len(referred), dtype=torch.bool, device=referred.device)
        known = referred >= 0
        positive[known] = visible_frames(target)[referred[known]].any(dim=1)
        total = total + F.binary_cross_entropy_with_logits(
            scores[b, : len(referred)], positive.to(scores.dtype), reduction="sum")
        count += len(referred)
    return total, count


def _global_counts(counts: list[int], device: torch.device) -> list[float]:
    """Item counts averaged over DDP workers (one all-reduce), each at least 1."""
    values = torch.tensor(counts, dtype=torch.float32, device=device)
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(values)
        values = values / dist.get_world_size()
    return values.clamp(min=1.0).tolist()


def _as_float(pred: QueryPredictions) -> QueryPredictions:
    """The predictions in float32 (losses are computed in fp32 under bf16 autocast)."""
    return QueryPredictions(
        mask_logits=pred.mask_logits.float(),
        class_logits=None if pred.class_logits is None else pred.class_logits.float(),
        reid=pred.reid.float(),
        expr_scores=None if pred.expr_scores is None else pred.expr_scores.float())


def _graph_anchor(*preds: QueryPredictions | None) -> torch.Tensor:
    """0 × the sum of every prediction: keeps each output in the graph (zero gradient) so a clip
    without objects or prompts still back-propagates and DDP sees every parameter used."""
    tensors = [t for p in preds if p is not None
               for t in (p.mask_logits, p.class_logits, p.reid, p.expr_scores) if t is not None]
    return 0.0 * sum(t.sum() for t in tensors)


def _check_targets(learnable: QueryPredictions, prompt: QueryPredictions | None,
                   targets: list[ClipTargets]) -> None:
    """Raise ValueError when the targets do not fit the predictions' shapes."""
    batch, _, num_t = learnable.mask_logits.shape[:3]
    num_prompt = 0 if prompt is None else prompt.mask_logits.shape[1]
    num_classes = None if learnable.class_logits is None else learnable.class_logits.shape[-1]
    if len(targets) != batch:
        raise ValueError(f"{len(targets)} ClipTargets for a batch of {batch} clips")
    for b, t in enumerate(targets):
        m = t.masks.shape[0]
        if t.masks.dim() != 4 or t.masks.shape[1] != num_t or t.valid.shape != (m, num_t):
            raise ValueError(f"clip {b}: masks {tuple(t.masks.shape)} / valid {tuple(t.valid.shape)}"
                             f" do not match (M, {num_t}, H, W) / (M, {num_t})")
        if t.classes.shape != (m,) or t.track_ids.shape != (m,):
            raise ValueError(f"clip {b}: classes and track_ids must have shape ({m},)")
        if num_classes is not None and m > 0 and int(t.classes.max()) >= num_classes:
            raise ValueError(f"clip {b}: class {int(t.classes.max())} outside a vocabulary of "
                             f"{num_classes}")
        if len(t.prompt_targets) > num_prompt:
            raise ValueError(f"clip {b}: {len(t.prompt_targets)} prompt targets for "
                             f"{num_prompt} prompt queries")
        if len(t.prompt_targets) > 0 and int(t.prompt_targets.max()) >= m:
            raise ValueError(f"clip {b}: prompt target {int(t.prompt_targets.max())} of {m} objects")
