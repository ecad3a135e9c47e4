"""Bounded memory: streaming 500 frames takes no more peak memory than streaming 50 (issue 6).

Each run is a fresh process (peak RSS is per process) streaming a synthetic video — a square and a
disc moving over noise, 256×256 frames, generated frame by frame so the video itself is never held —
through ``VideoSegmenter.stream``: three targets prompted on frame 0 (mask, box, points), memory
pools filling and cycling. An untrained tiny model is enough: memory does not depend on weights.
Results are dropped as they come, as a caller streaming to disk would; a pipeline that kept
anything per frame (masks at 256×256, frames, tokens) would add tens of MB over 450 more frames.
"""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = r"""
import resource, sys
import numpy as np, torch
from univs.config import InferenceConfig, model_preset
from univs.inference import VideoSegmenter
from univs.model import build_model

torch.manual_seed(0)
cfg = model_preset("tiny")
cfg.backbone.pretrained = False
cfg.pixel_decoder.enc_layers = 1
cfg.decoder.dec_layers, cfg.decoder.num_queries = 1, 4
cfg.prompt_encoder.num_points_per_task["vos"] = 16
seg = VideoSegmenter(build_model(cfg, verbose=False), device="cpu", config=InferenceConfig(short_side=64).for_task("vos"))
stream = seg.stream(task="vos")
rng = np.random.default_rng(0)
yy, xx = np.mgrid[:256, :256]
for t in range(int(sys.argv[1])):
    frame = rng.integers(0, 60, (256, 256, 3), dtype=np.uint8)
    x = 40 + (3 * t) % 150
    square = (abs(xx - x) < 30) & (abs(yy - 80) < 30)
    frame[square] = (220, 40, 40)
    frame[(xx - 256 + x) ** 2 + (yy - 180) ** 2 < 900] = (40, 200, 40)
    if t == 0:
        stream.add_prompt(obj_id=1, mask=square)
        stream.add_prompt(obj_id=2, box=(150, 150, 210, 210))
        stream.add_prompt(obj_id=3, points=[(20, 20, 1), (30, 240, 1)])
    result = stream.step(frame)
    assert result.masks.shape == (3, 256, 256)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_rss_kb(frames: int) -> int:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(frames)], capture_output=True, text=True, env=env,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1])


def test_peak_memory_does_not_grow_with_video_length():
    short, long = peak_rss_kb(50), peak_rss_kb(500)
    assert abs(long - short) / short < 0.10, (short, long)
