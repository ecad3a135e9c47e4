"""``univs segment``: one video (a file, frame folder or camera index) or a whole dataset split.

One video::

    univs segment clip.mp4 --task vos --mask first.png --frame 0 --out pred/
    univs segment judo/images --task vos --mask judo/masks --out pred/    # a folder of prompt masks
    univs segment clip.mp4 --task vos --points "120,80;140,90,0" --out pred/ --overlay pred.mp4
    univs segment clip.mp4 --task refvos --text "the person in red" --out pred/
    univs segment clip.mp4 --task vps --classes person,car,sky --stuff sky --out pred/

Prompts (prompt-guided tasks vos, pvos, refvos): ``--mask`` a palette/grey PNG of object ids
(every non-zero id but the void 255 is a target; a 0/255 binary mask is object 1) on ``--frame``,
or a folder of such PNGs named after their frames (objects introduced on any frame); ``--points
"x,y[,label];..."``, ``--box x0,y0,x1,y1``, ``--scribble PNG`` (its non-black pixels are the stroke)
or ``--text`` prompt object ``--obj-id`` on ``--frame``. Category-guided tasks (vis, vss, vps) take
``--classes a,b,c`` and, for VPS, ``--stuff`` (the classes segmented as one region per class).

A dataset split: ``univs segment --dataset ROOT --task T --out DIR`` (:mod:`univs.inference.dataset`).

Outputs go to ``--out`` in the task's native format (``--format``; :mod:`univs.inference.writers`),
ready for ``univs eval``; ``--raw`` adds id-map PNGs, ``--overlay`` an overlay video.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch

from univs.checkpoint import DEFAULT_CHECKPOINT, load_model, shipped_checkpoints
from univs.config import PROMPT_TASKS, TASKS, InferenceConfig
from univs.data.formats import read_prompt_masks
from univs.data.formats.common import read_index_png
from univs.data.formats.prompts import VOID
from univs.data.types import Category, Expression
from univs.data.video import open_video
from univs.errors import InputError
from univs.inference.dataset import run_dataset
from univs.inference.frames import frame_names, open_source, source_name
from univs.inference.run import PromptInput, VideoJob, run_video
from univs.inference.segmenter import VideoSegmenter, check_task
from univs.inference.writers import PredictionWriter, VideoSpec, check_format, overlay_paths



def parse_numbers(text: str, what: str, counts: tuple[int, ...]) -> list[float]:
    """``"1,2,3"`` → [1.0, 2.0, 3.0], with as many numbers as one of ``counts``."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise InputError(f"{what} must be comma-separated numbers, got {text!r}") from None
    if len(values) not in counts:
        raise InputError(f"{what} needs {' or '.join(map(str, counts))} numbers, got {text!r}")
    return values


def parse_points(text: str) -> list[tuple[float, ...]]:
    """``"x,y[,label];x,y[,label]"`` → [(x, y[, label]), ...]."""
    parts = [p for p in text.split(";") if p.strip()]
    if not parts:
        raise InputError("--points is empty; give \"x,y[,label];...\"")
    return [tuple(parse_numbers(p, "each point of --points", (2, 3))) for p in parts]


def parse_names(text: str | None) -> list[str]:
    """``"a, b,c"`` → ["a", "b", "c"]; an empty name is an error."""
    if text is None:
        return []
    names = [n.strip() for n in text.split(",")]
    if any(not n for n in names):
        raise InputError(f"empty category name in {text!r}")
    return names


def read_mask_file(path: str | Path) -> dict[int, np.ndarray]:
    """Object id → (H, W) bool mask of a palette/grey PNG of ids (void 255 ignored; a 0/255 binary
    mask is object 1)."""
    ids = read_index_png(Path(path), what="prompt mask")
    values = [v for v in np.unique(ids).tolist() if v != 0]
    if values == [VOID]:
        return {1: ids == VOID}
    masks = {int(v): ids == v for v in values if v != VOID}
    if not masks:
        raise InputError("prompt mask is empty (no non-zero object id)", path)
    return masks


def read_scribble(path: str | Path) -> np.ndarray:
    """(H, W) bool stroke pixels (non-black) of an image file."""
    return np.asarray(open_video(Path(path))[0]).any(axis=2)


def load_segmenter(checkpoint: str | None, device: str | None, task: str = "vos", short_side: int | None = None
                   ) -> VideoSegmenter:
    """The model of ``checkpoint`` (a shipped name or a path; None: :data:`DEFAULT_CHECKPOINT`) on
    ``device`` (default: the CUDA device of this process when there is one, else CPU); with
    ``short_side``, ``task``'s settings at that processing size, else each task's defaults."""
    name = DEFAULT_CHECKPOINT if checkpoint is None else checkpoint
    if checkpoint is None and name not in shipped_checkpoints():
        raise InputError(f"the default checkpoint {DEFAULT_CHECKPOINT!r} is not installed with this copy of "
                         "univs; pass --checkpoint PATH.safetensors (a univs checkpoint; official UniVS "
                         "weights go through `univs convert` first)")
    if device is None:
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu"
    config = None if short_side is None else InferenceConfig(short_side=short_side).for_task(task)
    return VideoSegmenter(load_model(name), device=device, config=config)


def prompt_inputs(source, task: str, mask: str | None, frame: int, obj_id: int, points: str | None,
                  box: str | None, scribble: str | None, text: str | None) -> list[PromptInput]:
    """The prompts the command line gives for one video (see the module docstring)."""
    given = [k for k, v in (("--mask", mask), ("--points", points), ("--box", box), ("--scribble", scribble),
                            ("--text", text)) if v is not None]
    if len(given) != 1:
        raise InputError(f"task {task} needs exactly one prompt option (--mask, --points, --box, --scribble or "
                         f"--text), got {', '.join(given) or 'none'}")
    if text is not None and task != "refvos":
        raise InputError("--text prompts are referring expressions: use --task refvos")
    if task == "refvos" and text is None:
        raise InputError("task refvos takes a --text expression")
    if mask is not None and Path(mask).is_dir():
        with warnings.catch_warnings():
            warnings.simplefilter("always")  # a resized prompt file warns every time
            found = read_prompt_masks(mask, tuple(source.size), frame_names(source))
        return [PromptInput(frame=p.frame, obj_id=p.obj_id, mask=p.mask) for p in found]
    if mask is not None:
        return [PromptInput(frame=frame, obj_id=i, mask=m) for i, m in read_mask_file(mask).items()]
    if points is not None:
        return [PromptInput(frame=frame, obj_id=obj_id, points=parse_points(points))]
    if box is not None:
        return [PromptInput(frame=frame, obj_id=obj_id, box=tuple(parse_numbers(box, "--box", (4,))))]
    if scribble is not None:
        return [PromptInput(frame=frame, obj_id=obj_id, scribble=read_scribble(scribble))]
    return [PromptInput(frame=frame, obj_id=obj_id, text=text)]


def run_segment(source: str | None, task: str, out: str, dataset: str | None = None, fmt: str | None = None,
                split: str | None = None, mask: str | None = None, frame: int = 0, obj_id: int = 1,
                points: str | None = None, box: str | None = None, scribble: str | None = None,
                text: str | None = None, classes: str | None = None, stuff: str | None = None,
                checkpoint: str | None = None, device: str | None = None, short_side: int | None = None,
                overlay: str | list[str] | None = None, raw: bool = False, quiet: bool = False) -> int:
    """``univs segment`` (see the module docstring); returns the exit code."""
    task = check_task(task, TASKS)
    if (source is None) == (dataset is None):
        raise InputError("give either a SOURCE video or --dataset ROOT")
    if dataset is not None:
        given = [k for k, v in (("--mask", mask), ("--points", points), ("--box", box), ("--scribble", scribble),
                                ("--text", text), ("--classes", classes), ("--stuff", stuff),
                                ("--overlay", overlay)) if v is not None]
        if given:
            raise InputError(f"{', '.join(given)} do not apply to --dataset runs: prompts and classes come from "
                             "the dataset, and an overlay draws one video")
        segmenter = load_segmenter(checkpoint, device, task, short_side)
        report = run_dataset(segmenter, dataset, task, out, fmt=fmt, split=split, raw=raw, quiet=quiet)
        if not quiet:
            print(f"{report.processed} videos segmented ({report.frames} frames), {report.skipped} already done; "
                  f"split {'complete' if report.complete else 'not complete yet'}: {out}")
        return 0
    fmt = check_format(task, fmt)
    camera = source.isdigit() and not Path(source).exists()
    frames = open_source(int(source) if camera else source)
    spec = VideoSpec(source_name(int(source) if camera else source), tuple(frames.size), frame_names(frames))
    job = VideoJob(frames, task, spec)
    if task in PROMPT_TASKS:
        if classes is not None or stuff is not None:
            raise InputError(f"--classes and --stuff belong to vis, vss and vps; task {task} takes prompts")
        job.prompts = prompt_inputs(frames, task, mask, frame, obj_id, points, box, scribble, text)
        if task == "refvos":
            spec.expressions = {obj_id: Expression("0", text, [])}
    else:
        if any(v is not None for v in (mask, points, box, scribble, text)):
            raise InputError(f"task {task} detects its targets from --classes; prompts belong to "
                             f"{', '.join(PROMPT_TASKS)}")
        job.vocabulary = parse_names(classes)
        if not job.vocabulary:
            raise InputError(f"task {task} needs --classes a,b,c (the category names to segment)")
        job.stuff = parse_names(stuff)
        spec.category_ids = list(range(1, len(job.vocabulary) + 1))
        spec.categories = _categories(job.vocabulary, job.stuff, task)
    segmenter = load_segmenter(checkpoint, device, task, short_side)
    with PredictionWriter(out, fmt, raw=raw, overlay=overlay) as writer:
        count = run_video(segmenter, job, writer, quiet=quiet)
        writer.finalize([spec.name])
    if not quiet:
        shown = ", ".join(str(p) for p in overlay_paths(overlay))
        print(f"{count} frames segmented: {out}" + (f", overlay {shown}" if shown else ""))
    return 0


def _categories(vocabulary: list[str], stuff: list[str], task: str) -> dict[int, Category]:
    """Category records (ids 1..C) of a command-line vocabulary, for the VIPSeg/VSPW writers."""
    return {i: Category(i, name, isthing=task == "vis" or (task == "vps" and name not in stuff))
            for i, name in enumerate(vocabulary, start=1)}
