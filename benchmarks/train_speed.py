"""Training speed: iterations per second and peak memory of the training step, per preset and stage.

For each preset and official stage (1: images; 2: clips of 4 frames, backbone frozen; 3: clips of
7 frames, backbone and pixel decoder frozen — ``univs.config.official_stages`` and
``STAGE_CLIPS``) it sets up the model and optimiser as ``univs train`` does (``univs.engine``),
feeds VOS batches of the synthetic world through the real data pipeline (clip sampling,
augmentation, prompt simulation) and times ``univs.engine.step.train_step`` after a few warm-up
steps. Peak memory: the CUDA allocator's peak on a GPU, the process's peak resident set on CPU.
bf16 autocast on CUDA unless ``--fp32``. Presets whose text encoder has no weights here (the
official 640-d RegionCLIP side) are timed with the offline MiniLM text side (384-d); the note says so.

    python benchmarks/train_speed.py [--presets tiny,r50 --stages 1,2,3 --size 384x640 --batch 2
                                      --steps 10 --warmup 2 --device cuda --workers 2 --fp32
                                      --mask-stride 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import sys
import time

import torch

from univs.config import (AugmentationConfig, DataConfig, DatasetSpec, OptimConfig, SynthConfig,
                          TextEncoderConfig, data_stage, model_preset, official_stages)
from univs.data.mixture import load_mixture
from univs.data.training import build_training_loader
from univs.engine.optim import build_optimizer, freeze_parts
from univs.engine.step import train_step
from univs.losses import SetCriterion
from univs.model import build_model


def preset_config(name: str, mask_stride: int | None):
    """The preset's model config (mask features at ``mask_stride`` when given), its text side
    swapped for MiniLM when it needs absent weights."""
    cfg = model_preset(name)
    if mask_stride is not None:
        cfg = dataclasses.replace(cfg, pixel_decoder=dataclasses.replace(cfg.pixel_decoder, common_stride=mask_stride))
    note = ""
    if cfg.prompt_encoder.text.name != "minilm" and cfg.prompt_encoder.text.path is None:
        cfg = dataclasses.replace(cfg, prompt_encoder=dataclasses.replace(cfg.prompt_encoder, text=TextEncoderConfig()))
        note = "MiniLM text side"
    return cfg, note


def peak_memory_gib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def time_stage(preset: str, stage: int, args: argparse.Namespace, device: torch.device) -> tuple[float, float, str]:
    """(iterations per second, peak memory GiB, note) of ``stage`` for ``preset``."""
    cfg, note = preset_config(preset, args.mask_stride)
    spec = official_stages()[stage - 1]
    h, w = args.size
    world = DatasetSpec(task="vos", synth=SynthConfig(videos=args.videos, frames=16, size=(h, w), seed=0))
    data = data_stage(DataConfig(datasets=[world], batch_size=args.batch, frame_range=40,
                                 batches_per_epoch=args.warmup + args.steps, num_workers=args.workers,
                                 augment=AugmentationConfig(output_size=(h, w))), stage)
    loader = build_training_loader(data, cfg.prompt_encoder.num_points_per_task, sources=load_mixture(data).train)
    torch.manual_seed(0)
    model = build_model(cfg, verbose=False).to(device).train()
    freeze_parts(model, tuple(spec.freeze))
    optim = OptimConfig()
    optimizer = build_optimizer(model, spec, optim)
    criterion = SetCriterion(cfg.loss).to(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = 0.0
    for i, batch in enumerate(loader):
        if i == args.warmup:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
        train_step(model, criterion, batch, optimizer, device, not args.fp32, optim.clip_grad_norm)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return args.steps / (time.perf_counter() - start), peak_memory_gib(device), note


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", default="tiny", help="comma list of model presets")
    p.add_argument("--stages", default="1,2,3", help="comma list of official stages")
    p.add_argument("--size", default="128x160", help="training crop HxW")
    p.add_argument("--batch", type=int, default=2, help="clips per step")
    p.add_argument("--steps", type=int, default=10, help="timed steps")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--videos", type=int, default=4, help="synthetic videos to sample clips from")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--mask-stride", type=int, help="pixel decoder common_stride (default: the preset's)")
    p.add_argument("--fp32", action="store_true", help="no bf16 autocast on CUDA")
    args = p.parse_args()
    args.size = tuple(int(v) for v in args.size.lower().split("x"))
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    precision = "fp32" if args.fp32 or device.type != "cuda" else "bf16 autocast"
    print(f"training step on {name}, {precision}, batch {args.batch} clips of {args.size[0]}x{args.size[1]}, "
          f"{args.steps} timed steps")
    memory = "peak alloc" if device.type == "cuda" else "peak RSS"
    print(f"{'preset':<8} {'stage':>5} {'T':>3} {'it/s':>8} {memory + ' GiB':>15}  note")
    for preset in args.presets.split(","):
        for stage in (int(s) for s in args.stages.split(",")):
            its, mem, note = time_stage(preset, stage, args, device)
            frames = data_stage(DataConfig(), stage).num_frames
            print(f"{preset:<8} {stage:>5} {frames:>3} {its:>8.2f} {mem:>15.2f}  {note}", flush=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
