"""Segmentation and Tracking Quality (STQ, Weber et al. 2021) as VIPSeg feeds it.

Sources: VIPSeg-Dataset/VIPSeg-Dataset @ 92e1459db13d80c8e96e167c7c2e8ef2c9ee9a2e,
``ClipPanoFCN/eval_stq_vspw.py`` with its bundled ``segmentation_and_tracking_quality.py``
(deeplab2's 2021 numpy ``STQuality``; google-research/deeplab2 @ 64bc1c1 agrees to < 1e-7).
Settings: 124 classes, ignore label 255 (mapped to an extra class 124), label = semantic·2¹⁶ +
instance, offset 2²⁴, things = categories with ``isthing`` = 1.

Labels of a frame: semantic = the segment's ``category_id`` (255 for pixels of an id not listed in
that frame, id 0 included); instance = the position of the segment id in the video's
first-appearance order over the JSON listings (255 where unlisted). Predictions likewise.

- SQ: one semantic confusion matrix (rows GT, columns prediction) over all frames of all videos,
  GT rows of class 124 dropped; IoU_c = TP/(TP+FP+FN); SQ = mean over the classes with a
  non-zero union, column 124 included (GT pixels predicted unlabelled give it IoU 0).
- AQ: GT thing pixels with instance ≠ 0 (instance 0 of a thing class is "crowd" and dropped —
  so a video whose first listed segment is a thing loses that segment); predicted thing pixels
  not on GT crowd. Per video, with |g|, |p| tube sizes over all frames and TPA(g, p) their
  overlap: AQ_video = Σ_g 1/|g| Σ_p TPA·TPA/(|p|+|g|−TPA). AQ = Σ AQ_video / Σ #GT tubes.
- STQ = sqrt(AQ·SQ). Per video: AQ_video/#tubes, SQ of its own confusion, their geometric mean.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from univs.evaluation.vpq import PanopticFrame

NUM_CLASSES = 124
IGNORE_LABEL = 255
LABEL_SHIFT = 16
EPSILON = 1e-15


@dataclass
class VideoSTQ:
    """One video's STQ accumulators."""

    confusion: np.ndarray  # (125, 125) int64, GT rows of class 124 already dropped
    aq_sum: float
    tubes: int


def _instances(listings) -> dict[int, int]:
    order: dict[int, int] = {}
    for ids in listings:
        for sid in ids:
            order.setdefault(sid, len(order))
    return order


def video_stq(frames: list[PanopticFrame], things: set[int]) -> VideoSTQ:
    """Accumulate one video's semantic confusion and association terms."""
    gt_inst = _instances(fr.gt_segments for fr in frames)
    pred_inst = _instances(fr.pred_segments for fr in frames)
    confusion = np.zeros((NUM_CLASSES + 1, NUM_CLASSES + 1), dtype=np.int64)
    gt_size: dict[int, int] = defaultdict(int)
    pred_size: dict[int, int] = defaultdict(int)
    overlap: dict[tuple[int, int], int] = defaultdict(int)
    for fr in frames:
        for (g, p), count in fr.pairs.items():
            g_sem = fr.gt_semantic.get(g, IGNORE_LABEL)
            p_sem = fr.pred_semantic.get(p, IGNORE_LABEL)
            g_ins = gt_inst[g] if g in fr.gt_semantic else IGNORE_LABEL
            p_ins = pred_inst[p] if p in fr.pred_semantic else IGNORE_LABEL
            confusion[min(g_sem, NUM_CLASSES), min(p_sem, NUM_CLASSES)] += count
            g_thing, p_thing = g_sem in things, p_sem in things
            crowd = g_thing and g_ins == 0
            g_label = (g_sem << LABEL_SHIFT) + g_ins
            p_label = (p_sem << LABEL_SHIFT) + p_ins
            if g_thing and not crowd:
                gt_size[g_label] += count
            if p_thing and not crowd:
                pred_size[p_label] += count
                if g_thing:
                    overlap[g_label, p_label] += count
    confusion[NUM_CLASSES, :] = 0
    aq = 0.0
    for g_label, g_n in gt_size.items():
        inner = 0.0
        for p_label, p_n in pred_size.items():
            tpa = overlap.get((g_label, p_label))
            if tpa is not None:
                inner += tpa * (tpa / (tpa + (p_n - tpa) + (g_n - tpa)))
        aq += 1.0 / g_n * inner
    return VideoSTQ(confusion, aq, len(gt_size))


def mean_iou(confusion: np.ndarray) -> float:
    """Mean IoU over the classes with a non-zero union (STQ's segmentation term)."""
    tp = confusion.diagonal()
    union = tp + (confusion.sum(axis=0) - tp) + (confusion.sum(axis=1) - tp)
    n = np.count_nonzero(union)
    ious = tp.astype(np.double) / np.maximum(union, EPSILON).astype(np.double)
    return float(np.sum(ious) / n) if n else float("nan")


def stq_metrics(videos: list[VideoSTQ]) -> tuple[dict[str, float], list[dict[str, float]]]:
    """Dataset ``STQ``/``AQ``/``SQ`` and per-video values."""
    aq = sum(v.aq_sum for v in videos) / max(sum(v.tubes for v in videos), EPSILON)
    sq = mean_iou(sum((v.confusion for v in videos), np.zeros_like(videos[0].confusion)))
    per_video = []
    for v in videos:
        v_aq, v_sq = v.aq_sum / max(v.tubes, EPSILON), mean_iou(v.confusion)
        per_video.append({"STQ": float(np.sqrt(v_aq * v_sq)), "AQ": v_aq, "SQ": v_sq})
    return {"STQ": float(np.sqrt(aq * sq)), "AQ": float(aq), "SQ": sq}, per_video
