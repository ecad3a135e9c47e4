"""The shipped training configs parse, resolve per stage and pass (or fail) the path check clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from univs.config import FREEZABLE, load_train_config, stage_data
from univs.engine import run_train
from univs.errors import InputError

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_synthetic_tiny_recipe():
    cfg = load_train_config(CONFIGS / "synthetic_tiny.yaml")
    assert [s.freeze for s in cfg.stages] == [(), ("backbone",), FREEZABLE]
    assert all(s.ema_decay is not None for s in cfg.stages)  # every stage delivers averaged weights
    frames = [stage_data(cfg, k).num_frames for k in (1, 2, 3)]
    assert frames[0] == 1 and frames[0] < frames[1] < frames[2]
    tasks = {d.task: d.ratio for d in cfg.data.datasets}
    assert set(tasks) >= {"vos", "pvos", "refvos", "vis", "vps"} and max(tasks, key=tasks.get) == "vos"
    train_seeds = {d.synth.seed for d in cfg.data.datasets if d.format == "synth"}
    val_seeds = {d.synth.seed for d in cfg.validation.datasets}
    assert val_seeds and not train_seeds & val_seeds and 0 not in train_seeds | val_seeds  # 0: the demo world


def test_r50_official_recipe_names_every_missing_root(tmp_path, monkeypatch):
    cfg = load_train_config(CONFIGS / "r50_official.yaml")
    assert cfg.model.backbone.name == "resnet50" and cfg.model.decoder.num_queries == 200
    assert [s.lr for s in cfg.stages] == [5e-5, 5e-5, 2.5e-5]
    assert [stage_data(cfg, k).num_frames for k in (1, 2, 3)] == [1, 4, 7]
    assert [stage_data(cfg, k).frame_range for k in (2, 3)] == [40, 40]
    assert cfg.optim.backbone_lr_multiplier == 0.1 and cfg.optim.weight_decay == 0.05
    monkeypatch.chdir(tmp_path)  # no datasets/ here
    with pytest.raises(InputError) as err:
        run_train(CONFIGS / "r50_official.yaml", out=tmp_path / "run")
    message = str(err.value)
    for root in ("datasets/ovis", "datasets/ytvis_2021", "datasets/coco", "datasets/VIPSeg_720P",
                 "datasets/ref-youtube-vos", "datasets/ytvos_2018", "datasets/DAVIS"):
        assert f"{root}: dataset" in message, root
    assert not (tmp_path / "run").exists()
