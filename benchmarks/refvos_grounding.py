"""RefVOS diagnosis: does a prediction follow the referred object, and how good is it when it does?

Reads a MeViS-layout ground truth (``meta_expressions.json`` + ``mask_dict.json``, as ``univs demo``
writes under ``OUT/gt/mevis/train``) and the predictions ``PRED/<video>/<exp_id>/<frame>.png``
(``OUT/pred/refvos``). Per expression: J (region IoU averaged over frames, 1 on frames where both
are empty); *grounded* when, summed over the video, the prediction overlaps the referred objects
more than any other annotated object of the video; *grounded on frame 0* the same on the first
frame alone. Expressions are grouped by their wording: ``dynamic`` (motion, direction, an event),
``spatial`` (a relation or a superlative), else ``static`` (shape, colour, texture). The words are
the synthetic world's (``univs.data.synth.expressions``); other datasets all land in ``static``.

    python benchmarks/refvos_grounding.py OUT            # a `univs demo --out OUT` folder
    python benchmarks/refvos_grounding.py --gt GT --pred PRED
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from univs.data.formats.common import read_index_png
from univs.data.types import decode_mask

DYNAMIC = re.compile(r"mov|heading|turning|spinning|rotating|grow|bigger|shrink|smaller|bounc|accelerat|speeds|"
                     r"enters|into view|into the frame|leaves|out of view|exits|comes back|returns|appears|shows up")
SPATIAL = re.compile(r"left of|right of|left side of|right side of|behind|hidden by|in front of|covers|"
                     r"largest|biggest|smallest|tiniest|leftmost|rightmost|far left|far right|furthest|on the left|"
                     r"on the right")


def group_of(text: str) -> str:
    return "dynamic" if DYNAMIC.search(text) else "spatial" if SPATIAL.search(text) else "static"


def expression_rows(gt: Path, pred: Path) -> list[dict]:
    """One row per expression: group, J, grounded, grounded on frame 0."""
    videos = json.loads((gt / "meta_expressions.json").read_text())["videos"]
    mask_dict = json.loads((gt / "mask_dict.json").read_text())
    rows = []
    for name, video in videos.items():
        frames = [str(f) for f in video["frames"]]
        annos = sorted({int(a) for e in video["expressions"].values() for a in e["anno_id"]})
        first = next(r for a in annos for r in mask_dict[str(a)] if r)
        shape = tuple(first["size"])
        objects = {a: np.stack([decode_mask(r) if r else np.zeros(shape, bool) for r in mask_dict[str(a)]])
                   for a in annos}
        for exp_id, exp in video["expressions"].items():
            p = np.stack([read_index_png(pred / name / exp_id / f"{f}.png", shape, "prediction") != 0
                          for f in frames])
            referred = [int(a) for a in exp["anno_id"]]
            g = np.zeros_like(p)
            for a in referred:
                g |= objects[a]
            union = (p | g).sum((1, 2))
            j = np.where(union > 0, (p & g).sum((1, 2)) / np.maximum(union, 1), 1.0)

            def follows(sl: slice) -> bool:
                overlap = {a: int((p[sl] & m[sl]).sum()) for a, m in objects.items()}
                return max(overlap.values()) > 0 and max(overlap, key=overlap.get) in referred

            rows.append({"group": group_of(exp["exp"]), "J": float(j.mean()),
                         "grounded": follows(slice(None)), "grounded_f0": follows(slice(0, 1))})
    return rows


def print_table(rows: list[dict]) -> None:
    print(f"{'expressions':12s} {'n':>5s} {'J':>6s} {'grounded':>9s} {'on frame 0':>11s} {'J if grounded':>14s} "
          f"{'J otherwise':>12s}")
    groups = defaultdict(list)
    for r in rows:
        groups[r["group"]].append(r)
    for name, rs in [*sorted(groups.items()), ("all", rows)]:
        j = np.array([r["J"] for r in rs])
        ok = np.array([r["grounded"] for r in rs])
        f0 = np.array([r["grounded_f0"] for r in rs])
        good = f"{j[ok].mean():.3f}" if ok.any() else "-"
        bad = f"{j[~ok].mean():.3f}" if (~ok).any() else "-"
        print(f"{name:12s} {len(rs):5d} {j.mean():6.3f} {ok.mean():9.2f} {f0.mean():11.2f} {good:>14s} {bad:>12s}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("demo_out", nargs="?", help="a `univs demo --out` folder")
    parser.add_argument("--gt", help="MeViS-layout ground truth folder")
    parser.add_argument("--pred", help="RefVOS predictions folder")
    args = parser.parse_args()
    if args.demo_out:
        gt, pred = Path(args.demo_out) / "gt/mevis/train", Path(args.demo_out) / "pred/refvos"
    elif args.gt and args.pred:
        gt, pred = Path(args.gt), Path(args.pred)
    else:
        parser.error("give a demo output folder, or --gt and --pred")
    print_table(expression_rows(gt, pred))


if __name__ == "__main__":
    main()
