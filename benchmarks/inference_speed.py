"""Streaming inference speed: frames per second against the number of targets and the video length.

Every target is one prompt query of the same decoder pass (arXiv 2402.18115 §3.3), so the cost of
a frame is one encoder pass plus one decoder pass whatever the number of targets; only the
per-target work (ProCA over its memory pool, the visual sampler, mask resizing and pixel
competition) grows with it. SAM 2-style trackers instead run their memory attention and mask
decoder once per object.

The video is synthetic (squares moving over noise, generated frame by frame); targets are mask
prompts on frame 0 followed by ``VideoSegmenter.session(...).propagate()`` with the VOS settings
(R = the model's VOS points per target and frame, memory of 5 slots + the prompt). The first frame
(prompt encoding, warm-up) is not timed. Weights are random: speed does not depend on them.
Tables: FPS and peak memory for growing lengths at a fixed number of targets, then for 1, 5, 10, 20
targets at a fixed length. Peak memory: allocated CUDA memory of the row on GPU; on CPU the
process's peak RSS so far (it cannot be reset, so it only grows from row to row: flat across the
lengths means memory does not grow with the video).

    python benchmarks/inference_speed.py                      # tiny on CPU, 240p
    python benchmarks/inference_speed.py --device cuda --preset r50 --size 480p --bf16
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from univs.config import MODEL_PRESETS, InferenceConfig, model_preset
from univs.inference import VideoSegmenter
from univs.model import build_model


class MovingSquares:
    """A lazy synthetic video (a ``FrameSource``): ``targets`` coloured squares moving over noise,
    frame t drawn on access, so the video's length costs no memory."""

    fps = 24.0

    def __init__(self, frames: int, size: tuple[int, int], targets: int, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.frames, self.size, self.targets = frames, size, targets
        h, w = size
        self.side = rng.integers(h // 10, h // 5, targets)
        self.start = rng.uniform(0, 1, (targets, 2)) * np.stack([w - self.side, h - self.side], 1)
        self.speed = rng.uniform(-3, 3, (targets, 2))
        self.noise = rng.integers(0, 60, (*size, 3), dtype=np.uint8)

    def __len__(self) -> int:
        return self.frames

    def id_map(self, t: int) -> np.ndarray:
        """(H, W) int: k + 1 where square k is on top, 0 elsewhere."""
        h, w = self.size
        ids = np.zeros(self.size, np.int64)
        for k in range(self.targets):
            x, y = (self.start[k] + self.speed[k] * t).astype(int)
            x, y = int(np.clip(x, 0, w - self.side[k])), int(np.clip(y, 0, h - self.side[k]))
            ids[y:y + self.side[k], x:x + self.side[k]] = k + 1
        return ids

    def __getitem__(self, t: int) -> np.ndarray:
        ids = self.id_map(t)
        colours = (np.arange(self.targets + 1)[:, None] * [67, 131, 197] % 176 + 80).astype(np.uint8)
        return np.where(ids[..., None] > 0, colours[ids], self.noise)


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10


def measure(seg: VideoSegmenter, frames: int, size: tuple[int, int], targets: int) -> tuple[float, float]:
    """(frames per second over frames 1.., peak memory MB) of one VOS session."""
    video = MovingSquares(frames, size, targets)
    ids = video.id_map(0)
    if seg.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(seg.device)
    with seg.session(video) as s:
        for k in np.unique(ids[ids > 0]).tolist():  # squares hidden under others on frame 0 are skipped
            s.add_prompt(frame=0, obj_id=k, mask=ids == k)
        results = s.propagate()
        next(results)
        start = time.perf_counter()
        for _ in results:
            pass
        if seg.device.type == "cuda":
            torch.cuda.synchronize(seg.device)
        elapsed = time.perf_counter() - start
    return (frames - 1) / elapsed, peak_memory_mb(seg.device)


SIZES = {"240p": (240, 427), "360p": (360, 640), "480p": (480, 854), "720p": (720, 1280)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="tiny", choices=list(MODEL_PRESETS))
    p.add_argument("--device", default="cpu")
    p.add_argument("--size", default="240p", choices=list(SIZES), help="frame size (processed as it is)")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (CUDA)")
    p.add_argument("--targets", default="1,5,10,20", help="numbers of targets of the first table")
    p.add_argument("--frames", type=int, default=16, help="video length of the first table")
    p.add_argument("--lengths", default="16,64,128", help="video lengths of the second table")
    p.add_argument("--length-targets", type=int, default=5, help="targets of the second table")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    size = SIZES[args.size]
    cfg = model_preset(args.preset)
    cfg.backbone.pretrained = False
    torch.manual_seed(0)
    model = build_model(cfg, verbose=False)
    config = InferenceConfig(short_side=None, amp=args.bf16).for_task("vos")
    seg = VideoSegmenter(model, device=device, config=config)
    points = cfg.prompt_encoder.num_points_per_task["vos"]
    print(f"{args.preset} on {device} ({torch.get_num_threads()} CPU threads), {size[0]}x{size[1]}, "
          f"{'bf16' if args.bf16 else 'fp32'}, VOS: R={points} points per target and frame, "
          f"memory {config.memory_slots} slots + prompt")
    measure(seg, 3, size, 1)  # warm-up: allocator, kernels, lazy modules
    print(f"\n{'targets':>7} {'frames':>6} {'FPS':>7} {'ms/frame':>9} {'peak MB':>8}")
    for n in (int(v) for v in args.lengths.split(",")):
        fps, mem = measure(seg, n, size, args.length_targets)
        print(f"{args.length_targets:>7} {n:>6} {fps:>7.2f} {1000 / fps:>9.1f} {mem:>8.0f}", flush=True)
    print(f"\n{'targets':>7} {'frames':>6} {'FPS':>7} {'ms/frame':>9} {'peak MB':>8}")
    for k in (int(v) for v in args.targets.split(",")):
        fps, mem = measure(seg, args.frames, size, k)
        print(f"{k:>7} {args.frames:>6} {fps:>7.2f} {1000 / fps:>9.1f} {mem:>8.0f}", flush=True)


if __name__ == "__main__":
    main()
