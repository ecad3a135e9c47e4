"""``torchrun --nproc_per_node=2 univs train`` on CPU (gloo): ranks train in lockstep, rank 0 writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from safetensors import safe_open

from univs import load
from univs.engine.state import META_KEY

from engine_configs import tiny_config

STAGES = [{"clips": 1, "iterations": 3, "lr": 1.0e-3},
          {"clips": 2, "iterations": 2, "lr": 1.0e-3, "freeze": ["backbone"], "data": {"num_frames": 2}}]


def test_two_process_gloo_run(write_config, tmp_path):
    config = write_config(tiny_config(STAGES, checkpoint_every=2))
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "-m", "univs.cli", "train", "--config", str(config), "--out", str(out), "--quiet"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]

    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert [f for f in files if not f.startswith("tensorboard/")] == [
        "config.yaml", "stage1/last.safetensors", "stage1/state/train_state.safetensors",
        "stage2/last.safetensors", "stage2/state/train_state.safetensors"]
    assert len([f for f in files if f.startswith("tensorboard/")]) == 1  # one writer: rank 0
    for stage, iterations in ((1, 3), (2, 2)):
        with safe_open(str(out / f"stage{stage}/state/train_state.safetensors"), "pt") as f:
            meta = json.loads(f.metadata()[META_KEY])
        assert meta["iteration"] == iterations
        assert len(meta["rng"]) == 2 and meta["rng"][0] != meta["rng"][1]  # per-rank seeds
        sums = meta["weight_sums"]
        assert len(sums) == 2 and sums[0] == sums[1]  # both ranks hold the same weights
    model = load(str(out / "stage2/last.safetensors"))
    assert model.cfg.decoder.dec_layers == 2
