"""Every number of every case and variant in the shared evaluation vectors, to 1e-6.

Walks the shared evaluation vectors (``tests/shared_data.py`` says where): each case folder's ``case.json``
``kind`` picks the evaluator, each ``expected.json`` variant is scored, and each
``expected_errors`` input must raise :class:`InputError`. Cases added later are picked up as they are.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from univs.cli import main
from univs.errors import InputError
from univs.evaluation import BENCHMARKS, TASK_BENCHMARKS

from shared_data import EVALVECTORS as VECTORS, requires_vectors

pytestmark = requires_vectors
TOL = 1e-6


def _cases() -> list[Path]:
    return sorted(p.parent for p in VECTORS.glob("*/case.json")) if VECTORS.is_dir() else []


def _kind(case: Path) -> str:
    return json.loads((case / "case.json").read_text())["kind"]


def _gt(case: Path) -> Path:
    return case / "gt" if (case / "gt").is_dir() else case / "gt.json"


def _pred(folder: Path, name: str, case: Path) -> Path:
    """A variant's predictions: ``<folder>/<name>/`` or ``<case>/pred_<name>.json`` (YouTube-VIS)."""
    if (folder / name).exists():
        return folder / name
    return case / f"{folder.name}_{name}.json" if folder.name == "pred" else folder / f"{name}.json"


def _variants() -> list[tuple[Path, str]]:
    return [(c, v) for c in _cases() for v in json.loads((c / "expected.json").read_text())]


def _errors() -> list[tuple[Path, str]]:
    return [(c, e) for c in _cases() for e in json.loads((c / "case.json").read_text()).get("expected_errors", {})]


def _compare(expected: dict, got: dict, where: str) -> int:
    """Assert every (nested) number of ``expected`` is in ``got`` to TOL; return how many."""
    n = 0
    for key, value in expected.items():
        assert key in got, f"{where}: missing {key}"
        if isinstance(value, dict):
            n += _compare(value, got[key], f"{where}/{key}")
        else:
            assert got[key] is not None and abs(got[key] - value) <= TOL, f"{where}/{key}: {got[key]} != {value}"
            n += 1
    return n


def test_vectors_present():
    assert _cases(), f"no evaluation vectors under {VECTORS}"


@pytest.mark.parametrize("case,variant", _variants(), ids=lambda x: x.name if isinstance(x, Path) else x)
def test_variant_reproduces_official_numbers(case: Path, variant: str):
    kind = _kind(case)
    expected = json.loads((case / "expected.json").read_text())[variant]
    result = BENCHMARKS[kind](_gt(case), _pred(case / "pred", variant, case), workers=1)
    assert _compare(expected, result.to_json(), f"{case.name}/{variant}") > 0
    extra = json.loads((case / "case.json").read_text())["info"].get("per_variant", {}).get(variant, {})
    if "per_expression" in extra:
        _compare(extra["per_expression"], result.details["per_expression"], f"{case.name}/{variant}/info")
    if "STQ_per_seq" in extra:
        for key in ("STQ", "AQ", "SQ"):
            assert [pytest.approx(v, abs=TOL) for v in extra[f"{key}_per_seq"]] == [r[key] for r in result.rows]
    if "univs_variant_mVC8" in extra:
        remapped = BENCHMARKS[kind](_gt(case), _pred(case / "pred", variant, case), workers=1, others_as_void=True)
        for n in (8, 16):
            assert abs(remapped.metrics[f"mVC{n}"] - extra[f"univs_variant_mVC{n}"]) <= TOL


@pytest.mark.parametrize("case,error", _errors(), ids=lambda x: x.name if isinstance(x, Path) else x)
def test_official_refusals_raise(case: Path, error: str):
    with pytest.raises(InputError) as info:
        BENCHMARKS[_kind(case)](_gt(case), _pred(case / "pred_errors", error, case), workers=1)
    assert str(case) in str(info.value)


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c.name)
def test_cli_on_every_case(case: Path, tmp_path):
    """``univs eval`` picks the benchmark from the layout and writes the official names to JSON."""
    kind = _kind(case)
    task = next(t for t, kinds in TASK_BENCHMARKS.items() if kind in kinds)
    variant, expected = next(iter(json.loads((case / "expected.json").read_text()).items()))
    out = tmp_path / "r.json"
    rc = main(["eval", "--task", task, "--gt", str(_gt(case)), "--pred", str(_pred(case / "pred", variant, case)),
               "--json", str(out), "--quiet", "--workers", "1"])
    assert rc == 0 and _compare(expected, json.loads(out.read_text()), f"cli {case.name}/{variant}") > 0


def test_cli_writes_json_and_csv(tmp_path, capsys):
    case = next(c for c in _cases() if _kind(c) == "davis" and (c / "pred" / "shift").is_dir())
    expected = json.loads((case / "expected.json").read_text())["shift"]
    out_json, out_csv = tmp_path / "r.json", tmp_path / "r.csv"
    rc = main(["eval", "--task", "vos", "--gt", str(case / "gt"), "--pred", str(case / "pred" / "shift"),
               "--json", str(out_json), "--csv", str(out_csv), "--workers", "2", "--quiet"])
    assert rc == 0
    assert "J&F-Mean" in capsys.readouterr().out
    assert _compare(expected, json.loads(out_json.read_text()), "cli") > 7
    with open(out_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["Sequence"] for r in rows] == list(expected["per_object"])
    for r in rows:
        assert abs(float(r["J-Mean"]) - expected["per_object"][r["Sequence"]]["J-Mean"]) <= 1e-6


def test_cli_refusal_is_one_line_exit_2(capsys):
    case = next(c for c, _ in _errors() if _kind(c) == "davis")
    error = next(iter(json.loads((case / "case.json").read_text())["expected_errors"]))
    rc = main(["eval", "--task", "vos", "--gt", str(case / "gt"), "--pred", str(case / "pred_errors" / error),
               "--quiet", "--workers", "1"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("univs eval: error:") and "\n" not in err


def test_seen_summary_over_the_vectors(tmp_path):
    case = next(c for c in _cases() if _kind(c) == "davis" and (c / "pred" / "shift").is_dir())
    expected = json.loads((case / "expected.json").read_text())["shift"]["per_object"]
    names = list(expected)
    seen = {n: i % 2 == 0 for i, n in enumerate(names)}
    (tmp_path / "seen.json").write_text(json.dumps(seen))
    out = tmp_path / "r.json"
    assert main(["eval", "--task", "vos", "--gt", str(case / "gt"), "--pred", str(case / "pred" / "shift"),
                 "--seen", str(tmp_path / "seen.json"), "--json", str(out), "--quiet", "--workers", "1"]) == 0
    r = json.loads(out.read_text())
    groups = {g: [expected[n] for n in names if seen[n] is (g == "seen")] for g in ("seen", "unseen")}
    for g, objs in groups.items():
        assert r[f"J_{g}"] == pytest.approx(np.mean([o["J-Mean"] for o in objs]), abs=1e-12)
        assert r[f"F_{g}"] == pytest.approx(np.mean([o["F-Mean"] for o in objs]), abs=1e-12)
    assert r["Overall"] == pytest.approx((r["J_seen"] + r["F_seen"] + r["J_unseen"] + r["F_unseen"]) / 4)
