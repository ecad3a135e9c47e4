"""VIPSeg video panoptic segmentation: reading the native files, then VPQ and STQ.

Layout (VIPSeg after its conversion script):
``GT/panoptic_gt.json`` (or ``panoptic_gt_VIPSeg_val.json``) and ``GT/panomasks/<video>/<file_name>``
(or ``panomasksRGB``): RGB PNGs, id = R + 256·G + 256²·B, 0 = void; predictions
``PRED/pred.json`` + ``PRED/pan_pred/<video>/<file_name>`` in the same encoding.

Checks made as the official scripts make them (``eval_vpq_vspw.py``): the prediction JSON lists
each video with one entry per GT frame; every non-zero PNG id is listed in that frame's
``segments_info`` and every listed id is in the PNG; predicted categories are GT categories.
Metrics: :mod:`univs.evaluation.vpq` and :mod:`univs.evaluation.stq`. Each video is read once,
frame by frame, into pixel-free per-frame counts; videos run in parallel.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from univs.data.formats.common import read_json, read_rgb_ids
from univs.errors import InputError
from univs.evaluation.parallel import map_jobs
from univs.evaluation.report import EvalResult
from univs.evaluation.stq import NUM_CLASSES, VideoSTQ, stq_metrics, video_stq
from univs.evaluation.vpq import PanopticFrame, video_vpq, vpq_metrics

GT_JSON_NAMES = ("panoptic_gt.json", "panoptic_gt_VIPSeg_val.json")
GT_MASK_DIRS = ("panomasks", "panomasksRGB")


@dataclass
class VideoJob:
    """One video's JSON entries and file locations."""

    video: str
    file_names: list[str]
    gt_frames: list[dict]
    pred_frames: list[dict]
    categories: dict[int, bool]
    gt_dir: Path
    pred_dir: Path
    gt_json: Path
    pred_json: Path


def _factorize(ids: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, values): ``ids == values[codes]``, with ``values`` = ``known`` then any other ids found."""
    idx = np.searchsorted(known, ids).clip(max=len(known) - 1)
    hit = known[idx] == ids
    if hit.all():
        return idx, known
    extra = np.unique(ids[~hit])
    idx[~hit] = len(known) + np.searchsorted(extra, ids[~hit])
    return idx, np.concatenate([known, extra])


def _segments(frame: dict, path: Path, where: str) -> list[dict]:
    segs = frame.get("segments_info") if isinstance(frame, dict) else None
    if not isinstance(segs, list) or not all(isinstance(s, dict) and "id" in s and "category_id" in s for s in segs):
        raise InputError(f"{where}: expected 'segments_info' entries with 'id' and 'category_id'", path)
    return segs


def read_frame(job: VideoJob, t: int) -> PanopticFrame:
    """Read frame ``t`` of a video and reduce it to segment lists and (GT id, pred id) pair counts."""
    name = job.file_names[t]
    where = f"video {job.video!r}, frame {name}"
    gt = read_rgb_ids(job.gt_dir / name)
    pred_path = job.pred_dir / name
    pred = read_rgb_ids(pred_path, gt.shape)
    gt_segments: dict[int, tuple[int, bool, int]] = {}
    gt_semantic: dict[int, int] = {}
    for s in _segments(job.gt_frames[t], job.gt_json, where):
        if "area" not in s:
            raise InputError(f"{where}: GT segment {s['id']} has no 'area' (VPQ sums the JSON areas)", job.gt_json)
        sid, cat = int(s["id"]), int(s["category_id"])
        if sid in gt_segments:
            c, crowd, area = gt_segments[sid]
            gt_segments[sid] = (c, crowd, area + int(s["area"]))
        else:
            gt_segments[sid] = (cat, s.get("iscrowd", 0) == 1, int(s["area"]))
        gt_semantic[sid] = cat
    pred_listed = _segments(job.pred_frames[t], job.pred_json, where)
    pred_semantic = {int(s["id"]): int(s["category_id"]) for s in pred_listed}
    first_cat: dict[int, int] = {}
    for s in pred_listed:
        first_cat.setdefault(int(s["id"]), int(s["category_id"]))
    g_code, g_ids = _factorize(gt.ravel(), np.array(sorted({0, *gt_segments}), dtype=np.uint32))
    p_code, p_ids = _factorize(pred.ravel(), np.array(sorted({0, *first_cat}), dtype=np.uint32))
    counts = np.bincount(g_code * len(p_ids) + p_code, minlength=len(g_ids) * len(p_ids)).reshape(len(g_ids), -1)
    p_area = counts.sum(axis=0)
    for pid, area in zip(p_ids.tolist(), p_area.tolist()):
        if area == 0:
            continue
        if pid not in first_cat:
            if pid == 0:
                continue
            raise InputError(f"{where}: segment with ID {pid} is in the PNG but not in the JSON", pred_path)
        if first_cat[pid] not in job.categories:
            raise InputError(f"{where}: segment with ID {pid} has unknown category_id {first_cat[pid]}", job.pred_json)
    absent = [pid for pid in first_cat if pid not in set(p_ids[p_area > 0].tolist())]
    if absent:
        raise InputError(f"{where}: segment IDs {absent} are in the JSON but not in the PNG", job.pred_json)
    areas = dict(zip(p_ids.tolist(), p_area.tolist()))
    pred_segments = {pid: (cat, areas[pid]) for pid, cat in first_cat.items()}
    gi, pi = np.nonzero(counts)
    pairs = {(int(g_ids[a]), int(p_ids[b])): int(counts[a, b]) for a, b in zip(gi, pi)}
    return PanopticFrame(gt_segments, pred_segments, gt_semantic, pred_semantic, pairs)


def video_scores(job: VideoJob) -> tuple[dict, VideoSTQ]:
    """VPQ window statistics and STQ accumulators of one video."""
    frames = [read_frame(job, t) for t in range(len(job.file_names))]
    things = {c for c, thing in job.categories.items() if thing}
    return video_vpq(frames, job.gt_json), video_stq(frames, things)


def _first(root: Path, names: tuple[str, ...], what: str) -> Path:
    for n in names:
        if (root / n).exists():
            return root / n
    raise InputError(f"missing {what} ({' or '.join(names)})", root)


def _by_video(doc, path: Path, key: str) -> dict[str, list]:
    entries = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise InputError(f"expected a {key!r} list", path)
    out = {}
    for e in entries:
        if not isinstance(e, dict) or "video_id" not in e or not isinstance(e.get("annotations"), list):
            raise InputError("each annotation entry needs 'video_id' and a per-frame 'annotations' list", path)
        out[e["video_id"]] = e["annotations"]
    return out


def load_jobs(gt: Path, pred: Path) -> tuple[list[VideoJob], dict[int, bool]]:
    """One job per GT video, checked against the prediction JSON."""
    gt_json = _first(gt, GT_JSON_NAMES, "panoptic GT JSON")
    gt_dir = _first(gt, GT_MASK_DIRS, "panoptic GT mask folder")
    pred_json = pred / "pred.json"
    doc = read_json(gt_json)
    if not (isinstance(doc, dict) and isinstance(doc.get("videos"), list) and isinstance(doc.get("categories"), list)):
        raise InputError("expected 'videos', 'annotations' and 'categories'", gt_json)
    categories = {int(c["id"]): bool(c.get("isthing", 0)) for c in doc["categories"]}
    bad = [c for c in categories if not 0 <= c < NUM_CLASSES]
    if bad:
        raise InputError(f"category ids {bad[:5]} lie outside VIPSeg's 0..{NUM_CLASSES - 1} (STQ uses 124 classes)",
                         gt_json)
    gt_frames = _by_video(doc, gt_json, "annotations")
    pred_frames = _by_video(read_json(pred_json), pred_json, "annotations")
    jobs = []
    for v in doc["videos"]:
        vid = v.get("video_id")
        names = [img["file_name"] for img in v.get("images", [])]
        if vid not in gt_frames or len(gt_frames[vid]) != len(names):
            raise InputError(f"video {vid!r}: needs one annotation entry per image", gt_json)
        if vid not in pred_frames:
            raise InputError(f"no predictions for video {vid!r}", pred_json)
        if len(pred_frames[vid]) != len(names):
            raise InputError(f"video {vid!r}: {len(pred_frames[vid])} predicted frames for {len(names)} GT frames",
                             pred_json)
        jobs.append(VideoJob(vid, names, gt_frames[vid], pred_frames[vid], categories, gt_dir / vid,
                             pred / "pan_pred" / vid, gt_json, pred_json))
    if not jobs:
        raise InputError("no videos listed", gt_json)
    return jobs, categories


def evaluate_vipseg(gt: str | Path, pred: str | Path, workers: int | None = None, quiet: bool = True) -> EvalResult:
    """VIPSeg VPQ (k = 0, 5, 15, 25, 35 and mean; percent) and STQ/AQ/SQ (fractions)."""
    jobs, categories = load_jobs(Path(gt), Path(pred))
    results = map_jobs(video_scores, jobs, workers, quiet, desc="VIPSeg")
    metrics = vpq_metrics([r[0] for r in results], categories, jobs[0].gt_json)
    stq, per_video = stq_metrics([r[1] for r in results])
    metrics.update(stq)
    rows = [{"video": j.video, **v} for j, v in zip(jobs, per_video)]
    return EvalResult("VIPSeg VPQ / STQ", metrics, rows, ["video", "STQ", "AQ", "SQ"],
                      notes=["VPQ in percent (as VIPSeg reports it); STQ, AQ, SQ as fractions"])
