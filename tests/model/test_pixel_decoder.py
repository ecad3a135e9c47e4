"""MSDeformAttn pixel decoder: outputs, the FPN step, gradients (frozen parts get none) and
reduced-precision autocast."""

from __future__ import annotations

import pytest
import torch

from univs.config import BackboneConfig, PixelDecoderConfig, model_preset
from univs.model.backbone import build_backbone
from univs.model.pixel_decoder import build_pixel_decoder, reference_points

SMALL = PixelDecoderConfig(conv_dim=64, mask_dim=32, enc_layers=2, nheads=4, npoints=2, dim_feedforward=96)
CHANNELS = {"res2": 24, "res3": 40, "res4": 112, "res5": 320}


def fake_features(n: int, h: int, w: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(n, c, -(-h // s), -(-w // s), generator=g)
            for (k, c), s in zip(CHANNELS.items(), (4, 8, 16, 32))}


def test_outputs_mask_features_and_three_levels_coarse_to_fine():
    torch.manual_seed(0)
    decoder = build_pixel_decoder(SMALL, CHANNELS).eval()
    with torch.no_grad():
        out = decoder(fake_features(2, 72, 100))
    assert out.mask_features.shape == (2, 32, 18, 25)
    assert [tuple(f.shape) for f in out.multi_scale] == [(2, 64, 3, 4), (2, 64, 5, 7), (2, 64, 9, 13)]
    assert out.num_frames == 2
    assert len(decoder.transformer.encoder.layers) == 2


def test_reference_points_are_pixel_centres():
    ref = reference_points([(2, 4), (1, 2)], torch.device("cpu"))
    expected = torch.tensor([[0.125, 0.25], [0.375, 0.25], [0.625, 0.25], [0.875, 0.25],
                             [0.125, 0.75], [0.375, 0.75], [0.625, 0.75], [0.875, 0.75],
                             [0.25, 0.5], [0.75, 0.5]])
    torch.testing.assert_close(ref, expected)


def test_res2_feeds_only_the_mask_features_and_frames_stay_independent():
    torch.manual_seed(0)
    decoder = build_pixel_decoder(SMALL, CHANNELS).eval()
    feats = fake_features(2, 64, 64)
    changed = dict(feats, res2=feats["res2"] + torch.randn_like(feats["res2"]))
    with torch.no_grad():
        a, b = decoder(feats), decoder(changed)
        single = decoder({k: v[1:] for k, v in feats.items()})
    for x, y in zip(a.multi_scale, b.multi_scale):
        torch.testing.assert_close(x, y)
    assert not torch.allclose(a.mask_features, b.mask_features)
    torch.testing.assert_close(single.mask_features, a.mask_features[1:], atol=1e-5, rtol=1e-4)
    # every level of the encoder reads the others: a change in res5 reaches the 1/8 output
    deep = dict(feats, res5=feats["res5"] + 1.0 + torch.randn_like(feats["res5"]))
    with torch.no_grad():
        c = decoder(deep)
    assert not torch.allclose(a.multi_scale[2], c.multi_scale[2])


@pytest.mark.parametrize("freeze_at", [0, 5])
def test_gradients_reach_every_trainable_tensor_and_no_frozen_one(freeze_at):
    torch.manual_seed(0)
    backbone = build_backbone(BackboneConfig(name="efficientnet_lite0", pretrained=False, freeze_at=freeze_at))
    decoder = build_pixel_decoder(SMALL, backbone.out_channels)
    # at initialisation sampling offsets and attention weights ignore the query (zero weights), so
    # the query position (level embedding) gets no gradient: move them off zero as training would
    with torch.no_grad():
        for layer in decoder.transformer.encoder.layers:
            layer.self_attn.sampling_offsets.weight.normal_(std=0.01)
            layer.self_attn.attention_weights.weight.normal_(std=0.01)
    out = decoder(backbone(torch.randn(2, 3, 64, 64)))
    loss = out.mask_features.square().mean() + sum(f.square().mean() for f in out.multi_scale)
    loss.backward()
    for name, p in decoder.named_parameters():
        assert p.requires_grad and p.grad is not None and p.grad.abs().sum() > 0, name
    for name, p in backbone.named_parameters():
        if freeze_at == 5:
            assert not p.requires_grad and p.grad is None, name
        else:
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    for name, b in backbone.named_buffers():  # frozen batch norm: statistics and affine terms
        assert not b.requires_grad and b.grad is None, name


def test_official_presets_freeze_the_backbone_but_not_swin_output_norms():
    for preset in ("r50", "swin_b"):
        with torch.device("meta"):
            backbone = build_backbone(model_preset(preset).backbone)
        trainable = [n for n, p in backbone.named_parameters() if p.requires_grad]
        assert trainable == ([] if preset == "r50" else
                             [f"norm{i}.{t}" for i in range(4) for t in ("weight", "bias")])
    assert all(p.requires_grad for p in build_backbone(model_preset("tiny").backbone).parameters())


def test_bfloat16_autocast_runs_the_decoder_in_float32():
    torch.manual_seed(0)
    backbone = build_backbone(BackboneConfig(name="efficientnet_lite0", pretrained=False)).eval()
    decoder = build_pixel_decoder(SMALL, backbone.out_channels).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        feats = backbone(x)
        ref = decoder(feats)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low_feats = backbone(x)
            low = decoder(feats)
            mixed = decoder(low_feats)
    assert low.mask_features.dtype == torch.float32
    torch.testing.assert_close(low.mask_features, ref.mask_features)
    assert torch.isfinite(mixed.mask_features).all()
    for k in feats:
        assert torch.isfinite(low_feats[k].float()).all()


def test_common_stride_2_adds_a_res1_level_and_keeps_the_official_names():
    torch.manual_seed(0)
    fine = dict(CHANNELS, res1=16)
    stride4 = build_pixel_decoder(SMALL, fine)
    stride2 = build_pixel_decoder(PixelDecoderConfig(**{**SMALL.__dict__, "common_stride": 2}), fine).eval()
    assert {k for k in stride4.state_dict() if k.startswith(("adapter", "layer"))} == {
        "adapter_1.weight", "adapter_1.norm.weight", "adapter_1.norm.bias",
        "layer_1.weight", "layer_1.norm.weight", "layer_1.norm.bias"}
    new = set(stride2.state_dict()) - set(stride4.state_dict())
    assert new == {k.replace("_1", "_0") for k in stride4.state_dict() if k.startswith(("adapter", "layer"))}
    feats = fake_features(2, 72, 100)
    feats["res1"] = torch.randn(2, 16, 36, 50)
    with torch.no_grad():
        out = stride2(feats)
        changed = stride2(dict(feats, res1=feats["res1"] + 1.0))
    assert out.mask_features.shape == (2, 32, 36, 50)
    assert not torch.allclose(out.mask_features, changed.mask_features)


def test_common_stride_2_needs_a_backbone_with_stride_2_features():
    with pytest.raises(ValueError, match="common_stride 2.*strides \\[4, 8, 16, 32\\]"):
        build_pixel_decoder(PixelDecoderConfig(**{**SMALL.__dict__, "common_stride": 2}), CHANNELS)
