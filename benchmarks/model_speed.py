"""Model sizes of every preset and the forward time per frame of a preset on this machine.

Prints two tables: parameter counts (total, backbone, pixel decoder, predictor = decoder +
prompt encoder) of every preset, built on the meta device; and the wall time of the image
encoder (backbone + pixel decoder), of the decoder and of both, per frame, for clips of T frames
with K mask-prompted targets and a C-name vocabulary (text embeddings cached beforehand: the
encoder is frozen). Default: ``tiny`` on CPU, float32, 240×320.

    python benchmarks/model_speed.py [--preset tiny --size 240x320 --frames 1,5 --targets 3
                                      --vocab 10 --repeats 5 --device cpu --threads N --bf16]
"""

from __future__ import annotations

import argparse
import contextlib

import torch

from encoder_speed import timed  # benchmarks/ is on sys.path when this script runs

from univs.config import MODEL_PRESETS, model_preset
from univs.model import build_model, parameter_counts, sample_mask_prompt

NAMES = ["person", "car", "dog", "cat", "horse", "bicycle", "bus", "boat", "bird", "sky", "road",
         "tree", "building", "grass", "water", "train", "truck", "sheep", "cow", "motorcycle"]


def size_table() -> None:
    print(f"{'preset':<8} {'total':>10} {'backbone':>10} {'pixel dec':>10} {'predictor':>10}")
    for name in MODEL_PRESETS:
        with torch.device("meta"):
            counts = parameter_counts(build_model(model_preset(name), verbose=False))
        print(f"{name:<8} " + " ".join(f"{counts[k] / 1e6:>9.2f}M"
                                      for k in ("total", "backbone", "pixel_decoder", "predictor")))


def speed_table(args: argparse.Namespace) -> None:
    device = torch.device(args.device)
    h, w = (int(v) for v in args.size.split("x"))
    torch.manual_seed(0)
    model = build_model(model_preset(args.preset), verbose=False).to(device).eval()
    vocab = (NAMES * (args.vocab // len(NAMES) + 1))[: args.vocab]
    classes = model.class_embeddings(vocab)
    masks = torch.zeros(args.targets, h, w, dtype=torch.bool, device=device)
    for k in range(args.targets):
        masks[k, h // 4 + 10 * k: h // 2 + 10 * k, w // 4 + 20 * k: w // 2 + 20 * k] = True
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if args.bf16 else contextlib.nullcontext()
    print(f"{args.preset} on {device} ({torch.get_num_threads()} threads), {h}x{w}, "
          f"{args.targets} targets, {args.vocab} names, {'bf16' if args.bf16 else 'fp32'}")
    print(f"{'T':>3} {'encoder/frame':>14} {'decoder/frame':>14} {'total/frame':>12}")
    for t in (int(v) for v in args.frames.split(",")):
        images = torch.rand(t, 3, h, w, device=device) * 255
        times = torch.arange(t, device=device)
        with torch.no_grad(), autocast:
            feats = model.encode_frames(images)
            prompts = model.encode_visual_prompts(feats, sample_mask_prompt(masks, 0, 64), times)

            def encode():
                model.encode_frames(images)

            def decode():
                model.decode(feats, t, [prompts], classes, times[None])

            enc = timed(encode, args.repeats, device)[0] / t
            dec = timed(decode, args.repeats, device)[0] / t
        print(f"{t:>3} {enc * 1e3:>12.1f}ms {dec * 1e3:>12.1f}ms {(enc + dec) * 1e3:>10.1f}ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="tiny", choices=MODEL_PRESETS)
    parser.add_argument("--size", default="240x320")
    parser.add_argument("--frames", default="1,5")
    parser.add_argument("--targets", type=int, default=3)
    parser.add_argument("--vocab", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    size_table()
    print()
    speed_table(args)


if __name__ == "__main__":
    main()
