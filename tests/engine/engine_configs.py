"""The tiny training config of the engine tests: a 2-layer tiny model on 64×64 synthetic clips."""

from __future__ import annotations


def tiny_config(stages: list[dict], datasets: list[dict] | None = None, **top) -> dict:
    """A training config mapping: small model and data, the given stages, no validation."""
    world = {"videos": 3, "frames": 8, "size": [64, 80], "seed": 5}
    return {
        "model": {"name": "tiny", "backbone": {"pretrained": False}, "pixel_decoder": {"enc_layers": 1},
                  "decoder": {"dec_layers": 2, "num_queries": 8}, "loss": {"num_points": 256}},
        "data": {"datasets": datasets or [{"name": "synth-vos", "task": "vos", "synth": world}],
                 "batch_size": 1, "frame_range": 4, "batches_per_epoch": 4, "num_workers": 0,
                 "augment": {"output_size": [64, 64]}},
        "optim": {"clip_grad_norm": 1.0, "warmup_iters": 2, "warmup_factor": 0.1},
        "stages": stages,
        "log_every": 1,
        **top,
    }
