"""VSPW video semantic segmentation: mIoU and video consistency mVC8 / mVC16.

Sources: sssdddwww2/CVPR2021_VSPW_Implement @ 3ead088804fe34d3b826b656e026d50562a3f7bd —
``VC_perclip.py`` (VC) and ``utils.Evaluator`` as ``test.py``/``dataset2.py`` feed it (mIoU;
MinghanLi/UniVS @ 7415d31 ``eval_miou_vss.py`` gives identical numbers).

Layout: ``GT/val.txt`` (video names), ``GT/data/<video>/mask/<frame>.png`` (uint8: 1..124
classes, 0 "others", 255 void); predictions ``PRED/<video>/<frame>.png`` with the same names,
values in VSPW's 0-based output space 0..123 (GT class c is predicted as c−1).

- mIoU: GT mapped 0→255, v→v−1, 254→255 (classes 1..124 become 0..123; "others" and void are
  ignored); one 124×124 confusion matrix (rows GT, columns prediction) over every frame of every
  video; IoU_c = diag/(row_c + col_c − diag); mIoU = mean of IoU_c over the classes present in
  the GT (row_c > 0). A prediction value above 123 on a scored pixel is refused.
- VC_n (n = 8, 16): for every video with more than n frames (sorted names), windows start at
  0..L−n−1 (L−n windows; the last possible one is not used). In a window, G = pixels whose raw
  GT value is the same in all n frames (0 and 255 are values too), P = pixels whose predicted
  value is the same in all n frames; score = |G∧P|/|G| (NaN if G is empty). mVC_n = nanmean
  over all windows of all videos. ``others_as_void=True`` first maps GT 0 → 255, as UniVS's
  ``eval_vc_perclip_vss.py`` does.

Streaming: each pixel keeps the length of its current run of equal values, so a window
[s, s+n−1] is constant at a pixel iff the run at frame s+n−1 is ≥ n; frames are read once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from univs.data.formats.common import read_index_png, read_lines
from univs.errors import InputError
from univs.evaluation.io import list_files
from univs.evaluation.parallel import map_jobs
from univs.evaluation.report import EvalResult

NUM_CLASSES = 124
VC_WINDOWS = (8, 16)


@dataclass
class VideoVSS:
    """One video's confusion matrix and VC window scores."""

    video: str
    frames: int
    confusion: np.ndarray  # (124, 124) int64
    vc: dict[int, list[float]]


def video_vss(job: tuple[Path, Path, str, bool]) -> VideoVSS:
    """Confusion matrix and VC window scores of one video, read frame by frame."""
    gt_root, pred_root, video, others_as_void = job
    mask_dir = gt_root / "data" / video / "mask"
    names = list_files(mask_dir, ".png")
    if not names:
        raise InputError("no mask PNGs", mask_dir)
    confusion = np.zeros(NUM_CLASSES * NUM_CLASSES, dtype=np.int64)
    vc: dict[int, list[float]] = {n: [] for n in VC_WINDOWS}
    prev = runs = None
    for e, name in enumerate(names):
        gt = read_index_png(mask_dir / name, None if prev is None else prev[0].shape, "mask")
        pred_path = pred_root / video / name
        pred = read_index_png(pred_path, gt.shape, "prediction")
        valid = (gt >= 1) & (gt <= NUM_CLASSES)
        scored = pred[valid].astype(np.int64)
        if scored.size and scored.max() >= NUM_CLASSES:
            raise InputError(f"prediction value {scored.max()} outside VSPW's 0..{NUM_CLASSES - 1} class space "
                             "(GT class c is predicted as c-1)", pred_path)
        confusion += np.bincount(NUM_CLASSES * (gt[valid].astype(np.int64) - 1) + scored,
                                 minlength=NUM_CLASSES * NUM_CLASSES)
        gt_vc = np.where(gt == 0, 255, gt) if others_as_void else gt
        if prev is None:
            runs = [np.ones(gt.shape, dtype=np.int32), np.ones(gt.shape, dtype=np.int32)]
        else:
            for r, cur, old in zip(runs, (gt_vc, pred), prev):
                np.multiply(r, cur == old, out=r)
                r += 1
        prev = (gt_vc, pred)
        for n in VC_WINDOWS:
            if n - 1 <= e <= len(names) - 2:
                g = runs[0] >= n
                both = np.count_nonzero(g & (runs[1] >= n))
                total = np.count_nonzero(g)
                vc[n].append(both / total if total else float("nan"))
    return VideoVSS(video, len(names), confusion.reshape(NUM_CLASSES, NUM_CLASSES), vc)


def _nanmean(values: list[float]) -> float:
    arr = np.asarray(values, dtype=np.float64)
    return float(np.nanmean(arr)) if np.isfinite(arr).any() else float("nan")


def evaluate_vspw(gt: str | Path, pred: str | Path, workers: int | None = None, quiet: bool = True,
                  others_as_void: bool = False) -> EvalResult:
    """VSPW mIoU, mVC8 and mVC16 of ``PRED/<video>/<frame>.png`` against the VSPW root ``GT``."""
    gt, pred = Path(gt), Path(pred)
    if not pred.is_dir():
        raise InputError("missing predictions folder", pred)
    videos = read_lines(gt / "val.txt")
    if not videos:
        raise InputError("no videos listed", gt / "val.txt")
    results = map_jobs(video_vss, [(gt, pred, v, others_as_void) for v in videos], workers, quiet, desc="VSPW")
    confusion = sum((r.confusion for r in results), np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64))
    tp, rows_sum, cols_sum = np.diag(confusion), confusion.sum(axis=1), confusion.sum(axis=0)
    present = rows_sum > 0
    iou = tp[present] / (rows_sum[present] + cols_sum[present] - tp[present])
    metrics = {"mIoU": float(iou.mean()) if iou.size else float("nan")}
    for n in VC_WINDOWS:
        metrics[f"mVC{n}"] = _nanmean([s for r in results for s in r.vc[n]])
    rows = [{"video": r.video, "frames": r.frames, **{f"VC{n}": _nanmean(r.vc[n]) for n in VC_WINDOWS}}
            for r in results]
    windows = {n: sum(len(r.vc[n]) for r in results) for n in VC_WINDOWS}
    notes = [f"VC windows: {windows[8]} (n=8), {windows[16]} (n=16); GT 0 "
             + ("mapped to void for VC (UniVS variant)" if others_as_void else "kept as a value for VC")]
    return EvalResult("VSPW mIoU / VC", metrics, rows, ["video", "frames", "VC8", "VC16"], notes=notes)
