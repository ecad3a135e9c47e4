"""Category-guided inference (VIS, VSS, VPS): detect, associate, track with prompt queries
(arXiv 2402.18115 §3.3, §4; architecture.md §6 steps 1–4 and §6a).

Per frame, one decoder pass runs the learnable queries (detection) and one prompt query per known
target (tracking from its memory pool):

1. **Tracked targets.** A target's prediction counts only if its re-id embedding is consistent with
   its recent ones (temporally weighted cosine ≥ ``consistency``, halved on the target's first
   tracked frame); then its class logits become the mean of the old and the new ones.
2. **Detection** (every ``detect_every`` frames): score = class probability × mask stability;
   detections under ``class_threshold`` or with stability ≤ ``min_stability`` are dropped; thing
   duplicates are suppressed by box NMS (``box_nms``), stuff duplicates by mask NMS
   (``stuff_mask_nms``) and then to one per class.
3. **Association.** Thing detections meet the thing targets through BiSoftmax over their re-id
   embeddings (:mod:`univs.inference.association`): a match refreshes the target's class logits (mean
   of old and new) and embedding, and with S_bi > 2·τ_new the detection's mask joins the target's
   own (logits averaged, or the detection's alone when the target's own prediction failed its
   gate). A stuff detection belongs to the target of its class (one target per stuff class).
   An unmatched detection starts a **new** target if its score exceeds ``first_frame_score`` (first
   frame) or ``new_object_score`` and its mask IoU with every target's mask on the frame is under
   ``new_object_max_iou``; its mask is the target's anchor slot.
4. **Assembly.** Each pixel goes to the target with the highest class score × mask probability; a
   target keeps its mask only if ``min_survival`` of it survives (VIS 0.5); VSS covers every pixel
   (semantic map), VPS leaves unclaimed pixels void. Visible targets then update their memory
   (slot from their final mask, score ≥ ``memory_score``) and their video-level statistics: the VIS
   video score is the mean class probability over the frames where the target is visible, and a
   thing target reports its ``classes_per_track`` most probable classes.

Results list the targets visible on the frame; :meth:`CategoryTracker.tracks` gives the
video-level categories and scores at any time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from univs.config import InferenceConfig
from univs.inference.association import associate
from univs.inference.engine import FrameEngine, StreamPredictions
from univs.inference.frames import Geometry
from univs.inference.memory import TargetMemory, batch_pools
from univs.inference.postprocess import (box_iou, compete, mask_boxes, mask_iou, mask_quality, mask_stability,
                                         nms)
from univs.inference.types import FrameResult, TrackSummary


@dataclass
class CategoryTarget:
    """A detected target. class_logits: (C,) running class logits; prob_sum: (C,) sum of its class
    probabilities over the frames where it was visible; stuff targets keep their class ``stuff_class``."""

    obj_id: int
    memory: TargetMemory
    class_logits: torch.Tensor
    prob_sum: torch.Tensor
    visible: int = 0
    stuff_class: int | None = None

    @property
    def class_id(self) -> int:
        return int(self.class_logits.argmax()) if self.stuff_class is None else self.stuff_class

    def class_prob(self) -> float:
        return float(self.class_logits[self.class_id].sigmoid())


@dataclass
class Detections:
    """Detections of one frame after NMS, best first. logits: (M, H4, W4) full logits at the mask stride;
    reid: (M, D); class_logits: (M, C); class_id, score: (M,); stuff: (M,) bool."""

    logits: torch.Tensor
    reid: torch.Tensor
    class_logits: torch.Tensor
    class_id: torch.Tensor
    score: torch.Tensor
    stuff: torch.Tensor

    def take(self, index: torch.Tensor) -> "Detections":
        return Detections(self.logits[index], self.reid[index], self.class_logits[index], self.class_id[index],
                          self.score[index], self.stuff[index])


class CategoryTracker:
    """Targets of one category-guided video and the per-frame detect–associate–track step.

    stuff: (C,) bool over the vocabulary, True for classes segmented as one target per class.
    """

    def __init__(self, engine: FrameEngine, geometry: Geometry, cfg: InferenceConfig, stuff: torch.Tensor):
        if engine.class_embeddings is None:
            raise ValueError("category-guided inference needs the vocabulary's class embeddings")
        self.engine = engine
        self.geometry = geometry
        self.cfg = cfg
        self.stuff = stuff.to(engine.device)
        self.targets: list[CategoryTarget] = []
        self.frames_seen = 0
        self._next_id = 1

    # ------------------------------------------------------------------ detection

    def detect(self, learnable: StreamPredictions) -> Detections:
        """Scored, thresholded, de-duplicated detections of the learnable queries."""
        h4, w4 = self.geometry.valid_logits_size
        crop = learnable.logits[:, :h4, :w4]
        prob, cls = learnable.class_logits.sigmoid().max(1)
        stability = mask_stability(crop, self.cfg.stability_offset)
        score = prob * stability
        keep = ((score > self.cfg.class_threshold) & (stability > self.cfg.min_stability)
                & (crop > 0).flatten(1).any(1)).nonzero().flatten()
        dets = Detections(learnable.logits[keep], learnable.reid[keep], learnable.class_logits[keep], cls[keep],
                          score[keep], self.stuff[cls[keep]])
        masks = dets.logits[:, :h4, :w4] > 0
        things = (~dets.stuff).nonzero().flatten()
        stuff = dets.stuff.nonzero().flatten()
        boxes = mask_boxes(masks[things])
        kept_things = things[nms(dets.score[things], box_iou(boxes, boxes), self.cfg.box_nms)]
        kept_stuff = stuff[nms(dets.score[stuff], mask_iou(masks[stuff], masks[stuff]), self.cfg.stuff_mask_nms)]
        seen: set[int] = set()
        one_per_class = []
        for j in kept_stuff.tolist():  # best first
            if int(dets.class_id[j]) not in seen:
                seen.add(int(dets.class_id[j]))
                one_per_class.append(j)
        index = torch.cat([kept_things, torch.tensor(one_per_class, dtype=torch.long, device=things.device)])
        return dets.take(index[dets.score[index].argsort(descending=True)])

    # ------------------------------------------------------------------ per frame

    def step(self, frame_idx: int, frame: np.ndarray) -> FrameResult:
        """Process one frame ((H, W, 3) uint8) → the targets visible on it, at the original size."""
        g, cfg, device = self.geometry, self.cfg, self.engine.device
        self.engine.encode(frame_idx, g.image(frame, device))
        targets = list(self.targets)
        pred = self.engine.decode(batch_pools([x.memory for x in targets]))
        h4, w4 = g.valid_logits_size
        own = pred.prompt
        logits = own.logits.clone()
        ok = torch.zeros(len(targets), dtype=torch.bool, device=device)
        for k, x in enumerate(targets):
            gate = cfg.consistency / 2 if len(x.memory.reid) <= 1 else cfg.consistency
            ok[k] = x.memory.similarity(own.reid[k]) >= gate and bool((own.logits[k, :h4, :w4] > 0).any())
            if ok[k]:
                x.class_logits = 0.5 * (x.class_logits + own.class_logits[k])
        evidence = ok.clone()
        embeddings = {k: own.reid[k] for k in range(len(targets)) if ok[k]}
        new = self._detect_and_associate(pred, targets, logits, ok, evidence, embeddings) \
            if self.frames_seen % cfg.detect_every == 0 else None

        rows = evidence.nonzero().flatten().tolist()
        frame_logits = [logits[rows]]
        frame_targets: list[CategoryTarget | None] = [targets[k] for k in rows]
        weights = [torch.tensor([targets[k].class_prob() for k in rows], device=device)]
        if new is not None and len(new.score):
            frame_logits.append(new.logits)
            frame_targets.extend([None] * len(new.score))
            weights.append(new.class_logits.sigmoid().gather(1, new.class_id[:, None])[:, 0])
        all_logits = torch.cat(frame_logits)
        weight = torch.cat(weights) * mask_quality(all_logits[:, :h4, :w4])
        full = g.logits_to(all_logits, g.original)
        if cfg.pixel_competition:
            masks = compete(full, weight, cfg.min_survival, cfg.cover_all_pixels)
        else:
            masks = full > 0
        if new is not None and len(new.score):
            frame_targets[len(rows):] = self._start(new, g.logits_to(new.logits, g.processing) > 0)
        fresh = len(frame_targets) - len(rows)
        self._remember(frame_targets, masks, weight, [embeddings.get(k) for k in rows] + [None] * fresh)
        self.frames_seen += 1
        visible = masks.flatten(1).any(1)
        index = visible.nonzero().flatten().tolist()
        return FrameResult(
            frame_idx, masks[index].cpu().numpy(), [frame_targets[i].obj_id for i in index],
            weight[index].float().cpu().numpy(),
            np.array([frame_targets[i].class_id for i in index], np.int64))

    def _detect_and_associate(self, pred, targets: list[CategoryTarget], logits: torch.Tensor, ok: torch.Tensor,
                              evidence: torch.Tensor, embeddings: dict[int, torch.Tensor]) -> Detections:
        """Steps 2–3: detections update their targets in place (``logits``, ``evidence``,
        ``embeddings``); returns the detections that start new targets."""
        cfg = self.cfg
        h4, w4 = self.geometry.valid_logits_size
        dets = self.detect(pred.learnable)
        used: set[int] = set()

        def lend(k: int, j: int) -> None:
            logits[k] = 0.5 * (logits[k] + dets.logits[j]) if ok[k] else dets.logits[j]
            evidence[k] = True
            embeddings[k] = dets.reid[j]

        things_t = [k for k, x in enumerate(targets) if x.stuff_class is None and x.memory.reid]
        things_d = (~dets.stuff).nonzero().flatten().tolist()
        assoc = associate([targets[k].memory.history() for k in things_t], dets.reid[things_d],
                          pred.reid_temperature, cfg.bisoftmax_threshold)
        for a, b, s in assoc.pairs:
            k, j = things_t[a], things_d[b]
            used.add(j)
            targets[k].class_logits = 0.5 * (targets[k].class_logits + dets.class_logits[j])
            embeddings[k] = dets.reid[j]
            if s > 2 * cfg.bisoftmax_threshold:
                lend(k, j)
        by_class = {x.stuff_class: k for k, x in enumerate(targets) if x.stuff_class is not None}
        for j in dets.stuff.nonzero().flatten().tolist():
            k = by_class.get(int(dets.class_id[j]))
            if k is not None:
                used.add(j)
                lend(k, j)

        threshold = cfg.first_frame_score if self.frames_seen == 0 else cfg.new_object_score
        taken = logits[evidence][:, :h4, :w4] > 0
        fresh = []
        for j in range(len(dets.score)):
            if j in used or float(dets.score[j]) <= threshold:
                continue
            if len(targets) + len(fresh) >= cfg.max_targets:
                break
            mask = dets.logits[j:j + 1, :h4, :w4] > 0
            if len(taken) and float(mask_iou(mask, taken).max()) >= cfg.new_object_max_iou:
                continue
            fresh.append(j)
            taken = torch.cat([taken, mask])
        return dets.take(torch.tensor(fresh, dtype=torch.long, device=dets.score.device))

    def _start(self, new: Detections, masks: torch.Tensor) -> list[CategoryTarget]:
        """New targets from detections; masks: (M, h, w) bool processing-size anchor masks."""
        out = []
        for j, slot in enumerate(self.engine.mask_slots(masks)):
            memory = TargetMemory(slot, self.cfg.memory_slots, self.cfg.reid_frames)
            memory.add_embedding(new.reid[j])
            stuff_class = int(new.class_id[j]) if bool(new.stuff[j]) else None
            target = CategoryTarget(self._next_id, memory, new.class_logits[j].clone(),
                                    torch.zeros_like(new.class_logits[j]), stuff_class=stuff_class)
            self._next_id += 1
            self.targets.append(target)
            out.append(target)
        return out

    def _remember(self, targets: list[CategoryTarget], masks: torch.Tensor, scores: torch.Tensor,
                  embeddings: list[torch.Tensor | None]) -> None:
        """Visible targets: video statistics, a memory slot (score ≥ ``memory_score``) and the frame's
        re-id embedding. New targets (embedding None) take neither: their anchor holds this frame."""
        visible = masks.flatten(1).any(1)
        slot_rows = []
        for i, x in enumerate(targets):
            if not bool(visible[i]):
                continue
            x.visible += 1
            x.prob_sum += x.class_logits.sigmoid()
            if embeddings[i] is None:
                continue
            x.memory.add_embedding(embeddings[i])
            if float(scores[i]) >= self.cfg.memory_score:
                slot_rows.append(i)
        if slot_rows:
            processing = self.geometry.masks_to_processing(masks[slot_rows])
            for i, slot in zip(slot_rows, self.engine.mask_slots(processing)):
                targets[i].memory.add_slot(slot)

    def tracks(self) -> list[TrackSummary]:
        """Video-level category and score of every target seen so far (YouTube-VIS results)."""
        out = []
        for x in self.targets:
            if x.visible == 0:
                continue
            mean = x.prob_sum / x.visible
            if x.stuff_class is not None:
                out.append(TrackSummary(x.obj_id, x.stuff_class, float(mean[x.stuff_class]), x.visible, True))
                continue
            top = mean.topk(min(self.cfg.classes_per_track, len(mean)))
            (cls, *others), (score, *rest) = top.indices.tolist(), top.values.tolist()
            out.append(TrackSummary(x.obj_id, cls, score, x.visible, alternatives=tuple(zip(others, rest))))
        return out
