"""Image-encoder sizes of every preset and the encoder's forward time per frame on this machine.

Prints two tables: parameter and buffer elements of the backbone and the pixel decoder of every
preset (built on the meta device); and the wall time per frame of backbone + pixel decoder for
each input size (median and best of the repeats; inference; frames zero-padded to a multiple of
32 as ``UniVS.encode_frames`` does). Default: ``tiny`` on CPU, float32, 240×320 and 480×854,
one frame per call, 10 repeats.

    python benchmarks/encoder_speed.py [--preset tiny --sizes 240x320,480x854 --batch 1
                                        --repeats 10 --device cpu --threads N --bf16]
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch
from torch.nn import functional as F

from univs.config import MODEL_PRESETS, model_preset
from univs.model.backbone import build_backbone
from univs.model.pixel_decoder import build_pixel_decoder


def build_encoder(preset: str) -> tuple[torch.nn.Module, torch.nn.Module]:
    cfg = model_preset(preset)
    backbone = build_backbone(cfg.backbone)
    return backbone, build_pixel_decoder(cfg.pixel_decoder, backbone.out_channels)


def size_table() -> None:
    print(f"{'preset':<8} {'backbone':>11} {'bb buffers':>11} {'pixel dec':>11} {'encoder':>11}")
    for name in MODEL_PRESETS:
        with torch.device("meta"):
            backbone, decoder = build_encoder(name)
        bb = sum(p.numel() for p in backbone.parameters())
        buf = sum(b.numel() for b in backbone.state_dict().values()) - bb
        pd = sum(p.numel() for p in decoder.parameters())
        print(f"{name:<8} {bb:>11,} {buf:>11,} {pd:>11,} {bb + pd:>11,}")


def timed(fn, repeats: int, device: torch.device) -> tuple[float, float]:
    """(median, minimum) seconds of ``fn()`` over ``repeats`` runs after two warm-ups (the
    minimum is the steadier figure on a shared machine)."""
    fn()
    fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2], min(times)


def speed_table(args: argparse.Namespace) -> None:
    device = torch.device(args.device)
    torch.manual_seed(0)
    backbone, decoder = build_encoder(args.preset)
    backbone, decoder = backbone.to(device).eval(), decoder.to(device).eval()
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if args.bf16 else contextlib.nullcontext())
    print(f"\n{args.preset} encoder on {device} ({'bf16 autocast' if args.bf16 else 'float32'}, "
          f"{torch.get_num_threads()} threads, batch {args.batch}, median of {args.repeats})")
    print(f"{'size':>9} {'padded':>9} {'backbone ms':>12} {'pix dec ms':>11} {'total ms':>9} "
          f"{'best ms':>8} {'fps':>6}")
    for size in args.sizes.split(","):
        h, w = (int(v) for v in size.split("x"))
        ph, pw = h + (-h % backbone.size_divisibility), w + (-w % backbone.size_divisibility)
        x = F.pad(torch.randn(args.batch, 3, h, w, device=device), (0, pw - w, 0, ph - h))
        with torch.no_grad(), autocast:
            feats = backbone(x)
            t_bb, best_bb = (t / args.batch for t in timed(lambda: backbone(x), args.repeats, device))
            t_pd, best_pd = (t / args.batch for t in timed(lambda: decoder(feats), args.repeats, device))
        total = t_bb + t_pd
        print(f"{size:>9} {f'{ph}x{pw}':>9} {t_bb * 1e3:>12.1f} {t_pd * 1e3:>11.1f} {total * 1e3:>9.1f} "
              f"{(best_bb + best_pd) * 1e3:>8.1f} {1 / total:>6.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="tiny", choices=MODEL_PRESETS)
    parser.add_argument("--sizes", default="240x320,480x854", help="comma-separated HxW")
    parser.add_argument("--batch", type=int, default=1, help="frames per forward call")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (the pixel decoder stays fp32)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    size_table()
    speed_table(args)


if __name__ == "__main__":
    main()
