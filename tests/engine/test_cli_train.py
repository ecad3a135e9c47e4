"""``univs train`` through ``univs.cli.main``: checkpoints ``univs.load`` reads, TensorBoard scalars,
the resolved config, and wrong data paths reported before any compute."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import univs
from univs.cli import main
from univs.config import load_train_config, to_dict
from univs.engine import run_train
from univs.engine import trainer as trainer_module
from univs.errors import InputError

from engine_configs import tiny_config

STAGES = [{"clips": 1, "iterations": 5, "lr": 1.0e-3}]


def test_train_command_writes_loadable_checkpoint_and_tensorboard(write_config, tmp_path):
    config = write_config(tiny_config(STAGES, checkpoint_every=2))
    out = tmp_path / "run"
    assert main(["train", "--config", str(config), "--out", str(out), "--quiet", "stages.0.iterations=3"]) == 0

    model = univs.load(str(out / "stage1/last.safetensors"))
    state = load_file(out / "stage1/state/train_state.safetensors")
    for name, value in model.state_dict().items():
        assert torch.equal(value, state[f"model.{name}"]), name

    resolved = load_train_config(out / "config.yaml")
    assert resolved.stages[0].iterations == 3
    assert to_dict(resolved) == to_dict(load_train_config(config, ["stages.0.iterations=3"]))

    events = list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1
    acc = EventAccumulator(str(events[0]))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert {"train/loss", "train/lr", "train/loss_mask_prompt"} <= set(tags)
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2, 3]


def test_wrong_dataset_paths_fail_before_any_compute(write_config, tmp_path, monkeypatch, capsys):
    def no_model(*args, **kwargs):
        raise AssertionError("a model was built")

    monkeypatch.setattr(trainer_module, "build_model", no_model)
    datasets = [{"name": "davis", "format": "davis", "root": str(tmp_path / "no/DAVIS"), "task": "vos"},
                {"name": "yt", "format": "ytvis", "root": str(tmp_path / "no/ytvis"), "task": "vis"},
                {"name": "synth", "task": "vos", "synth": {"videos": 2, "frames": 4, "size": [64, 64]}}]
    config = write_config(tiny_config(STAGES, datasets=datasets))
    with pytest.raises(InputError) as err:
        run_train(config, out=tmp_path / "run")
    message = str(err.value)
    assert str(tmp_path / "no/DAVIS") in message and "Annotations/480p" in message
    assert str(tmp_path / "no/ytvis") in message and "JPEGImages" in message
    assert not (tmp_path / "run").exists()

    assert main(["train", "--config", str(config), "--out", str(tmp_path / "run")]) == 2
    err_lines = capsys.readouterr().err.strip().splitlines()
    assert len(err_lines) == 1 and err_lines[0].startswith("univs train: error: training inputs not found")


def test_bad_config_values_are_input_errors(write_config, tmp_path):
    config = write_config(tiny_config(STAGES))
    with pytest.raises(InputError, match="freeze"):
        run_train(config, out=tmp_path / "a", overrides=["stages.0.freeze=[text]"])
    with pytest.raises(InputError, match="num_frame"):
        run_train(config, out=tmp_path / "b", overrides=["stages.0.data.num_frame=3"])
    with pytest.raises(InputError, match="--stage 4"):
        run_train(config, out=tmp_path / "c", stage=4)
