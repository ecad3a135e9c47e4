"""DAVIS 2017 J&F: the semi-supervised protocol (VOS) and the unsupervised one (Ref-DAVIS).

Source: davisvideochallenge/davis2017-evaluation @ ac7c43fca936f9722837b7fbd337d284ba37004b
(``davis2017/evaluation.py``, ``davis.py``, ``results.py``, ``metrics.py``, ``utils.py``,
``evaluation_method.py``). Per-frame J and F and the Mean/Recall/Decay statistics are in
:mod:`univs.evaluation.jf`.

Layout: ``GT/JPEGImages/480p/<seq>/*.jpg`` (only counted), ``GT/<Annotations>/480p/<seq>/*.png``
(palette PNG: 0 background, 1..K objects, 255 void), ``GT/ImageSets/2017/val.txt``;
predictions ``PRED/<seq>/<frame>.png`` named as the annotations.

Semi-supervised (``task='semi-supervised'``):
- 255 → 0 in every frame; the objects are ids 1..K, K = the largest id of the *first* annotation
  frame (a later, larger id is background; an id ≤ K missing from frame 0 is still an object).
- Only annotation frames 1..T-2 are evaluated (first and last excluded); void is plain background.
- A predicted id above K is refused ("index higher than the number of objects").
- Global J-Mean/Recall/Decay (and F-*) are means over all objects of all sequences;
  J&F-Mean = (J-Mean + F-Mean)/2; ``per_object`` keys ``<seq>_<k>``.

Unsupervised (``task='unsupervised'``, Ref-DAVIS):
- All frames are evaluated; void (255) pixels are excluded from J and removed before F.
- Up to 20 predicted ids (more is refused); fewer than K are padded with empty masks.
- Every (prediction j, GT object i) pair gets per-frame J and F; a maximum-weight assignment
  (``scipy.optimize.linear_sum_assignment`` on −(mean J + mean F)/2) picks one prediction per GT
  object, whose statistics count; unmatched predictions are ignored. (The official table names
  pairs in prediction order; here each row carries its GT object's id.)

YouTube-VOS-style summary (optional, when each object is marked seen/unseen): J_seen, F_seen,
J_unseen, F_unseen = mean of the objects' J-Mean / F-Mean in each group, Overall = mean of the
four, as YouTube-VOS reports (its scorer is a server; this is the summary over DAVIS numbers).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
from scipy.optimize import linear_sum_assignment

from univs.data.formats.common import read_index_png, read_lines
from univs.errors import InputError
from univs.evaluation.io import list_files
from univs.evaluation.jf import davis_radius, davis_statistics, disk_kernel, label_slices, object_jf
from univs.evaluation.parallel import map_jobs
from univs.evaluation.report import EvalResult

MEASURES = ("J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay")
MAX_PROPOSALS = 20
VOID = 255


@dataclass
class ObjectScores:
    """Per-frame J and F of one GT object (after matching, in the unsupervised protocol)."""

    sequence: str
    object_id: int
    j: np.ndarray
    f: np.ndarray


def davis_sequences(gt_root: str | Path) -> list[str]:
    """Sequence names of ``ImageSets/2017/val.txt``."""
    return read_lines(Path(gt_root) / "ImageSets" / "2017" / "val.txt")


def annotation_names(gt_root: Path, annotations: str, seq: str) -> list[str]:
    """Sorted annotation PNG names of a sequence, checked against its JPEG frame count."""
    images = list_files(gt_root / "JPEGImages" / "480p" / seq, ".jpg")
    names = list_files(gt_root / annotations / "480p" / seq, ".png")
    if not images:
        raise InputError("no JPEG frames (the DAVIS evaluator counts them)", gt_root / "JPEGImages" / "480p" / seq)
    if len(names) < len(images):
        raise InputError(f"{len(names)} annotation PNGs for {len(images)} frames",
                         gt_root / annotations / "480p" / seq)
    return names


def _read_pred(pred_dir: Path, name: str, shape: tuple[int, int], limit: int, message: str) -> np.ndarray:
    path = pred_dir / (Path(name).stem + ".png")
    pred = read_index_png(path, shape, "prediction")
    top = int(pred.max())
    if top > limit:
        raise InputError(message.format(top=top, limit=limit), path)
    return pred


def semi_supervised_sequence(job: tuple[Path, Path, str]) -> list[ObjectScores]:
    """Per-object per-frame J/F of one sequence, semi-supervised protocol (frames 1..T-2)."""
    gt_root, pred_root, seq = job
    ann_dir = gt_root / "Annotations" / "480p" / seq
    names = annotation_names(gt_root, "Annotations", seq)
    if len(names) < 3:
        raise InputError(f"{len(names)} annotation frames; the semi-supervised protocol drops the "
                         "first and last and needs at least 3", ann_dir)
    first = read_index_png(ann_dir / names[0], None, "annotation")
    shape = first.shape
    k = int(np.where(first == VOID, 0, first).max())
    kernel = disk_kernel(davis_radius(*shape))
    n = len(names) - 2
    j = np.zeros((k, n))
    f = np.zeros((k, n))
    message = ("index {top} is higher than the number of objects in the sequence ({limit}, the "
               "largest id of the first annotation frame)")
    for t, name in enumerate(names[1:-1]):
        gt = read_index_png(ann_dir / name, shape, "annotation")
        gt = np.where(gt > k, 0, gt)
        pred = _read_pred(pred_root / seq, name, shape, k, message)
        g_boxes, p_boxes = label_slices(gt, k), label_slices(pred, k)
        for i in range(k):
            j[i, t], f[i, t] = object_jf(gt, i + 1, g_boxes[i], pred, i + 1, p_boxes[i], kernel)
    return [ObjectScores(seq, i + 1, j[i], f[i]) for i in range(k)]


def unsupervised_sequence(job: tuple[Path, Path, str]) -> list[ObjectScores]:
    """Per-object per-frame J/F of one sequence, unsupervised protocol, after Hungarian matching."""
    gt_root, pred_root, seq = job
    ann_dir = gt_root / "Annotations_unsupervised" / "480p" / seq
    names = annotation_names(gt_root, "Annotations_unsupervised", seq)
    first = read_index_png(ann_dir / names[0], None, "annotation")
    shape = first.shape
    k = int(np.where(first == VOID, 0, first).max())
    kernel = disk_kernel(davis_radius(*shape))
    n = len(names)
    empty = np.zeros((2, k, n))
    present: dict[int, np.ndarray] = {}
    message = "index {top} is higher than the maximum number ({limit}) of proposals allowed"
    n_pred = 0
    for t, name in enumerate(names):
        raw = read_index_png(ann_dir / name, shape, "annotation")
        void = raw == VOID
        gt = np.where(raw > k, 0, raw)
        pred = _read_pred(pred_root / seq, name, shape, MAX_PROPOSALS, message)
        n_pred = max(n_pred, int(pred.max()))
        g_boxes, p_boxes = label_slices(gt, k), label_slices(pred, MAX_PROPOSALS)
        for i in range(k):
            empty[:, i, t] = object_jf(gt, i + 1, g_boxes[i], pred, -1, None, kernel, void)
        for p, box in enumerate(p_boxes):
            if box is None:
                continue
            scores = present.setdefault(p, np.full((2, k, n), np.nan))
            for i in range(k):
                scores[:, i, t] = object_jf(gt, i + 1, g_boxes[i], pred, p + 1, box, kernel, void)
    n_rows = max(n_pred, k)
    jf = np.repeat(empty[:, None], n_rows, axis=1)
    for p, scores in present.items():
        jf[:, p] = np.where(np.isnan(scores), empty, scores)
    cost = (np.mean(jf[0], axis=2) + np.mean(jf[1], axis=2)) / 2
    rows, cols = linear_sum_assignment(-cost)
    return [ObjectScores(seq, int(c) + 1, jf[0, r, c], jf[1, r, c]) for r, c in zip(rows, cols)]


def run_sequences(kind: str, gt_root: str | Path, pred_root: str | Path, workers: int | None = None,
                  quiet: bool = True) -> list[ObjectScores]:
    """Score every sequence of ``val.txt`` under ``kind`` = "semi-supervised" | "unsupervised"."""
    gt_root, pred_root = Path(gt_root), Path(pred_root)
    if not pred_root.is_dir():
        raise InputError("missing predictions folder", pred_root)
    job = semi_supervised_sequence if kind == "semi-supervised" else unsupervised_sequence
    jobs = [(gt_root, pred_root, s) for s in davis_sequences(gt_root)]
    if not jobs:
        raise InputError("no sequences listed", gt_root / "ImageSets" / "2017" / "val.txt")
    return [o for seq in map_jobs(job, jobs, workers, quiet, desc=f"DAVIS {kind}") for o in seq]


def summarize(objects: list[ObjectScores]) -> tuple[dict[str, float], list[dict]]:
    """Global DAVIS measures (means over objects) and the per-object rows."""
    stats = np.array([davis_statistics(o.j) + davis_statistics(o.f) for o in objects]).reshape(-1, 6)
    with np.errstate(invalid="ignore"):
        means = [float(np.mean(stats[:, c])) if len(objects) else float("nan") for c in range(6)]
    metrics = dict(zip(MEASURES, [(means[0] + means[3]) / 2.0, *means]))
    rows = [{"Sequence": f"{o.sequence}_{o.object_id}", "J-Mean": float(s[0]), "F-Mean": float(s[3])}
            for o, s in zip(objects, stats)]
    return metrics, rows


def seen_summary(rows: list[dict], seen: Mapping[str, bool]) -> dict[str, float]:
    """YouTube-VOS-style J/F over seen and unseen objects; ``seen`` maps ``<seq>_<k>`` → bool."""
    missing = [r["Sequence"] for r in rows if r["Sequence"] not in seen]
    if missing:
        raise InputError(f"no seen/unseen entry for object(s) {', '.join(missing[:5])}")
    out = {}
    for group, flag in (("seen", True), ("unseen", False)):
        members = [r for r in rows if bool(seen[r["Sequence"]]) is flag]
        out[f"J_{group}"] = float(np.mean([r["J-Mean"] for r in members])) if members else float("nan")
        out[f"F_{group}"] = float(np.mean([r["F-Mean"] for r in members])) if members else float("nan")
    overall = (out["J_seen"] + out["F_seen"] + out["J_unseen"] + out["F_unseen"]) / 4
    return {"Overall": overall, **out}


def evaluate_davis(gt: str | Path, pred: str | Path, workers: int | None = None, quiet: bool = True,
                   seen: Mapping[str, bool] | None = None) -> EvalResult:
    """DAVIS 2017 semi-supervised J&F of the predictions folder ``pred`` against the root ``gt``.

    ``seen`` (optional) maps ``<seq>_<k>`` to whether the object's category is seen in training,
    and adds the YouTube-VOS-style Overall/J_seen/F_seen/J_unseen/F_unseen.
    """
    objects = run_sequences("semi-supervised", gt, pred, workers, quiet)
    metrics, rows = summarize(objects)
    if seen is not None:
        metrics.update(seen_summary(rows, seen))
    per_object = {r["Sequence"]: {"J-Mean": r["J-Mean"], "F-Mean": r["F-Mean"]} for r in rows}
    return EvalResult("DAVIS 2017 semi-supervised", metrics, rows, ["Sequence", "J-Mean", "F-Mean"],
                      {"per_object": per_object},
                      [f"{len(rows)} objects; first and last frames not evaluated"])
