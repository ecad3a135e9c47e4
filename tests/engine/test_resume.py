"""Exact resume: a run stopped after a checkpoint and resumed reaches the uninterrupted run's weights."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from univs.engine import run_train
from univs.engine import trainer as trainer_module
from univs.engine.state import state_iteration
from univs.errors import InputError

from engine_configs import tiny_config

# one stage of 2-frame clips with an EMA; checkpoints every 2 iterations; the epoch (4 batches)
# ends inside the resumed part, the learning rate drops at iteration 3
STAGE = {"clips": 2, "iterations": 6, "lr": 1.0e-3, "lr_steps": [0.5], "ema_decay": 0.8,
         "data": {"num_frames": 2}}


class Stop(Exception):
    """Stands for the run being killed."""


def test_resumed_run_matches_uninterrupted_run(write_config, tmp_path, monkeypatch):
    config = write_config(tiny_config([STAGE], checkpoint_every=2))
    assert run_train(config, out=tmp_path / "straight", quiet=True) == 0

    real_step, calls = trainer_module.train_step, []

    def killed_at_fourth_step(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise Stop
        return real_step(*args, **kwargs)

    monkeypatch.setattr(trainer_module, "train_step", killed_at_fourth_step)
    with pytest.raises(Stop):
        run_train(config, out=tmp_path / "resumed", quiet=True)
    monkeypatch.setattr(trainer_module, "train_step", real_step)
    assert state_iteration(tmp_path / "resumed/stage1/state/train_state.safetensors") == 2

    with pytest.raises(InputError, match="--resume"):
        run_train(config, out=tmp_path / "resumed", quiet=True)
    assert run_train(config, out=tmp_path / "resumed", resume=True, quiet=True) == 0

    for name in ("last.safetensors", "state/train_state.safetensors"):
        straight = load_file(tmp_path / "straight/stage1" / name)
        resumed = load_file(tmp_path / "resumed/stage1" / name)
        assert straight.keys() == resumed.keys()
        for key, value in straight.items():
            if value.is_floating_point():
                torch.testing.assert_close(resumed[key], value, rtol=0, atol=1e-6, msg=f"{name}: {key}")
    # training moved the weights (the EMA trails them), so the comparison means something
    final = load_file(tmp_path / "straight/stage1/state/train_state.safetensors")
    assert state_iteration(tmp_path / "straight/stage1/state/train_state.safetensors") == 6
    averaged = [k[len("ema."):] for k in final if k.startswith("ema.")]
    assert averaged and any(not torch.equal(final[f"ema.{k}"], final[f"model.{k}"]) for k in averaged)
