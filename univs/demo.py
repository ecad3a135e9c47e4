"""``univs demo``: all six tasks of a shipped model on a freshly generated synthetic world.

The demo generates a world (:func:`univs.data.synth.generate_world`, seed ``seed``; the shipped
model never trained on seed 0, see ``docs/models.md``), writes its ground truth in the benchmarks'
native layouts under ``<out>/gt/``, reads each back with the dataset readers, and runs every task
the way its benchmark poses it (:func:`univs.inference.dataset.video_job`):

==========  =====================================================================  ============
run         prompts / vocabulary                                                   scored as
==========  =====================================================================  ============
vis         the world's category names                                             YouTube-VIS
vss         the same, every pixel labelled                                         VSPW
vps         the same, stuff categories one target per class                        VIPSeg
vos-mask    each object's mask on the frame it first appears                       DAVIS J&F
vos-box     its bounding box there                                                 DAVIS J&F
vos-points  three clicks in its interior                                           DAVIS J&F
vos-scribble  a stroke inside it                                                   DAVIS J&F
pvos        things and stuff, each by its first mask                               VIPOSeg
refvos      every referring expression, by its text                                MeViS J&F
==========  =====================================================================  ============

Predictions go to ``<out>/pred/<run>/`` in the task's native layout (what ``univs eval`` reads),
an overlay of the first video to ``<out>/overlays/<run>.mp4`` and ``.gif``, and the scores of
:mod:`univs.evaluation` to ``<out>/metrics.json`` and a printed table. With ``videos`` > 1 the
same command measures the model's quality on a larger fresh world (the model card's table).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from univs.checkpoint import DEFAULT_CHECKPOINT
from univs.config import SynthConfig
from univs.data.atomic import atomic_open
from univs.data.formats import FORMAT_TASK, write_format
from univs.data.prompt_simulation import VISUAL_KINDS, click_region, scribble_region
from univs.data.synth.categories import synth_categories
from univs.data.synth import generate_world
from univs.data.synth.views import task_view
from univs.errors import InputError
from univs.evaluation import BENCHMARKS, PvosSplit, evaluate_viposeg
from univs.inference.run import PromptInput, VideoJob
from univs.inference.dataset import Shard, run_dataset
from univs.inference.cli import load_segmenter
from univs.inference.postprocess import mask_boxes
from univs.inference.segmenter import VideoSegmenter
from univs.inference.writers import JSON_OUTPUT


@dataclass(frozen=True)
class DemoRun:
    """One task run of the demo: ``task`` posed as benchmark ``fmt`` with ``prompt`` prompts,
    scored by ``metric`` (``target``: the quality bar of the model card, in the metric's unit)."""

    name: str
    task: str
    fmt: str
    prompt: str
    metric: str
    target: float | None


RUNS = (
    DemoRun("vis", "vis", "ytvis", "vocabulary", "AP", 0.60),
    DemoRun("vss", "vss", "vspw", "vocabulary", "mIoU", 0.85),
    DemoRun("vps", "vps", "vipseg", "vocabulary", "VPQ", 50.0),
    DemoRun("vos-mask", "vos", "davis", "mask", "J&F-Mean", 0.85),
    DemoRun("vos-box", "vos", "davis", "box", "J&F-Mean", None),
    DemoRun("vos-points", "vos", "davis", "points", "J&F-Mean", None),
    DemoRun("vos-scribble", "vos", "davis", "scribble", "J&F-Mean", None),
    DemoRun("pvos", "pvos", "viposeg", "mask", "seen_iou", None),
    DemoRun("refvos", "refvos", "mevis", "text", "J&F", 0.75),
)
"""The demo's runs, in order; ``metric`` is a key of the benchmark's ``EvalResult.metrics``, but
for PVOS: ``seen_iou``, VIPOSeg's overall G over its two seen groups (every synthetic class is
seen in training, so the unseen groups are empty and the official four-group mean is undefined)."""

GT_PATHS = {"davis": "davis", "viposeg": "viposeg/valid", "mevis": "mevis/train", "ytvis": "ytvis/train.json",
            "vipseg": "vipseg", "vspw": "vspw"}
"""Format → the ground-truth path its evaluator takes, under ``<out>/gt/``."""


def score(run: DemoRun, gt: Path, pred: Path) -> float:
    """The run's metric of the predictions ``pred`` against the ground truth ``gt`` (PVOS: every
    category of the synthetic world in a seen group)."""
    if run.fmt != "viposeg":
        return BENCHMARKS[run.fmt](gt, pred, workers=1, quiet=True).metrics[run.metric]
    categories = synth_categories()
    split = PvosSplit(thing_seen=frozenset(c for c in categories if categories[c].isthing), thing_unseen=frozenset(),
                      stuff_seen=frozenset(c for c in categories if not categories[c].isthing),
                      stuff_unseen=frozenset(), other_machine_unseen_videos=frozenset())
    metrics = evaluate_viposeg(gt, pred, workers=1, quiet=True, split=split).metrics
    return (metrics["thing_seen_iou"] + metrics["stuff_seen_iou"]) / 2


def prompt_of_kind(prompt: PromptInput, kind: str, rng: np.random.Generator) -> PromptInput:
    """The ``kind`` prompt a user would give for the object of a mask prompt, on the same frame:
    the mask itself, its bounding box, three interior clicks or an interior stroke."""
    mask = np.asarray(prompt.mask, bool)
    if kind == "mask":
        return prompt
    if kind == "box":
        return PromptInput(prompt.frame, prompt.obj_id, box=tuple(mask_boxes(torch.from_numpy(mask)[None])[0].tolist()))
    if kind == "points":
        ys, xs = np.nonzero(click_region(mask, 3, rng))
        return PromptInput(prompt.frame, prompt.obj_id, points=[(x + 0.5, y + 0.5, 1) for x, y in zip(xs, ys)])
    if kind == "scribble":
        return PromptInput(prompt.frame, prompt.obj_id, scribble=scribble_region(mask, rng))
    raise ValueError(f"unknown prompt kind {kind!r}")


def demo_job(job: VideoJob, kind: str, rng: np.random.Generator) -> VideoJob:
    """``job`` with its mask prompts turned into ``kind`` prompts (text and vocabulary jobs unchanged)."""
    if kind not in VISUAL_KINDS:
        return job
    job.prompts = [prompt_of_kind(p, kind, rng) for p in job.prompts]
    return job


def write_ground_truth(out: Path, cfg: SynthConfig, quiet: bool) -> None:
    """Generate the world of ``cfg`` and write it under ``out`` in every format the runs read."""
    world = generate_world(cfg, progress=not quiet)
    views = {}
    for fmt in sorted({r.fmt for r in RUNS}):
        task = FORMAT_TASK[fmt]
        if task not in views:
            views[task] = task_view(world, task)
        write_format(fmt, views[task], out / fmt)


def predict(segmenter: VideoSegmenter, run: DemoRun, gt_root: Path, pred: Path, overlay: Path | None,
            seed: int) -> int:
    """Segment every video of the run's dataset into ``pred`` (emptied first: the demo measures
    afresh); the first one also into an overlay mp4 at ``overlay`` (and a GIF beside it). Returns
    the number of frames segmented."""
    if pred.is_dir():
        shutil.rmtree(pred)
    rng = np.random.default_rng(seed)
    report = run_dataset(segmenter, gt_root, run.task, pred, fmt=run.fmt, quiet=True, shard=Shard(),
                         prepare=lambda job: demo_job(job, run.prompt, rng),
                         overlay=None if overlay is None else [overlay, overlay.with_suffix(".gif")])
    return report.frames


def run_demo(out: str | Path = "univs-demo", checkpoint: str | None = None, videos: int = 1,
             frames: int = 24, size: tuple[int, int] = (128, 160), seed: int = 0, runs: list[str] | None = None,
             device: str | None = None, overlays: bool = True, quiet: bool = False) -> dict[str, dict]:
    """Run the demo (see the module docstring) into ``out``; returns ``metrics.json``'s content:
    run name → task, benchmark, prompt, metric, value, target, frames, seconds (of segmenting).
    ``checkpoint``: a shipped name or a path (None: the shipped default); ``device``: None = CUDA
    when there is one."""

    chosen = [r for r in RUNS if runs is None or r.name in runs]
    unknown = sorted(set(runs or []) - {r.name for r in RUNS})
    if unknown:
        raise InputError(f"unknown demo run(s) {', '.join(unknown)}; known: {', '.join(r.name for r in RUNS)}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError("output exists and is not a folder", out)
    started = time.perf_counter()
    cfg = SynthConfig(videos=videos, frames=frames, size=tuple(size), seed=seed)
    write_ground_truth(out / "gt", cfg, quiet)
    segmenter = load_segmenter(checkpoint, device)
    report: dict[str, dict] = {}
    for run in chosen:
        t0 = time.perf_counter()
        pred = out / "pred" / run.name
        overlay = out / "overlays" / f"{run.name}.mp4" if overlays else None
        if overlay is not None:
            overlay.parent.mkdir(parents=True, exist_ok=True)
        n = predict(segmenter, run, out / "gt" / run.fmt, pred, overlay, seed)
        seconds = time.perf_counter() - t0
        pred_path = pred / JSON_OUTPUT[run.fmt] if run.fmt == "ytvis" else pred
        value = score(run, out / "gt" / GT_PATHS[run.fmt], pred_path)
        report[run.name] = {"task": run.task, "benchmark": run.fmt, "prompt": run.prompt,
                            "metric": run.metric, "value": value, "target": run.target,
                            "frames": n, "seconds": round(seconds, 2)}
        if not quiet:
            print(f"{run.name}: {run.metric} {value:.3f}", flush=True)
    with atomic_open(out / "metrics.json", encoding="utf-8") as f:
        world = {"videos": videos, "frames": frames, "size": list(size), "seed": seed}
        json.dump({"checkpoint": checkpoint or DEFAULT_CHECKPOINT, "world": world,
                   "seconds": round(time.perf_counter() - started, 1), "runs": report}, f, indent=1)
    print_table(report, out, time.perf_counter() - started)
    return report


def print_table(report: dict[str, dict], out: Path, seconds: float) -> None:
    """The demo's metric table (rich), with where its files are."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"univs demo: {seconds:.0f} s, outputs in {out}")
    for column in ("run", "benchmark", "metric", "value", "bar", "fps"):
        table.add_column(column, justify="right" if column in ("value", "bar", "fps") else "left", no_wrap=True)
    for name, r in report.items():
        bar = "" if r["target"] is None else f"{r['target']:g}"
        table.add_row(name, r["benchmark"], r["metric"], f"{r['value']:.3f}", bar,
                      f"{r['frames'] / max(r['seconds'], 1e-9):.1f}")
    Console().print(table)
