"""Referring VOS: Ref-DAVIS17, MeViS, and Ref-YouTube-VOS (submission layout + local J&F).

**Ref-DAVIS17** — davisvideochallenge/davis2017-evaluation @ ac7c43fca936f9722837b7fbd337d284ba37004b
run with ``task='unsupervised'`` once per annotator folder ``anno_0..anno_3`` (as
wjn922/ReferFormer @ 06fc218 ``scripts/dist_test_davis.sh`` + ``eval_davis.py`` and
MinghanLi/UniVS @ 7415d31 ``vos_davis_evaluation.py`` do); see :mod:`univs.evaluation.davis` for
the unsupervised protocol. Reported: the mean over the four annotators of each annotator's
J&F-Mean, J-/F-Mean, Recall, Decay, plus ``anno_<a>/<measure>``.

**MeViS** — henghuiding/MeViS @ 7c0620b9dc0ab7802747957f221674f175c8a47b, ``tools/eval_mevis.py``
with ``tools/metrics.py`` (the DAVIS J and F of :mod:`univs.evaluation.jf`):
- GT of an expression per frame = union of the RLE masks of its ``anno_id``s in ``mask_dict.json``
  (``null`` = absent).
- Prediction ``PRED/<video>/<exp_id>/<frame>.png`` read as OpenCV grey; non-zero = foreground.
- Every frame is evaluated; no void; J = F = 1 where both masks are empty.
- Expression J / F = mean over its frames; dataset J / F = mean over expressions;
  J&F = (J + F)/2. A missing video folder scores J = F = 0 for its expressions; a missing
  expression folder or frame is an error.

**Ref-YouTube-VOS** is scored only by its CodaLab server. :func:`zip_refytvos_submission` zips
``Annotations/<video>/<exp_id>/<frame>.png`` as the server expects (ReferFormer's
``inference_ytvos.py`` layout: 8-bit 0/255 PNGs). Where ground-truth masks are available locally
(``Annotations/<video>/<frame>.png`` palette PNGs beside ``meta_expressions.json``, or the
dataset's own ``<split>/Annotations/`` beside ``meta_expressions/<split>/``; expressions carry
``obj_id``), :func:`evaluate_refytvos` gives the MeViS per-expression J&F over
them — a local proxy, not the server's score.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from univs.data.atomic import atomic_path
from univs.data.formats.common import read_index_png, read_json
from univs.data.formats.rle import rle_from_json
from univs.data.types import decode_mask
from univs.errors import InputError
from univs.evaluation.davis import MEASURES, run_sequences, summarize
from univs.evaluation.io import check_shape, read_gray_cv2
from univs.evaluation.jf import davis_radius, disk_kernel, label_slices, object_jf
from univs.evaluation.parallel import map_jobs
from univs.evaluation.report import EvalResult

ANNOTATORS = 4


def evaluate_refdavis(gt: str | Path, pred: str | Path, workers: int | None = None,
                      quiet: bool = True) -> EvalResult:
    """Ref-DAVIS17 J&F: the DAVIS unsupervised protocol per annotator folder, then the mean."""
    pred = Path(pred)
    per_annotator: list[dict[str, float]] = []
    rows: list[dict] = []
    for a in range(ANNOTATORS):
        folder = pred / f"anno_{a}"
        if not folder.is_dir():
            raise InputError(f"missing annotator folder anno_{a} (Ref-DAVIS averages anno_0..anno_3)", folder)
        metrics, object_rows = summarize(run_sequences("unsupervised", gt, folder, workers, quiet))
        per_annotator.append(metrics)
        rows += [{"Annotator": f"anno_{a}", **r} for r in object_rows]
    metrics = {m: float(np.mean([p[m] for p in per_annotator])) for m in MEASURES}
    for a, p in enumerate(per_annotator):
        metrics.update({f"anno_{a}/{m}": v for m, v in p.items()})
    return EvalResult("Ref-DAVIS17 (unsupervised protocol, mean of 4 annotators)", metrics, rows,
                      ["Annotator", "Sequence", "J-Mean", "F-Mean"])


# --------------------------------------------------------------------------- per-expression J&F


@dataclass
class RleTargets:
    """MeViS ground truth of one video: per expression, its ``anno_id``s' per-frame RLEs."""

    annos: dict[str, list[tuple[int, list]]]
    path: Path  # mask_dict.json

    def shape(self) -> tuple[int, int] | None:
        """The frame size the RLEs declare (``None`` when every entry is null)."""
        for annos in self.annos.values():
            for anno, rles in annos:
                for t, rle in enumerate(rles):
                    if rle:
                        size = rle.get("size") if isinstance(rle, dict) else None
                        if not isinstance(size, list) or len(size) != 2:
                            raise InputError(f"anno_id {anno}, frame {t}: RLE without a [h, w] size", self.path)
                        return int(size[0]), int(size[1])
        return None

    def masks(self, t: int, frame: str, shape: tuple[int, int]) -> dict[str, np.ndarray]:
        """Per expression, the ``(H, W)`` union of its objects' masks on frame ``t``."""
        out = {}
        for e, annos in self.annos.items():
            mask = np.zeros(shape, dtype=bool)
            for anno, rles in annos:
                if rles[t]:
                    mask |= decode_mask(rle_from_json(rles[t], shape, self.path, f"anno_id {anno}, frame {t}"))
            out[e] = mask
        return out


@dataclass
class PaletteTargets:
    """Ref-YouTube-VOS ground truth of one video: per expression, its object ids in the
    palette PNGs ``Annotations/<video>/<frame>.png``."""

    object_ids: dict[str, list[int]]
    folder: Path

    def shape(self) -> tuple[int, int] | None:
        return None

    def masks(self, t: int, frame: str, shape: tuple[int, int]) -> dict[str, np.ndarray]:
        path = self.folder / f"{frame}.png"
        ann = read_index_png(path, shape, "annotation")
        return {e: np.isin(ann, ids) for e, ids in self.object_ids.items()}


@dataclass
class VideoJob:
    """One video's frames, expressions' ground truth, and where its predictions are."""

    video: str
    frames: list[str]
    targets: RleTargets | PaletteTargets
    pred_root: Path


def video_expressions(job: VideoJob) -> list[tuple[str, float, float]]:
    """(``<video>_<exp_id>``, J, F) for every expression of one video, streaming its frames."""
    exps = list(job.targets.annos if isinstance(job.targets, RleTargets) else job.targets.object_ids)
    video_dir = job.pred_root / job.video
    if not video_dir.is_dir():
        return [(f"{job.video}_{e}", 0.0, 0.0) for e in exps]
    for e in exps:
        if not (video_dir / e).is_dir():
            raise InputError(f"missing expression folder {e!r}", video_dir / e)
    j, f = np.zeros((len(exps), len(job.frames))), np.zeros((len(exps), len(job.frames)))
    shape = job.targets.shape()
    what = "ground truth" if shape is not None else "video's first prediction"
    for t, frame in enumerate(job.frames):
        preds = {}
        for e in exps:
            path = video_dir / e / f"{frame}.png"
            preds[e] = (read_gray_cv2(path) != 0).astype(np.uint8)
            shape = shape or preds[e].shape
            check_shape(preds[e], shape, path, what)
        kernel = disk_kernel(davis_radius(*shape))
        for i, (e, gt) in enumerate(job.targets.masks(t, frame, shape).items()):
            gt, pred = gt.astype(np.uint8), preds[e]
            j[i, t], f[i, t] = object_jf(gt, 1, label_slices(gt, 1)[0], pred, 1, label_slices(pred, 1)[0], kernel)
    return [(f"{job.video}_{e}", float(j[i].mean()), float(f[i].mean())) for i, e in enumerate(exps)]


def _score_expressions(benchmark: str, jobs: list[VideoJob], meta_path: Path, workers: int | None,
                       quiet: bool, notes: list[str]) -> EvalResult:
    scores = [s for video in map_jobs(video_expressions, jobs, workers, quiet, desc=benchmark) for s in video]
    if not scores:
        raise InputError("no expressions to evaluate", meta_path)
    j = float(np.mean([s[1] for s in scores]))
    f = float(np.mean([s[2] for s in scores]))
    rows = [{"Expression": k, "J": sj, "F": sf, "J&F": (sj + sf) / 2} for k, sj, sf in scores]
    return EvalResult(benchmark, {"J&F": (j + f) / 2, "J": j, "F": f}, rows, ["Expression", "J", "F", "J&F"],
                      {"per_expression": {r["Expression"]: {"J": r["J"], "F": r["F"]} for r in rows}}, notes)


def _videos(meta: dict, path: Path) -> dict:
    videos = meta.get("videos") if isinstance(meta, dict) else None
    if not isinstance(videos, dict):
        raise InputError("expected {'videos': {<video>: {'expressions': ..., 'frames': [...]}}}", path)
    for name, v in videos.items():
        if not (isinstance(v, dict) and isinstance(v.get("expressions"), dict) and isinstance(v.get("frames"), list)):
            raise InputError(f"video {name!r} lacks 'expressions' or 'frames'", path)
        if not all(isinstance(exp, dict) for exp in v["expressions"].values()):
            raise InputError(f"video {name!r}: each expression must be an object", path)
    return videos


def evaluate_mevis(gt: str | Path, pred: str | Path, workers: int | None = None, quiet: bool = True) -> EvalResult:
    """MeViS J&F (``eval_mevis.py``) of ``PRED/<video>/<exp>/<frame>.png`` against ``GT``'s
    ``meta_expressions.json`` + ``mask_dict.json``."""
    gt, pred = Path(gt), Path(pred)
    if not pred.is_dir():
        raise InputError("missing predictions folder", pred)
    meta_path, masks_path = gt / "meta_expressions.json", gt / "mask_dict.json"
    videos = _videos(read_json(meta_path), meta_path)
    mask_dict = read_json(masks_path)
    jobs = []
    for name, v in videos.items():
        expressions = {}
        for e, exp in v["expressions"].items():
            annos = []
            for a in exp.get("anno_id", []):
                rles = mask_dict.get(str(a)) if isinstance(mask_dict, dict) else None
                if not isinstance(rles, list) or len(rles) != len(v["frames"]):
                    raise InputError(f"anno_id {a} (video {name!r}, expression {e!r}) needs one entry per "
                                     f"frame ({len(v['frames'])})", masks_path)
                annos.append((a, rles))
            expressions[str(e)] = annos
        jobs.append(VideoJob(name, [str(f) for f in v["frames"]], RleTargets(expressions, masks_path), pred))
    return _score_expressions("MeViS", jobs, meta_path, workers, quiet, [])


def _meta_path(gt: str | Path) -> Path:
    """``GT`` itself when it is the meta JSON; else ``GT/meta_expressions.json``; else, at a
    dataset root, the train split's ``GT/meta_expressions/train/meta_expressions.json`` (the only
    split with masks)."""
    gt = Path(gt)
    if gt.suffix == ".json":
        return gt
    beside = gt / "meta_expressions.json"
    root_train = gt / "meta_expressions" / "train" / "meta_expressions.json"
    return root_train if not beside.exists() and root_train.is_file() else beside


def _annotations_root(meta_path: Path) -> Path:
    """The ground-truth palette PNGs of a meta JSON: ``Annotations/`` beside it, or, in the
    dataset's own layout (``meta_expressions/<split>/meta_expressions.json``), ``<split>/Annotations/``
    under the root (the first that exists; the first when neither does)."""
    beside = meta_path.parent / "Annotations"
    if meta_path.parent.parent.name == "meta_expressions":
        official = meta_path.parent.parent.parent / meta_path.parent.name / "Annotations"
        if official.is_dir() and not beside.is_dir():
            return official
    return beside


def _refytvos_meta(gt: Path) -> tuple[Path, dict]:
    meta_path = _meta_path(gt)
    return meta_path, _videos(read_json(meta_path), meta_path)


def refytvos_has_masks(gt: str | Path) -> bool:
    """Whether ground-truth masks (see :func:`_annotations_root`) are present."""
    return _annotations_root(_meta_path(gt)).is_dir()


def evaluate_refytvos(gt: str | Path, pred: str | Path, workers: int | None = None, quiet: bool = True) -> EvalResult:
    """MeViS-style per-expression J&F over local Ref-YouTube-VOS ground truth (a proxy score)."""
    gt, pred = Path(gt), Path(pred)
    meta_path, videos = _refytvos_meta(gt)
    ann_root = _annotations_root(meta_path)
    if not ann_root.is_dir():
        raise InputError("Ref-YouTube-VOS is scored only by its server: no local Annotations/ here; "
                         "use --submission OUT.zip to package the predictions", ann_root)
    if not pred.is_dir():
        raise InputError("missing predictions folder", pred)
    jobs = []
    for name, v in videos.items():
        expressions = {}
        for e, exp in v["expressions"].items():
            ids = exp.get("obj_id")
            ids = ids if isinstance(ids, list) else [ids]
            try:
                expressions[str(e)] = [int(i) for i in ids]
            except (TypeError, ValueError):
                raise InputError(f"expression {e!r} of video {name!r} has no integer obj_id", meta_path) from None
        jobs.append(VideoJob(name, [str(f) for f in v["frames"]], PaletteTargets(expressions, ann_root / name), pred))
    return _score_expressions("Ref-YouTube-VOS (local J&F)", jobs, meta_path, workers, quiet,
                              ["MeViS-style per-expression J&F on local GT: a proxy, not the server's score"])


def zip_refytvos_submission(gt: str | Path, pred: str | Path, out_zip: str | Path) -> int:
    """Zip ``PRED/<video>/<exp_id>/<frame>.png`` as ``Annotations/<video>/<exp_id>/<frame>.png``.

    Every (video, expression, frame) of ``meta_expressions.json`` must have its PNG (single
    channel, 0 background / non-zero target). Returns the number of files written.
    """
    pred = Path(pred)
    _, videos = _refytvos_meta(Path(gt))
    entries = []
    for name, v in videos.items():
        for e in v["expressions"]:
            for frame in v["frames"]:
                path = pred / name / str(e) / f"{frame}.png"
                read_index_png(path)
                entries.append((path, f"Annotations/{name}/{e}/{frame}.png"))
    with atomic_path(out_zip) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, arcname in entries:
            zf.write(path, arcname)
    return len(entries)
