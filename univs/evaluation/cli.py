"""``univs eval``: score predictions in a benchmark's native layout, print a table, write JSON/CSV."""

from __future__ import annotations

import sys
from pathlib import Path

from univs.data.formats.common import read_json
from univs.errors import InputError
from univs.evaluation.refvos import refytvos_has_masks, zip_refytvos_submission
from univs.evaluation.registry import BENCHMARKS, resolve_benchmark
from univs.evaluation.report import print_table, write_csv, write_json


def read_seen(path: str | Path) -> dict[str, bool]:
    """Seen/unseen marks: ``{"<seq>_<k>": bool}`` or ``{"<seq>": {"<k>": bool}}`` → flat dict."""
    doc = read_json(Path(path))
    expected = 'expected {"<seq>_<k>": true|false} or {"<seq>": {"<k>": true|false}}'
    if not isinstance(doc, dict):
        raise InputError(expected, path)
    flat: dict[str, bool] = {}
    for key, value in doc.items():
        for k, v in value.items() if isinstance(value, dict) else [(None, value)]:
            if not isinstance(v, bool):
                raise InputError(f"{expected}; got {v!r} for {key!r}", path)
            flat[key if k is None else f"{key}_{k}"] = v
    return flat


def run_eval(task: str, gt: str, pred: str, json_path: str | None = None, csv_path: str | None = None,
             protocol: str | None = None, workers: int | None = None, quiet: bool = False,
             seen: str | None = None, submission: str | None = None, others_as_void: bool = False) -> int:
    """Evaluate ``pred`` against ``gt`` for ``task``; print the table and write the requested files."""
    benchmark = resolve_benchmark(task, gt, protocol)
    if seen is not None and benchmark != "davis":
        raise InputError("--seen applies to --task vos only")
    if submission is not None and benchmark != "refytvos":
        raise InputError("--submission applies to Ref-YouTube-VOS (--task refvos --protocol refytvos) only")
    if others_as_void and benchmark != "vspw":
        raise InputError("--vc-others-as-void applies to --task vss only")
    if benchmark == "refytvos":
        if submission is not None:
            n = zip_refytvos_submission(gt, pred, submission)
            print(f"wrote {submission}: {n} PNGs as Annotations/<video>/<exp_id>/<frame>.png for the "
                  "Ref-YouTube-VOS server")
        if not refytvos_has_masks(gt):
            if submission is None:
                raise InputError("Ref-YouTube-VOS is scored only by its server and there are no local "
                                 "ground-truth masks (Annotations/) here; pass --submission OUT.zip", gt)
            print("no local ground-truth masks: upload the zip to the Ref-YouTube-VOS server for scores")
            return 0
    kwargs: dict = {"workers": workers, "quiet": quiet}
    if seen is not None:
        kwargs["seen"] = read_seen(seen)
    if others_as_void:
        kwargs["others_as_void"] = True
    result = BENCHMARKS[benchmark](gt, pred, **kwargs)
    print_table(result, file=sys.stdout)
    if json_path:
        write_json(result, json_path)
    if csv_path:
        write_csv(result, csv_path)
    return 0
