"""Panoptic VOS on VIPOSeg: mask IoU and boundary IoU split by thing/stuff and seen/unseen.

Source: yoxu515/VIPOSeg-Benchmark @ 8408de079f0ca978754183df8fcaee8b52bece4d, ``vop_eval.py``
(``eval_iou``) and ``utils.py`` (``VIPOSeg`` class lists, ``mask_to_boundary``, ``boundary_iou``),
the benchmark of "Video Object Segmentation in Panoptic Wild Scenes" (Xu et al., PAOT).

Layout: ``GT/Annotations_gt/<video>/<frame>.png`` (every object in every frame),
``GT/Annotations/<video>/<frame>.png`` (reference masks: where each object is given),
``GT/obj_class.json`` ({video: {object id: class id}}); predictions ``PRED/<video>/<frame>.png``
(palette/grey PNGs of object ids, the same frame names as ``Annotations_gt``).

Definition:
- Frames in sorted name order. An object is evaluated on every frame *after* the reference frame
  that introduces it (the reference frame itself is excluded), to the end of the video. After each
  frame, the non-zero ids of its reference mask (if the frame has one) join the evaluated list —
  an id given in two reference frames is listed, and scored, twice (as the official list does).
- Per (object, frame): both masks empty → mIoU = bIoU = 1; exactly one empty → 0 and 0;
  otherwise mIoU = |G∩P|/|G∪P| and bIoU = |∂G∩∂P|/|∂G∪∂P| with the boundary
  ∂M = M minus its erosion by a (2d+1)² square, zero outside the image,
  d = max(1, round_half_even(0.02 · sqrt(H² + W²))) (Cheng et al.'s Boundary IoU).
- Group of an object by its class: class 98 ("other machine") is stuff, *unseen* in the listed
  videos and seen elsewhere; otherwise thing-unseen, stuff-unseen, thing-seen, stuff-seen by the
  class lists below (all 124 VIPSeg classes are covered; another class id is an error here).
- Each group's mIoU / bIoU = mean over all its (object, frame) values — frames, not objects,
  carry equal weight. ``<group>_iou`` = (mIoU + bIoU)/2; ``overall_iou`` = mean of the four
  group scores (NaN when a group is empty, as ``np.mean([])`` makes it in the official script).
- Optional ``decay`` (``--eval_decay``): the (mIoU+bIoU)/2 values are bucketed by the number of
  objects evaluated in their frame, k; over buckets with k < 60, decay = Σ x·y / Σ x² with
  x = k/100 and y = −log(bucket mean) (least squares through the origin).
The official script prints these ×100 with two decimals; here they are fractions.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from univs.data.formats.common import read_index_png, read_json
from univs.errors import InputError
from univs.evaluation.io import list_files
from univs.evaluation.jf import label_slices
from univs.evaluation.parallel import map_jobs
from univs.evaluation.report import EvalResult

GROUPS = ("thing_seen", "thing_unseen", "stuff_seen", "stuff_unseen")
_THING = {60, 89, 90, 8, 48, 2, 79, 106, 76, 84, 114, 74, 108, 91, 83, 85, 54, 65, 78, 44, 92, 122, 107, 43,
          88, 117, 50, 51, 87, 52, 62, 115, 10, 41, 77, 82, 56, 123, 49, 4, 63, 102, 99, 109, 47, 55, 61, 118,
          72, 46, 96, 64, 101, 86, 97, 100, 116, 95}
_STUFF = {28, 66, 0, 14, 15, 13, 7, 12, 22, 68, 1, 59, 27, 75, 40, 29, 18, 21, 19, 39, 30, 11, 53, 111, 45,
          35, 98, 36, 119, 42, 104, 23, 80, 93, 67, 3, 31, 16, 69, 103, 37, 121, 110, 105, 33, 24, 70, 73, 32,
          9, 71, 120, 58, 94, 5, 34, 20, 6}
_THING_UNSEEN = {102, 99, 109, 47, 55, 61, 118, 72, 46, 96, 64, 101, 86, 97, 100, 116, 95}
_STUFF_UNSEEN = {9, 71, 120, 58, 94, 5, 34, 20, 6, 26, 112, 17, 57, 113, 25, 81, 38}
_OTHER_MACHINE_VIDEOS = {
    "187_WUZUSD4477I", "319_l1Dz12fxQzQ", "320_nhKXemkIvh4", "517_AWvYuplla_s", "532_QmZyJuLlEec",
    "774_devdFjIpDcc", "1016_HG0AsTOxI5g", "1017_IAU0WGB9VPw", "1020_TgCIv6bp3XM", "1021_cPOxAMo28yk",
    "1022_emSaDd2ddj0", "1033_sh81AwYuihg", "1065_d2sHRyAHKqI", "1067_fk3jhxBi1pA", "1068_gxnZkf0LQfk",
    "1069_jFHRbZxswz8", "1070_uTJB31tuYes", "1072_zvNEdUk5k0Q", "1230_AGY-gQ_3O8Y", "1333__iprMPKLdOQ",
    "1334_qlmfvYA3_rk", "2004_1btxeVbyojs", "2005_83KrhWajwfw"}


@dataclass(frozen=True)
class PvosSplit:
    """Class lists deciding each object's group (default: VIPOSeg's, from ``utils.VIPOSeg``)."""

    thing_seen: frozenset[int] = frozenset(_THING - _THING_UNSEEN)
    thing_unseen: frozenset[int] = frozenset(_THING_UNSEEN)
    stuff_seen: frozenset[int] = frozenset(_STUFF - _STUFF_UNSEEN)
    stuff_unseen: frozenset[int] = frozenset(_STUFF_UNSEEN)
    other_machine_class: int = 98
    other_machine_unseen_videos: frozenset[str] = frozenset(_OTHER_MACHINE_VIDEOS)

    def group(self, class_id: int, video: str) -> str | None:
        """Group name of a class in a video, or ``None`` for a class in no list."""
        if class_id == self.other_machine_class:
            return "stuff_unseen" if video in self.other_machine_unseen_videos else "stuff_seen"
        for name in ("thing_unseen", "stuff_unseen", "thing_seen", "stuff_seen"):
            if class_id in getattr(self, name):
                return name
        return None


VIPOSEG_SPLIT = PvosSplit()


def boundary_radius(height: int, width: int) -> int:
    """Erosion depth of the boundary band: max(1, round(0.02 · image diagonal))."""
    return max(1, int(round(0.02 * float(np.sqrt(height**2 + width**2)))))


def _boundary(mask: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    eroded = cv2.erode(mask, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return mask.astype(bool) & ~eroded.astype(bool)


def object_ious(gt: np.ndarray, pred: np.ndarray, oid: int, gt_box, pred_box, depth: int,
                kernel: np.ndarray) -> tuple[float, float]:
    """(mask IoU, boundary IoU) of object ``oid`` in two ``(H, W)`` label maps."""
    if gt_box is None and pred_box is None:
        return 1.0, 1.0
    if gt_box is None or pred_box is None:
        return 0.0, 0.0
    h, w = gt.shape
    win = (slice(max(min(gt_box[0].start, pred_box[0].start) - depth - 1, 0),
                 min(max(gt_box[0].stop, pred_box[0].stop) + depth + 1, h)),
           slice(max(min(gt_box[1].start, pred_box[1].start) - depth - 1, 0),
                 min(max(gt_box[1].stop, pred_box[1].stop) + depth + 1, w)))
    g = (gt[win] == oid).astype(np.uint8)
    p = (pred[win] == oid).astype(np.uint8)
    miou = np.count_nonzero(g & p) / np.count_nonzero(g | p)
    bg, bp = _boundary(g, kernel), _boundary(p, kernel)
    union = np.count_nonzero(bg | bp)
    return miou, (np.count_nonzero(bg & bp) / union if union else 0.0)


@dataclass
class VideoPvos:
    """Per-group (object, frame) values, decay buckets and per-object rows of one video."""

    miou: dict[str, list[float]] = field(default_factory=lambda: {g: [] for g in GROUPS})
    biou: dict[str, list[float]] = field(default_factory=lambda: {g: [] for g in GROUPS})
    buckets: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    rows: list[dict] = field(default_factory=list)


def video_pvos(job: tuple[Path, Path, str, dict, PvosSplit]) -> VideoPvos:
    """Score one video, frame by frame."""
    gt_root, pred_root, video, classes, split = job
    gt_dir, ref_dir, pred_dir = gt_root / "Annotations_gt" / video, gt_root / "Annotations" / video, pred_root / video
    names = list_files(gt_dir, ".png")
    pred_names = list_files(pred_dir, ".png")
    if pred_names != names:
        raise InputError(f"{len(pred_names)} prediction PNGs whose names differ from the {len(names)} "
                         "ground-truth frames", pred_dir)
    refs = set(list_files(ref_dir, ".png"))
    out = VideoPvos()
    listed: list[int] = []
    per_object: dict[int, list] = {}
    depth = kernel = None
    for name in names:
        gt = read_index_png(gt_dir / name, None, "annotation")
        pred = read_index_png(pred_dir / name, gt.shape, "prediction")
        if depth is None:
            depth = boundary_radius(*gt.shape)
            kernel = np.ones((2 * depth + 1, 2 * depth + 1), np.uint8)
        top = max(listed, default=0)
        g_boxes, p_boxes = label_slices(gt, top), label_slices(pred, top)
        for oid in listed:
            group = _group(classes, oid, video, split, gt_root)
            miou, biou = object_ious(gt, pred, oid, g_boxes[oid - 1], p_boxes[oid - 1], depth, kernel)
            out.miou[group].append(miou)
            out.biou[group].append(biou)
            out.buckets[len(listed)].append((miou + biou) / 2.0)
            per_object.setdefault(oid, [group, [], []])[1].append(miou)
            per_object[oid][2].append(biou)
        if name in refs:
            ref = read_index_png(ref_dir / name)
            listed.extend(int(v) for v in np.unique(ref) if v != 0)
    for oid, (group, m, b) in per_object.items():
        out.rows.append({"video": video, "object": oid, "class": int(classes[str(oid)]), "group": group,
                         "frames": len(m), "mIoU": float(np.mean(m)), "bIoU": float(np.mean(b))})
    return out


def _group(classes: dict, oid: int, video: str, split: PvosSplit, gt_root: Path) -> str:
    if str(oid) not in classes:
        raise InputError(f"video {video!r}: object {oid} has no class", gt_root / "obj_class.json")
    group = split.group(int(classes[str(oid)]), video)
    if group is None:
        raise InputError(f"video {video!r}: class {classes[str(oid)]} of object {oid} is in no "
                         "thing/stuff seen/unseen list", gt_root / "obj_class.json")
    return group


def _decay(buckets: dict[int, list[float]]) -> float:
    keys = sorted(k for k, v in buckets.items() if v and k < 60)
    if not keys:
        return float("nan")
    x = np.array(keys, dtype=np.float64) / 100
    with np.errstate(divide="ignore"):
        y = -np.log(np.array([np.mean(buckets[k]) for k in keys]))
    return float(np.dot(x, y) / np.dot(x, x))


def evaluate_viposeg(gt: str | Path, pred: str | Path, workers: int | None = None, quiet: bool = True,
                     split: PvosSplit = VIPOSEG_SPLIT, decay: bool = False) -> EvalResult:
    """VIPOSeg panoptic-VOS scores of ``PRED/<video>/<frame>.png`` against the VIPOSeg root ``GT``."""
    gt, pred = Path(gt), Path(pred)
    videos = [p.name for p in sorted((gt / "Annotations_gt").iterdir()) if p.is_dir()] \
        if (gt / "Annotations_gt").is_dir() else []
    if not videos:
        raise InputError("no video folders under Annotations_gt", gt / "Annotations_gt")
    if not pred.is_dir():
        raise InputError("missing predictions folder", pred)
    classes = read_json(gt / "obj_class.json")
    if not isinstance(classes, dict) or not all(isinstance(classes.get(v), dict) for v in videos):
        raise InputError("expected {video: {object id: class id}} for every video", gt / "obj_class.json")
    results = map_jobs(video_pvos, [(gt, pred, v, classes[v], split) for v in videos], workers, quiet, desc="VIPOSeg")
    metrics: dict[str, float] = {}
    for kind, attr in (("miou", "miou"), ("biou", "biou")):
        for g in GROUPS:
            values = [x for r in results for x in getattr(r, attr)[g]]
            metrics[f"{g}_{kind}"] = float(np.mean(values)) if values else float("nan")
    for g in GROUPS:
        metrics[f"{g}_iou"] = (metrics[f"{g}_miou"] + metrics[f"{g}_biou"]) / 2
    metrics["overall_iou"] = sum(metrics[f"{g}_iou"] for g in GROUPS) / 4
    if decay:
        buckets: dict[int, list[float]] = defaultdict(list)
        for r in results:
            for k, v in r.buckets.items():
                buckets[k] += v
        metrics["decay"] = _decay(buckets)
    rows = [row for r in results for row in r.rows]
    return EvalResult("VIPOSeg panoptic VOS", metrics, rows,
                      ["video", "object", "class", "group", "frames", "mIoU", "bIoU"],
                      notes=["mIoU = mask IoU (J), bIoU = boundary IoU; means over (object, frame) values"])
