"""Stages: what each freezes stays fixed and out of the optimiser; the schedule; the EMA formula."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn

from univs.config import OptimConfig, StageConfig
from univs.engine import run_train
from univs.engine.ema import ModelEMA
from univs.engine.optim import BASE_LR, build_optimizer, freeze_parts, lr_factor
from univs.engine.state import META_KEY

from engine_configs import tiny_config

STAGES = [
    {"clips": 1, "iterations": 2, "lr": 1.0e-3},
    {"clips": 2, "iterations": 2, "lr": 1.0e-3, "freeze": ["backbone"], "data": {"num_frames": 2}},
    {"clips": 3, "iterations": 2, "lr": 1.0e-3, "freeze": ["backbone", "pixel_decoder"], "ema_decay": 0.5,
     "data": {"num_frames": 2}},
]


def part(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k: v for k, v in state.items() if k.startswith(prefix)}


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_stage_transitions_freeze_backbone_then_pixel_decoder(write_config, tmp_path):
    out = tmp_path / "run"
    assert run_train(write_config(tiny_config(STAGES, checkpoint_every=10)), out=out, quiet=True) == 0
    w = {k: load_file(out / f"stage{k}/last.safetensors") for k in (1, 2, 3)}
    assert not same(part(w[1], "pixel_decoder."), part(w[2], "pixel_decoder."))
    assert same(part(w[1], "backbone."), part(w[2], "backbone."))
    assert same(part(w[2], "backbone."), part(w[3], "backbone."))
    assert same(part(w[2], "pixel_decoder."), part(w[3], "pixel_decoder."))
    assert not same(part(w[2], "decoder."), part(w[3], "decoder."))

    groups = {}
    for k in (1, 2, 3):
        with safe_open(str(out / f"stage{k}/state/train_state.safetensors"), "pt") as f:
            groups[k] = [len(g["params"]) for g in json.loads(f.metadata()[META_KEY])["param_groups"]]
    state3 = load_file(out / "stage3/state/train_state.safetensors")
    averaged = {k[len("ema."):] for k in state3 if k.startswith("ema.")}
    assert averaged and not any(k.startswith(("backbone.", "pixel_decoder.")) for k in averaged)
    assert len(groups[1]) == 2  # backbone at its own rate, the rest
    assert len(groups[2]) == 1 and groups[2][0] == groups[1][1]
    assert len(groups[3]) == 1 and groups[3][0] == len(averaged) < groups[2][0]


class Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(3, 4)
        self.pixel_decoder = nn.Linear(4, 4)
        self.decoder = nn.Linear(4, 2)

    def forward(self, x):
        return self.decoder(self.pixel_decoder(self.backbone(x)))


def test_frozen_parts_get_no_gradient_and_no_optimizer_entry():
    torch.manual_seed(0)
    model = Toy()
    freeze_parts(model, ("backbone",))
    optimizer = build_optimizer(model, StageConfig(lr=1e-2), OptimConfig())
    in_optimizer = {id(p) for g in optimizer.param_groups for p in g["params"]}
    assert not any(id(p) in in_optimizer for p in model.backbone.parameters())
    assert all(id(p) in in_optimizer for p in model.pixel_decoder.parameters())
    before = [p.detach().clone() for p in model.backbone.parameters()]
    model(torch.randn(5, 3)).sum().backward()
    optimizer.step()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, model.backbone.parameters()))
    with pytest.raises(ValueError, match="cannot freeze"):
        freeze_parts(model, ("text",))


def test_backbone_learning_rate_multiplier():
    optimizer = build_optimizer(Toy(), StageConfig(lr=1e-3), OptimConfig(backbone_lr_multiplier=0.1))
    assert [g[BASE_LR] for g in optimizer.param_groups] == pytest.approx([1e-4, 1e-3])


def test_warmup_and_step_schedule():
    stage = StageConfig(iterations=100, lr_steps=(0.5, 0.8))
    cfg = OptimConfig(warmup_iters=10, warmup_factor=0.1, gamma=0.1)
    assert lr_factor(0, stage, cfg) == pytest.approx(0.1)
    assert lr_factor(5, stage, cfg) == pytest.approx(0.55)
    assert lr_factor(10, stage, cfg) == pytest.approx(1.0)
    assert lr_factor(49, stage, cfg) == pytest.approx(1.0)
    assert lr_factor(50, stage, cfg) == pytest.approx(0.1)
    assert lr_factor(80, stage, cfg) == pytest.approx(0.01)


def test_ema_update_follows_the_formula():
    torch.manual_seed(0)
    model = Toy()
    model.backbone.requires_grad_(False)
    ema = ModelEMA(model, decay=0.5)
    assert set(ema.shadow) == {"pixel_decoder.weight", "pixel_decoder.bias", "decoder.weight", "decoder.bias"}
    expected = {k: v.clone() for k, v in ema.shadow.items()}
    for n in range(10):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        d = min(0.5, (1 + n) / (10 + n))  # 0.1, 0.18, 0.25, … from n = 8 on the decay 0.5
        current = dict(model.named_parameters())
        expected = {k: d * v + (1 - d) * current[k].detach() for k, v in expected.items()}
        ema.update(model)
        for k, v in expected.items():
            torch.testing.assert_close(ema.shadow[k], v, rtol=0, atol=1e-6)
    assert ema.updates == 10 and ema.current_decay() == 0.5
    state = ema.state_dict(model)
    assert torch.equal(state["decoder.weight"], ema.shadow["decoder.weight"])
    assert torch.equal(state["backbone.weight"], model.backbone.weight)
