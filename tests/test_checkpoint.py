"""Checkpoints: weights + config in one safetensors file, strict loading, clear errors."""

import pytest
import torch
from safetensors.torch import save_file

import univs
from univs.checkpoint import average_checkpoints, read_checkpoint, save_checkpoint
from univs.config import model_preset
from univs.errors import InputError
from univs.model.univs_model import build_model


@pytest.fixture(scope="module")
def tiny():
    cfg = model_preset("tiny")
    cfg.backbone.pretrained = False
    return build_model(cfg, verbose=False)


def test_round_trip_restores_every_tensor_and_the_config(tiny, tmp_path):
    path = tmp_path / "m.safetensors"
    save_checkpoint(tiny.state_dict(), tiny.cfg, path, extra={"note": "test"})
    _, cfg, meta = read_checkpoint(path)
    assert cfg == tiny.cfg and meta["note"] == "test"
    loaded = univs.load(str(path))
    for k, v in tiny.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    assert not loaded.training


def test_fp16_checkpoint_is_half_the_size_and_loads_into_float32(tiny, tmp_path):
    full, half = tmp_path / "f.safetensors", tmp_path / "h.safetensors"
    save_checkpoint(tiny.state_dict(), tiny.cfg, full)
    save_checkpoint(tiny.state_dict(), tiny.cfg, half, dtype=torch.float16)
    assert half.stat().st_size < 0.55 * full.stat().st_size
    loaded = univs.load(str(half))
    w = next(iter(loaded.parameters()))
    assert w.dtype == torch.float32


def test_errors_name_the_file(tiny, tmp_path):
    with pytest.raises(InputError, match="no-such"):
        univs.load(str(tmp_path / "no-such.safetensors"))
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="junk.safetensors"):
        univs.load(str(junk))
    bare = tmp_path / "bare.safetensors"
    save_file({"x": torch.zeros(1)}, str(bare))
    with pytest.raises(InputError, match="univs convert"):
        univs.load(str(bare))
    partial = tmp_path / "partial.safetensors"
    state = dict(tiny.state_dict())
    state.pop("decoder.query_feat.weight")
    save_checkpoint(state, tiny.cfg, partial)
    with pytest.raises(InputError, match="missing: decoder.query_feat.weight"):
        univs.load(str(partial))


def test_average_of_checkpoints_is_the_mean_of_their_weights(tiny, tmp_path):
    a, b, other = tmp_path / "a.safetensors", tmp_path / "b.safetensors", tmp_path / "other.safetensors"
    state = tiny.state_dict()
    shifted = {k: v + 1.0 if v.is_floating_point() else v for k, v in state.items()}
    save_checkpoint(state, tiny.cfg, a)
    save_checkpoint(shifted, tiny.cfg, b, dtype=torch.float16)
    mean, cfg = average_checkpoints([a, b])
    assert cfg == tiny.cfg and mean.keys() == state.keys()
    for k, v in state.items():
        if v.is_floating_point():
            assert mean[k].dtype == torch.float32
            expected = (v.double() + shifted[k].half().double()) / 2
            assert torch.allclose(mean[k].double(), expected, atol=1e-6), k
        else:
            assert torch.equal(mean[k], v), k
    smaller = dict(state)
    smaller.pop("decoder.query_feat.weight")
    save_checkpoint(smaller, tiny.cfg, other)
    with pytest.raises(InputError, match="other.safetensors"):
        average_checkpoints([a, other])
