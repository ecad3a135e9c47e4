"""Official checkpoints → univs: every fixture tensor maps one-to-one onto its preset, values
copied exactly; the converted file loads with ``univs.load``; teacher copies and category-only
models are handled and reported."""

from __future__ import annotations

import json

import pytest
import torch

import univs
from convert_helpers import fixture, official_state, requires_official, save_official
from univs.checkpoint import read_checkpoint
from univs.cli import main
from univs.config import model_preset
from univs.errors import InputError
from univs.convert import OFFICIAL_PRESETS, convert_checkpoint, map_official_state, run_convert
from univs.convert.official import LANG2VISION, official_name
from univs.convert.run import CONVERSION_KEY
from univs.model.univs_model import build_model

pytestmark = requires_official

PARAMETERS = {"r50": 46_968_066, "swin_t": 50_419_452, "swin_b": 109_902_010, "swin_l": 218_468_598}


def meta_model(preset: str):
    with torch.device("meta"):
        return build_model(model_preset(preset), verbose=False)


@pytest.mark.parametrize("preset", OFFICIAL_PRESETS)
def test_presets_hold_every_official_tensor(preset):
    """Our preset has exactly the official tensors (names, shapes) and parameter count."""
    model = meta_model(preset)
    official = {t["name"]: tuple(t["shape"]) for t in fixture(preset)["tensors"]}
    ours = {official_name(k): tuple(v.shape) for k, v in model.state_dict().items()}
    assert ours == official
    assert sum(p.numel() for p in model.parameters()) == PARAMETERS[preset] == fixture(preset)["num_parameter_elements"]


@pytest.mark.parametrize("preset", OFFICIAL_PRESETS)
def test_every_official_tensor_converts_one_to_one(preset, tmp_path):
    source = official_state(preset)
    path = save_official(tmp_path / "official.pth", source, iteration=177000,
                         optimizer={"state": {}, "param_groups": [{"lr": 2.5e-5}]})
    conversion = convert_checkpoint(path)
    assert conversion.preset == preset and conversion.weights == "student"
    assert conversion.ignored_entries == ["iteration", "optimizer"]
    assert not conversion.skipped and not conversion.fresh

    model = meta_model(preset)
    ours = model.state_dict()
    # a bijection: every official tensor → one of ours, every one of ours ← one official tensor
    assert set(conversion.mapping) == set(source)
    assert sorted(conversion.mapping.values()) == sorted(ours) == sorted(conversion.state)
    model.load_state_dict(conversion.state, strict=True, assign=True)
    for official, mine in conversion.mapping.items():
        tensor = model.state_dict()[mine]
        assert tensor.dtype == ours[mine].dtype and torch.equal(tensor, source[official]), official


def test_converted_checkpoint_loads_with_univs_load(tmp_path, capsys):
    source = official_state("r50", dense=True)
    path = save_official(tmp_path / "univs_r50_stage3.pth", source, iteration=1)
    out = tmp_path / "r50.safetensors"
    assert main(["convert", str(path), str(out)]) == 0
    report = capsys.readouterr().out
    assert "preset r50, student weights, 626 official tensors → 626 univs tensors" in report

    model = univs.load(str(out))
    assert model.cfg.name == "r50" and model.cfg.prompt_encoder.text.name == "regionclip"
    assert model.class_table is None
    loaded = {official_name(k): v for k, v in model.state_dict().items()}
    assert loaded.keys() == source.keys()
    for name, tensor in source.items():
        assert torch.equal(loaded[name], tensor), name
    _, _, metadata = read_checkpoint(out)
    info = json.loads(metadata[CONVERSION_KEY])
    assert info == {"source": "univs_r50_stage3.pth", "preset": "r50", "weights": "student",
                    "initial_values": [], "text_prompts_trained": True}


def test_teacher_copies_are_left_out_by_default_and_converted_on_request():
    student = official_state("r50", seed=1)
    teacher = official_state("r50", seed=2, prefix_map={"backbone": "backbone_t", "sem_seg_head": "sem_seg_head_t"})
    state = {**student, **teacher}
    assert len(state) == 1252

    default = map_official_state(state, "ema.pth")
    assert default.weights == "student" and default.skipped == sorted(teacher)
    chosen = map_official_state(state, "ema.pth", teacher=True)
    assert chosen.weights == "teacher" and chosen.skipped == sorted(student)
    for name in ("backbone.res4.5.conv2.weight", "sem_seg_head.predictor.query_feat.weight"):
        ours = default.mapping[name]
        assert torch.equal(default.state[ours], student[name])
        root, _, rest = name.partition(".")
        assert chosen.mapping[f"{root}_t.{rest}"] == ours
        assert torch.equal(chosen.state[ours], teacher[f"{root}_t.{rest}"])

    with pytest.raises(InputError, match="--teacher"):
        map_official_state(teacher, "teacher-only.pth")
    with pytest.raises(InputError, match="no EMA teacher tensors"):
        map_official_state(student, "student-only.pth", teacher=True)


def test_category_only_model_without_lang2vision_layer(tmp_path):
    source = {k: v for k, v in official_state("swin_t", dense=True).items() if not k.startswith(LANG2VISION)}
    assert len(source) == 550 - 6
    path = save_official(tmp_path / "category_only.pth", source)
    out = tmp_path / "swin_t.safetensors"
    lines = run_convert(path, out, quiet=True)

    fresh = sorted(k for k in meta_model("swin_t").state_dict() if official_name(k).startswith(LANG2VISION))
    assert len(fresh) == 6
    assert any("text prompts are untrained" in line and all(k in line for k in fresh) for line in lines)
    info = json.loads(read_checkpoint(out)[2][CONVERSION_KEY])
    assert info["text_prompts_trained"] is False and info["initial_values"] == fresh

    model = univs.load(str(out))
    again = map_official_state(source, path)  # the initial values are reproducible
    for name in fresh:
        assert torch.equal(model.state_dict()[name], again.state[name])
    weight = next(k for k in fresh if k.endswith("in_proj_weight"))
    assert model.state_dict()[weight].std() > 0
