"""YouTube-VIS / OVIS video instance segmentation AP and AR.

Source: youtubevos/cocoapi @ f3f9948a1f749fb95797f31a9616872811eea559 (``PythonAPI/pycocotools/
ytvos.py``, ``ytvoseval.py``, ``common/maskApi.c``), segm, default parameters.

- Video IoU of detection d and GT track g: Σ_t |d_t∩g_t| / Σ_t |d_t∪g_t| over frames where
  either is present (a null frame adds its partner's area to the union); 0 for an empty union.
  Crowd tracks use the same formula. Lists of different length are refused.
- Per (video, category), over the categories of gt.json (a detection of another category is
  dropped; a category without GT has precision −1 and is left out of the means):
  detections sorted by score with a stable sort (ties keep file order), at most 100 kept.
- Greedy matching at IoU thresholds linspace(0.5, 0.95, 10) (match needs IoU ≥ t): each
  detection, in score order, takes the best free GT (a crowd GT stays free); once it holds a
  non-ignored GT it does not move to an ignored one (GT are ordered non-ignored first).
- Ignore: crowd GT; GT whose mean area (the ``areas`` field of gt.json, null/0 skipped) lies
  outside the range (strictly); unmatched detections whose mean area (from their RLEs, empty
  frames skipped) lies outside it. Ranges: all [0, 1e10], small [0, 128²], medium [128², 256²],
  large [256², 1e10] (not COCO's 32²/96²).
- Per (threshold, category, range, maxDets ∈ {1, 10, 100}): detections of all videos merged and
  stably sorted by score; cumulative TP/FP; recall = TP/#non-ignored GT, precision =
  TP/(TP+FP+eps); precision made monotone from the right and sampled at recall points
  linspace(0, 1, 101) (first index with recall ≥ point, 0 beyond); recall = final recall.
- AP = mean of precision entries > −1 (maxDets 100, all); AP50/AP75 at one threshold;
  APs/m/l per range; AR1/10/100 = mean final recall per maxDets; ARs/m/l at 100. −1 where a
  range has no GT.
- The official loader refuses an empty results list and unknown video ids; so does this one.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from univs.data.formats.common import field as required
from univs.data.formats.common import read_json
from univs.data.formats.rle import polygons_to_rle, rle_from_json
from univs.errors import InputError
from univs.evaluation.parallel import map_jobs
from univs.evaluation.report import EvalResult

IOU_THRS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
REC_THRS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
MAX_DETS = (1, 10, 100)
AREA_RANGES = (("all", (0.0, 1e5**2)), ("small", (0.0, 128.0**2)),
               ("medium", (128.0**2, 256.0**2)), ("large", (256.0**2, 1e5**2)))
STATS = (("AP", 1, None, "all", 100), ("AP50", 1, 0.5, "all", 100), ("AP75", 1, 0.75, "all", 100),
         ("APs", 1, None, "small", 100), ("APm", 1, None, "medium", 100), ("APl", 1, None, "large", 100),
         ("AR1", 0, None, "all", 1), ("AR10", 0, None, "all", 10), ("AR100", 0, None, "all", 100),
         ("ARs", 0, None, "small", 100), ("ARm", 0, None, "medium", 100), ("ARl", 0, None, "large", 100))


@dataclass
class Tracks:
    """GT tracks or detections of one (video, category), without their masks."""

    ids: list[int] = field(default_factory=list)
    avg_area: list[float] = field(default_factory=list)
    crowd: list[bool] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)


@dataclass
class VideoInput:
    """Raw GT annotations and detections of one video (only categories of gt.json)."""

    video_id: int
    shape: tuple[int, int]
    length: int
    gts: list[dict]
    dets: list[tuple[int, dict]]  # (detection id = 1-based position in the results file, entry)
    gt_path: Path
    pred_path: Path


@dataclass
class VideoPairs:
    """Per category: GT tracks, kept detections in score order, and their (D, G) IoU matrix."""

    video_id: int
    gts: dict[int, Tracks]
    dets: dict[int, Tracks]
    ious: dict[int, np.ndarray]


def _rles(entry: dict, video: VideoInput, path: Path, where: str) -> list:
    segs = entry.get("segmentations")
    if not isinstance(segs, list) or len(segs) != video.length:
        n = len(segs) if isinstance(segs, list) else "no"
        raise InputError(f"{where}: {n} segmentations for a video of {video.length} frames", path)
    out = []
    for t, seg in enumerate(segs):
        if not seg:
            out.append(None)
        elif isinstance(seg, list):
            out.append(polygons_to_rle(seg, video.shape, path, f"{where}, frame {t}"))
        else:
            out.append(rle_from_json(seg, video.shape, path, f"{where}, frame {t}"))
    return out


@dataclass
class TrackMasks:
    """One track's per-frame RLEs (``None`` where absent), pixel areas and boxes."""

    rles: list
    areas: list[int | None]
    boxes: list

    @classmethod
    def of(cls, rles: list) -> TrackMasks:
        return cls(rles, [None if r is None else int(mask_utils.area(r)) for r in rles],
                   [None if r is None else mask_utils.toBbox(r) for r in rles])

    def mean_area(self) -> float:
        """Mean pixel area over the frames with a non-empty mask (0 if none), as ``loadRes``."""
        present = [a for a in self.areas if a]
        return float(np.array(present).mean()) if present else 0.0


def video_iou(d: TrackMasks, g: TrackMasks) -> float:
    """Σ_t |d_t ∩ g_t| / Σ_t |d_t ∪ g_t| (0 for an empty union)."""
    inter = union = 0
    for t in range(len(d.rles)):
        if d.rles[t] is not None and g.rles[t] is not None:
            i = 0
            (x0, y0, w0, h0), (x1, y1, w1, h1) = d.boxes[t], g.boxes[t]
            if x0 < x1 + w1 and x1 < x0 + w0 and y0 < y1 + h1 and y1 < y0 + h0:
                i = int(mask_utils.area(mask_utils.merge([d.rles[t], g.rles[t]], intersect=True)))
            inter += i
            union += d.areas[t] + g.areas[t] - i
        elif g.rles[t] is not None:
            union += g.areas[t]
        elif d.rles[t] is not None:
            union += d.areas[t]
    return inter / union if union > 0 else 0.0


def video_pairs(video: VideoInput) -> VideoPairs:
    """Validate one video's masks and compute the per-category IoU matrices."""
    gts: dict[int, Tracks] = defaultdict(Tracks)
    gt_masks: dict[int, list[TrackMasks]] = defaultdict(list)
    for ann in video.gts:
        where = f"annotation id {ann['id']}"
        masks = TrackMasks.of(_rles(ann, video, video.gt_path, where))
        areas = ann.get("areas")
        if not isinstance(areas, list) or len(areas) != video.length:
            raise InputError(f"{where}: 'areas' must list one area (or null) per frame", video.gt_path)
        present = [a for a in areas if a]
        tracks = gts[ann["category_id"]]
        tracks.ids.append(ann["id"])
        tracks.avg_area.append(float(np.array(present).mean()) if present else 0.0)
        tracks.crowd.append(bool(ann.get("iscrowd", 0)))
        gt_masks[ann["category_id"]].append(masks)
    candidates: dict[int, list[tuple[int, float, TrackMasks]]] = defaultdict(list)
    for det_id, det in video.dets:
        masks = TrackMasks.of(_rles(det, video, video.pred_path, f"result #{det_id}"))
        candidates[det["category_id"]].append((det_id, float(det["score"]), masks))
    dets, ious = {}, {}
    for cat in sorted(set(gts) | set(candidates)):
        found = candidates.get(cat, [])
        kept = [found[i] for i in np.argsort([-c[1] for c in found], kind="mergesort")[: MAX_DETS[-1]]]
        dets[cat] = Tracks([c[0] for c in kept], [c[2].mean_area() for c in kept], [False] * len(kept),
                           [c[1] for c in kept])
        g_masks = gt_masks.get(cat, [])
        ious[cat] = np.array([[video_iou(c[2], g) for g in g_masks] for c in kept]).reshape(len(kept), len(g_masks))
    return VideoPairs(video.video_id, dict(gts), dets, ious)


@dataclass
class VideoMatch:
    """Matching of one (video, category, area range) at every IoU threshold (``evaluateVid``)."""

    scores: np.ndarray  # (D,)
    det_matches: np.ndarray  # (T, D) matched GT id, 0 = none
    det_ignore: np.ndarray  # (T, D) bool
    gt_ignore: np.ndarray  # (G,) bool


def match_video(gts: Tracks, dets: Tracks, ious: np.ndarray, area: tuple[float, float]) -> VideoMatch | None:
    """Greedy score-ordered matching of one (video, category) under an area range."""
    if not gts.ids and not dets.ids:
        return None
    lo, hi = area
    ignore = np.array([c or a < lo or a > hi for c, a in zip(gts.crowd, gts.avg_area)], dtype=bool)
    order = np.argsort(ignore, kind="mergesort")
    g_ignore, g_crowd = ignore[order], np.array(gts.crowd, dtype=bool)[order]
    g_ids = np.array(gts.ids)[order]
    ious = ious[:, order] if ious.size else ious
    n_t, n_d, n_g = len(IOU_THRS), len(dets.ids), len(order)
    gt_taken = np.zeros((n_t, n_g), dtype=bool)
    det_matches = np.zeros((n_t, n_d))
    det_ignore = np.zeros((n_t, n_d), dtype=bool)
    if ious.size:
        for ti, thr in enumerate(IOU_THRS):
            for di in range(n_d):
                best, m = min(thr, 1 - 1e-10), -1
                for gi in range(n_g):
                    if gt_taken[ti, gi] and not g_crowd[gi]:
                        continue
                    if m > -1 and not g_ignore[m] and g_ignore[gi]:
                        break
                    if ious[di, gi] < best:
                        continue
                    best, m = ious[di, gi], gi
                if m == -1:
                    continue
                det_ignore[ti, di] = g_ignore[m]
                det_matches[ti, di] = g_ids[m]
                gt_taken[ti, m] = True
    outside = np.array([a < lo or a > hi for a in dets.avg_area], dtype=bool)
    det_ignore |= (det_matches == 0) & outside[None, :]
    return VideoMatch(np.array(dets.scores, dtype=np.float64), det_matches, det_ignore, g_ignore)


def accumulate(matches: list[VideoMatch | None], max_det: int) -> tuple[np.ndarray, np.ndarray]:
    """(precision (T, R), recall (T,)) of one category/range/maxDets over all its videos (−1: no GT)."""
    precision = -np.ones((len(IOU_THRS), len(REC_THRS)))
    recall = -np.ones(len(IOU_THRS))
    found = [m for m in matches if m is not None]
    if not found:
        return precision, recall
    scores = np.concatenate([m.scores[:max_det] for m in found])
    order = np.argsort(-scores, kind="mergesort")
    matched = np.concatenate([m.det_matches[:, :max_det] for m in found], axis=1)[:, order]
    ignored = np.concatenate([m.det_ignore[:, :max_det] for m in found], axis=1)[:, order]
    n_pos = int(np.count_nonzero(~np.concatenate([m.gt_ignore for m in found])))
    if n_pos == 0:
        return precision, recall
    tps = np.cumsum((matched != 0) & ~ignored, axis=1).astype(float)
    fps = np.cumsum((matched == 0) & ~ignored, axis=1).astype(float)
    for t in range(len(IOU_THRS)):
        tp, fp = tps[t], fps[t]
        rc = tp / n_pos
        pr = tp / (fp + tp + np.spacing(1))
        recall[t] = rc[-1] if len(tp) else 0
        pr = np.maximum.accumulate(pr[::-1])[::-1] if len(pr) else pr
        idx = np.searchsorted(rc, REC_THRS, side="left")
        q = np.zeros(len(REC_THRS))
        ok = idx < len(pr)
        first_bad = np.argmin(ok) if not ok.all() else len(ok)
        q[:first_bad] = pr[idx[:first_bad]]
        precision[t] = q
    return precision, recall


def _summary(precision: np.ndarray, recall: np.ndarray, ap: int, iou: float | None, area: str, max_det: int) -> float:
    """One of the 12 reported numbers: mean of the entries > −1, or −1 if there are none."""
    a = [name for name, _ in AREA_RANGES].index(area)
    m = MAX_DETS.index(max_det)
    s = precision[:, :, :, a, m] if ap else recall[:, :, a, m]
    if iou is not None:
        s = s[np.where(iou == IOU_THRS)[0]]
    return -1.0 if not (s > -1).any() else float(np.mean(s[s > -1]))


def _load(gt_path: Path, pred_path: Path) -> tuple[list[int], dict, list[VideoInput]]:
    gt = read_json(gt_path)
    keys = ("videos", "annotations", "categories")
    if not isinstance(gt, dict) or not all(isinstance(gt.get(k), list) for k in keys):
        raise InputError("expected a YouTube-VIS JSON with 'videos', 'annotations' and 'categories' lists", gt_path)
    dets = read_json(pred_path)
    if not isinstance(dets, list) or not dets:
        raise InputError("expected a non-empty list of results (the YouTube-VIS loader refuses an empty one)",
                         pred_path)
    categories = {required(c, "id", gt_path, "category"): str(c.get("name", c["id"])) for c in gt["categories"]}
    videos: dict[int, VideoInput] = {}
    for v in gt["videos"]:
        vid = required(v, "id", gt_path, "video")
        shape = tuple(int(required(v, k, gt_path, f"video {vid}")) for k in ("height", "width"))
        videos[vid] = VideoInput(vid, shape, int(v.get("length", len(v.get("file_names", [])))), [], [],
                                 gt_path, pred_path)
    seen_ids = set()
    for ann in gt["annotations"]:
        for key in ("id", "video_id", "category_id"):
            required(ann, key, gt_path, "annotation")
        if ann["id"] in seen_ids:
            raise InputError(f"duplicate annotation id {ann['id']}", gt_path)
        seen_ids.add(ann["id"])
        if ann["video_id"] not in videos:
            raise InputError(f"annotation id {ann['id']} refers to unknown video_id {ann['video_id']}", gt_path)
        if ann["category_id"] in categories:
            videos[ann["video_id"]].gts.append(ann)
    for i, det in enumerate(dets, start=1):
        for key in ("video_id", "category_id", "score", "segmentations"):
            required(det, key, pred_path, f"result #{i}")
        if det["video_id"] not in videos:
            raise InputError(f"result #{i} refers to video_id {det['video_id']}, which gt.json does not list",
                             pred_path)
        if isinstance(det["score"], bool) or not isinstance(det["score"], (int, float)):
            raise InputError(f"result #{i} has a non-numeric score", pred_path)
        if det["category_id"] in categories:
            videos[det["video_id"]].dets.append((i, det))
    return sorted(categories), categories, [videos[v] for v in sorted(videos)]


def evaluate_ytvis(gt: str | Path, pred: str | Path, workers: int | None = None, quiet: bool = True) -> EvalResult:
    """YouTube-VIS AP/AR of the results JSON ``pred`` against the annotation JSON ``gt``."""
    cat_ids, names, videos = _load(Path(gt), Path(pred))
    pairs = map_jobs(video_pairs, videos, workers, quiet, desc="YouTube-VIS IoU")
    shape = (len(IOU_THRS), len(REC_THRS), len(cat_ids), len(AREA_RANGES), len(MAX_DETS))
    precision, recall = -np.ones(shape), -np.ones((shape[0],) + shape[2:])
    empty = Tracks()
    for k, cat in enumerate(cat_ids):
        for a, (_, rng) in enumerate(AREA_RANGES):
            matches = [match_video(p.gts.get(cat, empty), p.dets.get(cat, empty),
                                   p.ious.get(cat, np.zeros((0, 0))), rng) for p in pairs]
            for m, max_det in enumerate(MAX_DETS):
                precision[:, :, k, a, m], recall[:, k, a, m] = accumulate(matches, max_det)
    metrics = {name: _summary(precision, recall, ap, iou, area, md) for name, ap, iou, area, md in STATS}
    rows = []
    for k, cat in enumerate(cat_ids):
        p, r = precision[:, :, k, 0, -1], recall[:, k, 0, -1]
        rows.append({"category_id": cat, "name": names[cat],
                     "AP": float(np.mean(p[p > -1])) if (p > -1).any() else -1.0,
                     "AR100": float(np.mean(r[r > -1])) if (r > -1).any() else -1.0})
    return EvalResult("YouTube-VIS", metrics, rows, ["category_id", "name", "AP", "AR100"],
                      notes=["-1: no ground truth in that area range"])
