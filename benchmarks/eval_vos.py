"""Wall time of ``univs eval --task vos`` on a DAVIS-val-sized synthetic world.

Builds DAVIS 2017 layout (default 30 sequences × 70 frames × 480×854, 1–5 moving, occluding
ellipses, a void band in some sequences) with predictions = perturbed ground truth (jittered
geometry, a few lost frames), then runs ``univs eval --task vos`` as a subprocess and prints a
table. Target: under 30 s on 2 cores.

    python benchmarks/eval_vos.py [--sequences 30 --frames 70 --size 480x854 --workers 2 --keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from univs.data.formats.common import write_palette_png


def _ellipse_tracks(rng: np.random.Generator, n_obj: int, frames: int, h: int, w: int) -> np.ndarray:
    """(n_obj, frames, 5) ellipse parameters (cx, cy, ax, ay, angle) moving along straight paths."""
    start = np.stack([rng.uniform(0.15 * w, 0.85 * w, n_obj), rng.uniform(0.15 * h, 0.85 * h, n_obj)], 1)
    vel = rng.uniform(-4, 4, (n_obj, 2))
    axes = np.stack([rng.uniform(0.05, 0.2, n_obj) * w, rng.uniform(0.05, 0.2, n_obj) * h], 1)
    t = np.arange(frames)[None, :, None]
    centre = start[:, None] + vel[:, None] * t
    angle = rng.uniform(0, 180, n_obj)[:, None] + 2 * t[..., 0]
    scale = 1 + 0.2 * np.sin(t / 9.0)
    return np.concatenate([centre, axes[:, None] * scale, angle[..., None]], axis=2)


def _draw(params: np.ndarray, h: int, w: int, keep: np.ndarray | None = None) -> np.ndarray:
    label = np.zeros((h, w), np.uint8)
    for k, (cx, cy, ax, ay, ang) in enumerate(params):
        if keep is None or keep[k]:
            cv2.ellipse(label, (int(cx), int(cy)), (max(int(ax), 1), max(int(ay), 1)), float(ang), 0, 360, k + 1, -1)
    return label


def build_world(root: Path, sequences: int, frames: int, h: int, w: int, seed: int = 0) -> int:
    """Write GT (``root/gt``) and predictions (``root/pred``); return the number of objects."""
    rng = np.random.default_rng(seed)
    jpeg = cv2.imencode(".jpg", np.zeros((h, w, 3), np.uint8))[1].tobytes()
    names, n_objects = [], 0
    for s in range(sequences):
        seq = f"seq{s:03d}"
        names.append(seq)
        n_obj = int(rng.integers(1, 6))
        n_objects += n_obj
        tracks = _ellipse_tracks(rng, n_obj, frames, h, w)
        noisy = tracks + rng.normal(0, [3, 3, 2, 2, 4], tracks.shape)
        lost = rng.random((n_obj, frames)) < 0.05
        band = int(rng.integers(10, 40)) if s % 3 == 0 else 0
        dirs = [root / "gt" / "JPEGImages" / "480p" / seq, root / "gt" / "Annotations" / "480p" / seq,
                root / "pred" / seq]
        for d in dirs:
            d.mkdir(parents=True, exist_ok=True)
        for t in range(frames):
            gt = _draw(tracks[:, t], h, w)
            if band:
                gt[:band][gt[:band] > 0] = 255
            (dirs[0] / f"{t:05d}.jpg").write_bytes(jpeg)
            write_palette_png(dirs[1] / f"{t:05d}.png", gt)
            write_palette_png(dirs[2] / f"{t:05d}.png", _draw(noisy[:, t], h, w, ~lost[:, t]))
    (root / "gt" / "ImageSets" / "2017").mkdir(parents=True, exist_ok=True)
    (root / "gt" / "ImageSets" / "2017" / "val.txt").write_text("\n".join(names) + "\n")
    return n_objects


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sequences", type=int, default=30)
    p.add_argument("--frames", type=int, default=70)
    p.add_argument("--size", default="480x854")
    p.add_argument("--workers", type=int, default=None, help="passed to univs eval (default: all cores)")
    p.add_argument("--keep", default=None, help="build the world here and keep it (default: a temp dir)")
    a = p.parse_args()
    h, w = (int(v) for v in a.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(a.keep or tmp)
        t0 = time.perf_counter()
        n_objects = build_world(root, a.sequences, a.frames, h, w)
        built = time.perf_counter() - t0
        cmd = [sys.executable, "-m", "univs.cli", "eval", "--task", "vos", "--gt", str(root / "gt"),
               "--pred", str(root / "pred"), "--json", str(root / "result.json"), "--quiet"]
        if a.workers:
            cmd += ["--workers", str(a.workers)]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        result = json.loads((root / "result.json").read_text())
    rows = [("world", f"{a.sequences} seq × {a.frames} frames × {h}×{w}, {n_objects} objects"),
            ("cores", str(len(os.sched_getaffinity(0)))),
            ("build (not timed)", f"{built:.1f} s"),
            ("univs eval --task vos", f"{wall:.1f} s"),
            ("J&F-Mean", f"{result['J&F-Mean']:.4f}")]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
