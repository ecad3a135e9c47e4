"""What an evaluation returns, and how it is shown and saved.

:class:`EvalResult` holds the summary numbers under the official metric names (the names of the
``expected.json`` files), nested extras (e.g. DAVIS ``per_object``), and per-sequence rows for
the CSV, as the official tools write ``per-sequence_results-val.csv``.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

from univs.data.atomic import atomic_open


@dataclass
class EvalResult:
    """Scores of one benchmark run.

    ``metrics``: summary name → value (NaN where the official tool has no number).
    ``details``: nested extras written into the JSON beside the metrics (``per_object`` ...).
    ``rows``/``columns``: the per-sequence (per-object, per-expression, per-video) table.
    ``notes``: lines printed under the table (e.g. how the score is formed).
    """

    benchmark: str
    metrics: dict[str, float]
    rows: list[dict] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    details: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        """Metrics and details as one JSON-ready dict (NaN → ``null``)."""
        return _json_ready({**self.metrics, **self.details})


def _json_ready(obj):
    if isinstance(obj, dict):
        return {str(k): _json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_ready(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if hasattr(obj, "item"):
        return _json_ready(obj.item())
    return obj


def write_json(result: EvalResult, path: str | Path) -> None:
    with atomic_open(path, "w", encoding="utf-8") as f:
        json.dump(result.to_json(), f, indent=1)
        f.write("\n")


def write_csv(result: EvalResult, path: str | Path) -> None:
    with atomic_open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=result.columns)
        writer.writeheader()
        for row in result.rows:
            writer.writerow({k: _cell(row.get(k)) for k in result.columns})


def _cell(v) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.6f}"
    return "" if v is None else str(v)


def print_table(result: EvalResult, file=None) -> None:
    """A readable summary table (rich when the output is a terminal, plain text otherwise)."""
    from rich.console import Console
    from rich.table import Table

    console = Console(file=file or sys.stdout, highlight=False)
    console.print(result.benchmark, style="bold")
    table = Table()
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in result.metrics.items():
        table.add_row(name, "-" if value is None or (isinstance(value, float) and math.isnan(value))
                      else f"{value:.4f}")
    console.print(table)
    for line in result.notes:
        console.print(line)
