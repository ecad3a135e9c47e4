"""``init=``: a checkpoint starts a model that extends its architecture (new tensors keep their
initialisation); a checkpoint with tensors the model lacks is refused, naming the file."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from univs.checkpoint import save_checkpoint
from univs.config import ModelConfig, model_preset
from univs.engine.trainer import load_init_weights
from univs.errors import InputError
from univs.model import build_model


def small_tiny(common_stride: int) -> ModelConfig:
    cfg = model_preset("tiny")
    return dataclasses.replace(
        cfg, backbone=dataclasses.replace(cfg.backbone, pretrained=False),
        pixel_decoder=dataclasses.replace(cfg.pixel_decoder, enc_layers=1, common_stride=common_stride),
        decoder=dataclasses.replace(cfg.decoder, dec_layers=2, num_queries=8))


def test_a_stride_4_checkpoint_starts_a_stride_2_model(tmp_path):
    torch.manual_seed(0)
    source = build_model(small_tiny(4), verbose=False)
    path = tmp_path / "stride4.safetensors"
    save_checkpoint(source.state_dict(), source.cfg, path)
    torch.manual_seed(1)
    target = build_model(small_tiny(2), verbose=False)
    fresh = {k: v.clone() for k, v in target.state_dict().items()}
    new = load_init_weights(target, path)
    assert new == sorted(k for k in fresh if k.startswith(("pixel_decoder.adapter_0", "pixel_decoder.layer_0")))
    assert len(new) == 6
    loaded, original = target.state_dict(), source.state_dict()
    for k in loaded:
        torch.testing.assert_close(loaded[k], fresh[k] if k in new else original[k], rtol=0, atol=0)


def test_a_checkpoint_with_tensors_the_model_lacks_is_refused(tmp_path):
    source = build_model(small_tiny(2), verbose=False)
    path = tmp_path / "stride2.safetensors"
    save_checkpoint(source.state_dict(), source.cfg, path)
    with pytest.raises(InputError, match="stride2.safetensors.*6 tensors the config's model lacks"):
        load_init_weights(build_model(small_tiny(4), verbose=False), path)
