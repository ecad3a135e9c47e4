"""The ``univs`` command line: argument parsing only; every command delegates to its layer.

Exit codes: 0 success, 2 bad input (one clear line on stderr), 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from univs.errors import UnivsError

Command = tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int | None]]


def _size(text: str) -> tuple[int, int]:
    """``HxW`` → (H, W)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 240x320, got {text!r}") from None
    return h, w


# --------------------------------------------------------------------------- synth


def _synth_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--videos", type=int, default=4, help="number of videos")
    p.add_argument("--frames", type=int, default=24, help="frames per video")
    p.add_argument("--size", type=_size, default=(240, 320), help="frame size HxW")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same bytes)")
    p.add_argument("--formats", default="all", help="all, or a comma list of native formats")
    p.add_argument("--overlay", default=None, help="write an overlay GIF/mp4 of the first video here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _synth_run(a: argparse.Namespace) -> None:
    from univs.data.synth.cli import run_synth

    run_synth(out=a.out, videos=a.videos, frames=a.frames, size=a.size, seed=a.seed,
              formats=a.formats, overlay=a.overlay, quiet=a.quiet)


# --------------------------------------------------------------------------- eval


def _eval_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", required=True, choices=["vos", "refvos", "vis", "vps", "vss", "pvos"])
    p.add_argument("--gt", required=True, help="ground truth in the benchmark's native layout")
    p.add_argument("--pred", required=True, help="predictions in the benchmark's native layout")
    p.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    p.add_argument("--csv", default=None, help="also write per-sequence results to this CSV file")
    p.add_argument("--protocol", default=None,
                   help="vos: davis; refvos: refdavis|mevis|refytvos; vis: ytvis; vps: vipseg; vss: vspw; "
                        "pvos: viposeg (default: detected from the layout)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--seen", default=None,
                   help="vos: JSON marking each object seen/unseen, adds the YouTube-VOS-style summary")
    p.add_argument("--submission", default=None,
                   help="refytvos: also write the server's submission zip here")
    p.add_argument("--vc-others-as-void", action="store_true",
                   help="vss: map GT 'others' (0) to void before VC, as UniVS's VC script does")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _eval_run(a: argparse.Namespace) -> int:
    from univs.evaluation.cli import run_eval

    return run_eval(task=a.task, gt=a.gt, pred=a.pred, json_path=a.json, csv_path=a.csv,
                    protocol=a.protocol, workers=a.workers, quiet=a.quiet, seen=a.seen,
                    submission=a.submission, others_as_void=a.vc_others_as_void)


# --------------------------------------------------------------------------- convert


def _convert_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("official", help="official UniVS checkpoint (.pth, detectron2 format)")
    p.add_argument("out", help="univs checkpoint to write (NAME.safetensors)")
    p.add_argument("--preset", choices=["r50", "swin_t", "swin_b", "swin_l"], default=None,
                   help="model preset (default: detected from the backbone's tensors)")
    p.add_argument("--teacher", action="store_true",
                   help="convert the EMA teacher copy (backbone_t.*, sem_seg_head_t.*) instead of the student")
    p.add_argument("--text-encoder", metavar="FILE", default=None,
                   help="RegionCLIP checkpoint holding the RN50x4 text tower (written to NAME.text.safetensors)")
    p.add_argument("--bpe", metavar="FILE", default=None,
                   help="CLIP BPE merges file bpe_simple_vocab_16e6.txt.gz (with --text-encoder)")
    p.add_argument("--concept-embeddings", metavar="FILE", default=None,
                   help="class-name embedding table (N, 640): .pth tensor, .npy or .safetensors")
    p.add_argument("--concept-names", metavar="FILE", default=None,
                   help="its N names: text file, one per line (combined_datasets.txt), or a JSON list")
    p.add_argument("--quiet", action="store_true", help="no report")


def _convert_run(a: argparse.Namespace) -> None:
    from univs.convert import run_convert

    run_convert(a.official, a.out, preset=a.preset, teacher=a.teacher, text_encoder=a.text_encoder, bpe=a.bpe,
                concept_embeddings=a.concept_embeddings, concept_names=a.concept_names, quiet=a.quiet)


# --------------------------------------------------------------------------- train


def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="training config (YAML), e.g. configs/synthetic_tiny.yaml")
    p.add_argument("--stage", type=int, default=None, help="train only this stage (1-based; default: all, in order)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoints")
    p.add_argument("--out", default=None, help="run folder (default: runs/<config name>)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="config overrides, e.g. stages.0.iterations=200 data.batch_size=4")


def _train_run(a: argparse.Namespace) -> int:
    from univs.engine.cli import run_train

    return run_train(a.config, out=a.out, stage=a.stage, resume=a.resume, overrides=a.overrides, quiet=a.quiet)


# --------------------------------------------------------------------------- segment


def _segment_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", nargs="?", default=None,
                   help="video file, frame folder or camera index (or use --dataset)")
    p.add_argument("--task", required=True, choices=["vos", "pvos", "refvos", "vis", "vss", "vps"])
    p.add_argument("--out", required=True, help="output folder (the task's native prediction layout)")
    p.add_argument("--dataset", default=None, metavar="ROOT",
                   help="segment a whole benchmark split in its native layout (resumable; torchrun shards it)")
    p.add_argument("--split", default=None, help="--dataset: the split the format's reader takes")
    p.add_argument("--format", default=None,
                   help="native format (default: told from a --dataset's layout, else per task: davis, "
                        "viposeg, refytvos, ytvis, vspw, vipseg)")
    p.add_argument("--mask", default=None, metavar="PNG|DIR",
                   help="prompt mask PNG of object ids on --frame, or a folder of PNGs named after their frames")
    p.add_argument("--frame", type=int, default=0, help="frame the prompt is on (default 0)")
    p.add_argument("--obj-id", type=int, default=1, help="object id of a --points/--box/--scribble/--text prompt")
    p.add_argument("--points", default=None, metavar='"x,y[,l];..."', help="clicks (label 1 positive, 0 negative)")
    p.add_argument("--box", default=None, metavar="x0,y0,x1,y1", help="box prompt in pixels")
    p.add_argument("--scribble", default=None, metavar="PNG", help="scribble image: its non-black pixels")
    p.add_argument("--text", default=None, help="referring expression (--task refvos)")
    p.add_argument("--classes", default=None, metavar="a,b,c", help="category names (vis, vss, vps)")
    p.add_argument("--stuff", default=None, metavar="a,b", help="vps: which of --classes are stuff")
    p.add_argument("--checkpoint", default=None, metavar="NAME|PATH",
                   help="a shipped model's name or a .safetensors file (default univs-tiny-synthetic)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: CUDA when available)")
    p.add_argument("--short-side", type=int, default=None, help="processing size: short side in pixels")
    p.add_argument("--overlay", action="append", default=None, metavar="OUT.mp4",
                   help="also write an overlay video (one video; mp4 or GIF by suffix; repeat for both)")
    p.add_argument("--raw", action="store_true", help="also write raw id maps (raw/<video>/<frame>.png)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _segment_run(a: argparse.Namespace) -> int:
    from univs.inference.cli import run_segment

    return run_segment(a.source, a.task, a.out, dataset=a.dataset, fmt=a.format, split=a.split, mask=a.mask,
                       frame=a.frame, obj_id=a.obj_id, points=a.points, box=a.box, scribble=a.scribble,
                       text=a.text, classes=a.classes, stuff=a.stuff, checkpoint=a.checkpoint, device=a.device,
                       short_side=a.short_side, overlay=a.overlay, raw=a.raw, quiet=a.quiet)


# --------------------------------------------------------------------------- demo


def _demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="univs-demo", help="output folder (default: univs-demo)")
    p.add_argument("--checkpoint", default=None, metavar="NAME|PATH",
                   help="a shipped model's name or a .safetensors file (default univs-tiny-synthetic)")
    p.add_argument("--videos", type=int, default=1, help="videos in the fresh world (default 1)")
    p.add_argument("--frames", type=int, default=24, help="frames per video (default 24)")
    p.add_argument("--size", type=_size, default=(128, 160), help="frame size HxW (default 128x160)")
    p.add_argument("--seed", type=int, default=0, help="world seed (default 0: never used in training)")
    p.add_argument("--runs", default=None, metavar="a,b",
                   help="a subset of the runs vis,vss,vps,vos-mask,vos-box,vos-points,vos-scribble,pvos,refvos")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: CUDA when available)")
    p.add_argument("--no-overlay", action="store_true", help="no overlay videos")
    p.add_argument("--quiet", action="store_true", help="only the table")


def _demo_run(a: argparse.Namespace) -> None:
    from univs.demo import run_demo

    run_demo(a.out, a.checkpoint, a.videos, a.frames, a.size, a.seed,
             None if a.runs is None else a.runs.split(","), a.device, not a.no_overlay, a.quiet)


# --------------------------------------------------------------------------- registry

COMMANDS: dict[str, tuple[str, Command]] = {
    "demo": ("the shipped model on all six tasks of a fresh synthetic video: overlays, native outputs, metrics",
             (_demo_args, _demo_run)),
    "synth": ("write a synthetic video world in native dataset formats", (_synth_args, _synth_run)),
    "segment": ("segment a video or a dataset split: prompts (vos, pvos, refvos) or classes (vis, vss, vps)",
                (_segment_args, _segment_run)),
    "eval": ("score predictions with the official metrics", (_eval_args, _eval_run)),
    "train": ("train a model: the stages of a config file, resumable, on one or many processes",
              (_train_args, _train_run)),
    "convert": ("convert an official UniVS checkpoint to a univs checkpoint", (_convert_args, _convert_run)),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="univs", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, (add_args, _)) in COMMANDS.items():
        add_args(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run = COMMANDS[args.command][1][1]
    try:
        return int(run(args) or 0)
    except UnivsError as e:
        print(f"univs {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"univs {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
