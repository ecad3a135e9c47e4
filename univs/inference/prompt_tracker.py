"""Prompt-guided tracking (VOS, PVOS, RefVOS) frame by frame (arXiv 2402.18115 §3.3; architecture.md
§6, §6a "VOS/PVOS memory").

On each frame: the frame is encoded once; prompts given on it (re)anchor their targets — the
prompt's tokens become the target's first-appearance slot and its recent slots are emptied; all
targets are decoded together as prompt queries; their masks compete per pixel with strength
``sigmoid(logit) × sim² × quality`` (sim: the temporally weighted cosine similarity of the
prediction's re-id embedding to the target's recent ones; quality: the mean foreground probability),
and a target whose surviving area is under ``min_survival`` of its claim is empty on the frame;
a mask prompt is the target's mask on its own frame and wins its pixels over every other target.
Finally each target's mask enters its memory (R tokens sampled from it, oldest slot out) when its
score ≥ ``memory_score`` and sim ≥ ``memory_similarity``.

RefVOS targets are expressions: their anchor holds the text tokens, their score is multiplied by
the expression probability, and (official) they do not compete for pixels, since two expressions
may name the same object. A text target's visual slots can lock it onto the wrong object; with
``regrounding_iou`` (an extension) each such target is decoded also from its expression tokens
alone, in the same pass, and re-grounds when the two masks disagree and the expression alone is
the more probable match: its visual slots are forgotten and the expression's prediction is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from univs.config import InferenceConfig
from univs.inference.engine import FrameEngine, StreamPredictions
from univs.inference.frames import Geometry
from univs.inference.memory import TargetMemory
from univs.inference.postprocess import compete, mask_iou, mask_quality
from univs.inference.prompts import Prompt, TextPrompt, VisualPrompt, prompt_regions
from univs.inference.types import FrameResult
from univs.model.prompt_encoder import cat_prompt_tokens


@dataclass
class PromptTarget:
    """A prompted target: its anchor prompt (given on ``prompt.frame``), its memory, and ``since``,
    the frame of its first prompt (it exists from there on)."""

    obj_id: int
    prompt: Prompt
    memory: TargetMemory
    since: int


def empty_result(frame_idx: int, size: tuple[int, int]) -> FrameResult:
    """A frame without targets."""
    return FrameResult(frame_idx, np.zeros((0, *size), bool), [], np.zeros(0, np.float32), np.zeros(0, np.int64))


class PromptTracker:
    """The targets of one prompt-guided video and the per-frame step that follows them."""

    def __init__(self, engine: FrameEngine, geometry: Geometry, cfg: InferenceConfig):
        self.engine = engine
        self.geometry = geometry
        self.cfg = cfg
        self.targets: dict[int, PromptTarget] = {}

    def remove(self, obj_id: int) -> None:
        self.targets.pop(obj_id, None)

    def _anchor(self, obj_id: int, prompt: Prompt) -> None:
        """(Re)start target ``obj_id`` from ``prompt`` on the newest frame: its tokens are the anchor
        slot; recent slots and embeddings are forgotten."""
        if isinstance(prompt, TextPrompt):
            tokens = self.engine.text_tokens(prompt.text)
        else:
            regions = prompt_regions(prompt, self.geometry, self.engine.num_points, self.engine.device,
                                     self.engine.generator)
            tokens = self.engine.visual_tokens(regions)
        memory = TargetMemory(tokens, self.cfg.memory_slots, self.cfg.reid_frames)
        known = self.targets.get(obj_id)
        since = prompt.frame if known is None else min(known.since, prompt.frame)
        self.targets[obj_id] = PromptTarget(obj_id, prompt, memory, since)

    def step(self, frame_idx: int, frame: np.ndarray, prompts: dict[int, Prompt]) -> FrameResult:
        """Process frame ``frame_idx`` ((H, W, 3) uint8) with the prompts given on it (obj id →
        prompt) and return every target's mask at the original size."""
        g, device = self.geometry, self.engine.device
        if not self.targets and not prompts:
            return empty_result(frame_idx, g.original)
        self.engine.encode(frame_idx, g.image(frame, device))
        for obj_id, prompt in prompts.items():
            self._anchor(obj_id, prompt)
        ids = list(self.targets)
        targets = [self.targets[i] for i in ids]
        pred = self._decode(targets)
        h4, w4 = g.valid_logits_size
        quality = mask_quality(pred.logits[:, :h4, :w4])
        sims = torch.tensor([t.memory.similarity(e) for t, e in zip(targets, pred.reid)], device=device)
        scores = quality.clone()
        for k, t in enumerate(targets):
            if isinstance(t.prompt, TextPrompt) and pred.expr is not None:
                scores[k] = scores[k] * pred.expr[k].sigmoid()
        logits = g.logits_to(pred.logits, g.original)
        if self.cfg.pixel_competition:
            masks = compete(logits, quality * sims.clamp(min=0) ** 2, self.cfg.min_survival)
        else:
            masks = logits > 0
        given = [k for k, i in enumerate(ids) if i in prompts and isinstance(prompts[i], VisualPrompt)
                 and prompts[i].kind == "mask"]
        for k in given:
            m = torch.from_numpy(prompts[ids[k]].mask).to(device)
            masks[:, m] = False
            masks[k] = m
            scores[k] = 1.0
        self._remember(ids, targets, masks, scores, sims, pred.reid, set(given))
        scores = torch.where(masks.flatten(1).any(1), scores, torch.zeros_like(scores))
        return FrameResult(frame_idx, masks.cpu().numpy(), ids, scores.float().cpu().numpy(),
                           np.full(len(ids), -1, np.int64))

    def _decode(self, targets: list[PromptTarget]) -> StreamPredictions:
        """The K targets' predictions on the newest frame, in target order. One decoder pass reads
        every pool and, with ``regrounding_iou``, the expression tokens alone of each text target
        that has visual slots; such a target re-grounds (see the module docstring)."""
        texts = [] if self.cfg.regrounding_iou is None else \
            [k for k, t in enumerate(targets) if isinstance(t.prompt, TextPrompt) and t.memory.recent]
        pools = [t.memory.pool() for t in targets] + [targets[k].memory.anchor for k in texts]
        pred = self.engine.decode(cat_prompt_tokens(pools)).prompt
        n, device = len(targets), self.engine.device
        rows = torch.arange(n, device=device)
        if texts:  # a text anchor carries its sentence, so the expression scores exist
            h4, w4 = self.geometry.valid_logits_size
            masks = pred.logits[:, :h4, :w4] > 0
            pooled = torch.tensor(texts, device=device)
            alone = torch.arange(n, n + len(texts), device=device)
            disagree = mask_iou(masks[pooled], masks[alone]).diagonal() < self.cfg.regrounding_iou
            switch = disagree & (pred.expr[alone] > pred.expr[pooled])
            rows[pooled[switch]] = alone[switch]
            for k in pooled[switch].tolist():
                targets[k].memory.forget_recent()
        return StreamPredictions(pred.logits[rows], pred.reid[rows],
                                 None if pred.class_logits is None else pred.class_logits[rows],
                                 None if pred.expr is None else pred.expr[rows])

    def _remember(self, ids: list[int], targets: list[PromptTarget], masks: torch.Tensor, scores: torch.Tensor,
                  sims: torch.Tensor, reid: torch.Tensor, given: set[int]) -> None:
        """Memory update: a slot from each accepted mask (not from a mask prompt's own frame, whose
        anchor already holds it), and the re-id embedding of every accepted or prompted frame."""
        present = masks.flatten(1).any(1)
        accept = present & (scores >= self.cfg.memory_score) & (sims >= self.cfg.memory_similarity)
        slot_rows = [k for k in range(len(ids)) if bool(accept[k]) and k not in given]
        if slot_rows:
            processing = self.geometry.masks_to_processing(masks[slot_rows])
            for k, slot in zip(slot_rows, self.engine.mask_slots(processing)):
                targets[k].memory.add_slot(slot)
        for k in range(len(ids)):
            if bool(accept[k]) or k in given:
                targets[k].memory.add_embedding(reid[k])
