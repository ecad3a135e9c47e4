"""Video Panoptic Quality (VPQ) as VIPSeg's evaluator computes it.

Source: VIPSeg-Dataset/VIPSeg-Dataset @ 92e1459db13d80c8e96e167c7c2e8ef2c9ee9a2e,
``ClipPanoFCN/eval_vpq_vspw.py`` (the script VIPSeg's ``run_eval.sh`` runs).

For n ∈ {1, 2, 4, 6, 8} annotated frames (reported as k = 5·(n−1) ∈ {0, 5, 15, 25, 35}):
1. Each video of L frames gives the windows starting at 0..L−n (none if L < n).
2. In a window a tube is one segment id's pixels over the n frames. A GT tube's area is the sum
   of its JSON ``area`` fields; a predicted tube's its pixel count. Intersections are counted for
   every (GT id, predicted id) pair, GT id 0 (void) included.
3. GT tube g and predicted tube p match when they have the same category, g is not crowd, and
   IoU = |g∩p| / (|p| + |g| − |g∩p| − |p∩void|) > 0.5 (a unique match). A match adds 1 TP and
   its IoU to the category.
4. Every unmatched non-crowd GT tube is a FN. An unmatched predicted tube is a FP unless
   (|p∩void| + |p∩C|)/|p| > 0.5, C being the crowd GT tube of p's category (the last listed one).
5. TP/FP/FN/IoU sums accumulate per category over all windows of all videos.
6. PQ_c = ΣIoU_c / (TP_c + FP_c/2 + FN_c/2) over the GT categories with TP+FP+FN > 0;
   VPQ@k = 100 · mean PQ_c (thing / stuff: the mean over isthing = 1 / 0 categories). Where no
   category qualifies (every video shorter than n frames, or no thing/stuff tube at all) the
   official script divides by zero; so this raises an error.
7. VPQ = mean of the five VPQ@k (likewise VPQ_thing, VPQ_stuff).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from univs.errors import InputError

WINDOWS = (1, 2, 4, 6, 8)
VOID = 0


@dataclass
class PanopticFrame:
    """What VPQ and STQ need from one frame (no pixels).

    ``gt_segments``: id → (category, iscrowd, JSON area), in listing order (duplicate ids summed).
    ``pred_segments``: id → (category, pixel count), in listing order.
    ``gt_semantic``/``pred_semantic``: id → category as painted (the last listing wins).
    ``pairs``: (GT id, predicted id) → pixel count over the frame.
    """

    gt_segments: dict[int, tuple[int, bool, int]]
    pred_segments: dict[int, tuple[int, int]]
    gt_semantic: dict[int, int]
    pred_semantic: dict[int, int]
    pairs: dict[tuple[int, int], int]


CategoryStats = dict[int, list]  # category -> [iou sum, tp, fp, fn]


def window_stats(frames: list[PanopticFrame], stats: CategoryStats, gt_json: Path) -> None:
    """Match the tubes of one window of frames and add TP/FP/FN/IoU to ``stats``.

    ``gt_json`` names the GT file in the error raised when a JSON area is below its pixel count.
    """
    gt_tubes: dict[int, list] = {}
    pred_tubes: dict[int, list] = {}
    pairs: dict[tuple[int, int], int] = defaultdict(int)
    for fr in frames:
        for sid, (cat, crowd, area) in fr.gt_segments.items():
            if sid in gt_tubes:
                gt_tubes[sid][2] += area
            else:
                gt_tubes[sid] = [cat, crowd, area]
        for sid, (cat, area) in fr.pred_segments.items():
            if sid in pred_tubes:
                pred_tubes[sid][1] += area
            else:
                pred_tubes[sid] = [cat, area]
        for key, count in fr.pairs.items():
            pairs[key] += count
    gt_matched, pred_matched = set(), set()
    for (g, p), inter in pairs.items():
        if g not in gt_tubes or p not in pred_tubes:
            continue
        g_cat, g_crowd, g_area = gt_tubes[g]
        p_cat, p_area = pred_tubes[p]
        if g_crowd or g_cat != p_cat:
            continue
        union = p_area + g_area - inter - pairs.get((VOID, p), 0)
        iou = inter / union if union > 0 else float("inf")
        if iou > 1.0:
            raise InputError(f"segment {g}: its JSON areas ({g_area} over the window) are smaller than "
                             "its pixel count", gt_json)
        if iou > 0.5:
            s = stats[g_cat]
            s[0] += iou
            s[1] += 1
            gt_matched.add(g)
            pred_matched.add(p)
    crowd_of: dict[int, int] = {}
    for g, (cat, crowd, _) in gt_tubes.items():
        if g in gt_matched:
            continue
        if crowd:
            crowd_of[cat] = g
            continue
        stats[cat][3] += 1
    for p, (cat, area) in pred_tubes.items():
        if p in pred_matched:
            continue
        ignored = pairs.get((VOID, p), 0)
        if cat in crowd_of:
            ignored += pairs.get((crowd_of[cat], p), 0)
        if ignored / area > 0.5:
            continue
        stats[cat][2] += 1


def video_vpq(frames: list[PanopticFrame], gt_json: Path) -> dict[int, CategoryStats]:
    """Per window size n: per-category [IoU sum, TP, FP, FN] over all windows of one video."""
    out = {}
    for n in WINDOWS:
        stats: CategoryStats = defaultdict(lambda: [0.0, 0, 0, 0])
        for start in range(len(frames) - n + 1):
            window_stats(frames[start:start + n], stats, gt_json)
        out[n] = dict(stats)
    return out


def pq_average(stats: CategoryStats, isthing: dict[int, bool], things: bool | None) -> float | None:
    """Mean PQ over the GT categories (optionally only things/stuff) with TP+FP+FN > 0 (``None``: none)."""
    total, n = 0.0, 0
    for cat, cat_isthing in isthing.items():
        if things is not None and cat_isthing != things:
            continue
        iou, tp, fp, fn = stats.get(cat, (0.0, 0, 0, 0))
        if tp + fp + fn == 0:
            continue
        n += 1
        total += iou / (tp + 0.5 * fp + 0.5 * fn)
    return total / n if n else None


def vpq_metrics(per_video: list[dict[int, CategoryStats]], isthing: dict[int, bool], gt_json: Path) -> dict[str, float]:
    """``VPQ@k``, ``VPQ_thing@k``, ``VPQ_stuff@k`` for every window and their means (percent)."""
    metrics: dict[str, float] = {}
    finals: dict[str, list[float]] = {"VPQ": [], "VPQ_thing": [], "VPQ_stuff": []}
    for n in WINDOWS:
        total: CategoryStats = defaultdict(lambda: [0.0, 0, 0, 0])
        for video in per_video:
            for cat, s in video[n].items():
                t = total[cat]
                for i in range(4):
                    t[i] += s[i]
        k = 5 * (n - 1)
        for name, things in (("VPQ", None), ("VPQ_thing", True), ("VPQ_stuff", False)):
            pq = pq_average(total, isthing, things)
            if pq is None:
                what = {None: "", True: " thing", False: " stuff"}[things]
                raise InputError(f"{name}@{k}: no{what} category has a tube in any {n}-frame window (videos "
                                 f"shorter than {n} frames?); VIPSeg's script divides by zero here", gt_json)
            metrics[f"{name}@{k}"] = 100 * pq
            finals[name].append(100 * pq)
    for name, values in finals.items():
        metrics[name] = sum(values) / len(values)
    return metrics
