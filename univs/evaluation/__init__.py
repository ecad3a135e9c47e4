"""Official metrics for the six UniVS tasks, on the benchmarks' native files (numpy + pycocotools).

VOS: DAVIS 2017 semi-supervised J&F (:func:`evaluate_davis`). RefVOS: Ref-DAVIS17
(:func:`evaluate_refdavis`), MeViS (:func:`evaluate_mevis`), Ref-YouTube-VOS submission zip
(:func:`zip_refytvos_submission`) and local J&F (:func:`evaluate_refytvos`). VIS: YouTube-VIS
AP/AR (:func:`evaluate_ytvis`). VPS: VIPSeg VPQ + STQ (:func:`evaluate_vipseg`). VSS: VSPW mIoU +
mVC (:func:`evaluate_vspw`). PVOS: VIPOSeg (:func:`evaluate_viposeg`). ``BENCHMARKS`` maps each
benchmark name to its evaluator; each returns an :class:`EvalResult`.
"""

from univs.evaluation.davis import evaluate_davis
from univs.evaluation.pvos import VIPOSEG_SPLIT, PvosSplit, evaluate_viposeg
from univs.evaluation.refvos import evaluate_mevis, evaluate_refdavis, evaluate_refytvos, zip_refytvos_submission
from univs.evaluation.registry import BENCHMARKS, TASK_BENCHMARKS, resolve_benchmark
from univs.evaluation.report import EvalResult, write_csv, write_json
from univs.evaluation.vipseg import evaluate_vipseg
from univs.evaluation.vspw import evaluate_vspw
from univs.evaluation.ytvis import evaluate_ytvis

__all__ = [
    "BENCHMARKS", "TASK_BENCHMARKS", "VIPOSEG_SPLIT", "EvalResult", "PvosSplit", "evaluate_davis",
    "evaluate_mevis", "evaluate_refdavis", "evaluate_refytvos", "evaluate_vipseg", "evaluate_viposeg",
    "evaluate_vspw", "evaluate_ytvis", "resolve_benchmark", "write_csv", "write_json",
    "zip_refytvos_submission",
]
