"""Which evaluator scores which benchmark, and which benchmarks belong to which task.

Benchmark names are the ``kind`` of the evaluation vectors' ``case.json`` and the values of
``univs eval --protocol``. Every evaluator is called as ``fn(gt, pred, workers=..., quiet=...)``
and returns an :class:`~univs.evaluation.report.EvalResult`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from univs.errors import InputError
from univs.evaluation.davis import evaluate_davis
from univs.evaluation.pvos import evaluate_viposeg
from univs.evaluation.refvos import evaluate_mevis, evaluate_refdavis, evaluate_refytvos
from univs.evaluation.report import EvalResult
from univs.evaluation.vipseg import evaluate_vipseg
from univs.evaluation.vspw import evaluate_vspw
from univs.evaluation.ytvis import evaluate_ytvis

BENCHMARKS: dict[str, Callable[..., EvalResult]] = {
    "davis": evaluate_davis,
    "refdavis": evaluate_refdavis,
    "mevis": evaluate_mevis,
    "refytvos": evaluate_refytvos,
    "ytvis": evaluate_ytvis,
    "vipseg": evaluate_vipseg,
    "vspw": evaluate_vspw,
    "viposeg": evaluate_viposeg,
}

TASK_BENCHMARKS: dict[str, tuple[str, ...]] = {
    "vos": ("davis",),
    "refvos": ("refdavis", "mevis", "refytvos"),
    "vis": ("ytvis",),
    "vps": ("vipseg",),
    "vss": ("vspw",),
    "pvos": ("viposeg",),
}


def _detect_refvos(gt: Path) -> str:
    if (gt / "Annotations_unsupervised").is_dir():
        return "refdavis"
    if (gt / "mask_dict.json").is_file():
        return "mevis"
    if gt.suffix == ".json" or (gt / "meta_expressions.json").is_file() or (gt / "meta_expressions").is_dir():
        return "refytvos"
    raise InputError("cannot tell the RefVOS benchmark from this layout (expected Annotations_unsupervised/ "
                     "for Ref-DAVIS, mask_dict.json for MeViS, meta_expressions.json or meta_expressions/ for "
                     "Ref-YouTube-VOS); pass --protocol", gt)


def resolve_benchmark(task: str, gt: str | Path, protocol: str | None = None) -> str:
    """The benchmark that scores ``task``: ``protocol`` if given (checked), else detected from ``gt``."""
    choices = TASK_BENCHMARKS[task]
    if protocol is not None:
        if protocol not in choices:
            raise InputError(f"--protocol {protocol!r} does not apply to --task {task}; "
                             f"choose from {', '.join(choices)}")
        return protocol
    return _detect_refvos(Path(gt)) if task == "refvos" else choices[0]
