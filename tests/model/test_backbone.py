"""Backbones: official tensor structure, feature shapes for any input size, Swin windows, frozen
batch norm, and the shipped EfficientNet-Lite0 ImageNet weights on real photos."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.nn import functional as F

from univs.config import BackboneConfig, model_preset
from univs.errors import InputError
from univs.model.backbone import build_backbone
from univs.model.backbone import efficientnet as effnet
from univs.model.backbone.layers import FrozenBatchNorm2d
from univs.model.backbone.swin import SwinBlock, relative_position_index, shifted_window_mask
from univs.model.pixel_decoder import build_pixel_decoder

OFFICIAL = json.loads((Path(__file__).parent / "data" / "official_encoders.json").read_text())["presets"]
from shared_data import REALDATA, requires_shared
TOTALS = {  # official parameter / buffer elements under backbone.* + sem_seg_head.pixel_decoder.*
    "r50": (23_454_912 + 6_035_904, 106_240),
    "swin_t": (27_520_698 + 5_421_504, 28_812),
    "swin_b": (86_880_376 + 5_544_384, 497_664),
    "swin_l": (195_201_204 + 5_790_144, 497_664),
}


def encoder_tensors(preset: str) -> dict[str, tuple[tuple[int, ...], str, bool]]:
    """Backbone + pixel decoder of a preset, built on the meta device, under official names."""
    cfg = model_preset(preset)
    with torch.device("meta"):
        backbone = build_backbone(cfg.backbone)
        decoder = build_pixel_decoder(cfg.pixel_decoder, backbone.out_channels)
    out = {}
    for prefix, module in (("backbone.", backbone), ("sem_seg_head.pixel_decoder.", decoder)):
        for name, p in module.named_parameters():
            out[prefix + name] = (tuple(p.shape), "parameter", p.requires_grad)
        persistent = module.state_dict().keys()
        for name, b in module.named_buffers():
            if name in persistent:
                out[prefix + name] = (tuple(b.shape), "buffer", False)
    return out


@pytest.mark.parametrize("preset", ["r50", "swin_t", "swin_b", "swin_l"])
def test_official_encoder_tensors_one_to_one(preset):
    ours = encoder_tensors(preset)
    official = OFFICIAL[preset]
    assert sorted(ours) == sorted(official)  # same names: the converter maps them as they are
    for name, (shape, kind, requires_grad) in official.items():
        assert ours[name][:2] == (tuple(shape), kind), name
        if requires_grad is not None:
            assert ours[name][2] == requires_grad, name
    params = sum(math.prod(s) for s, k, _ in ours.values() if k == "parameter")
    buffers = sum(math.prod(s) for s, k, _ in ours.values() if k == "buffer")
    assert (params, buffers) == TOTALS[preset]


SMALL_SWIN = BackboneConfig(name="swin", pretrained=False, embed_dim=32, depths=(2, 2, 2, 2),
                            num_heads=(1, 2, 4, 8), window_size=7, drop_path_rate=0.1)


@pytest.mark.parametrize(("cfg", "names"), [
    (BackboneConfig(name="efficientnet_lite0", pretrained=False), ["res1", "res2", "res3", "res4", "res5"]),
    (BackboneConfig(name="resnet50", pretrained=False), ["res1", "res2", "res3", "res4", "res5"]),
    (SMALL_SWIN, ["res2", "res3", "res4", "res5"]),
], ids=["efficientnet", "resnet50", "swin"])
@pytest.mark.parametrize("size", [(64, 64), (70, 101)])
def test_features_at_strides_2_or_4_to_32_for_any_size(cfg, names, size):
    torch.manual_seed(0)
    backbone = build_backbone(cfg).eval()
    with torch.no_grad():
        feats = backbone(torch.randn(2, 3, *size))
    assert list(feats) == names == list(backbone.strides)
    assert backbone.size_divisibility == 32
    for name, f in feats.items():
        s = backbone.strides[name]
        assert f.shape == (2, backbone.out_channels[name], math.ceil(size[0] / s), math.ceil(size[1] / s))
        assert torch.isfinite(f).all() and f.std() > 0


@pytest.mark.parametrize("cfg", [BackboneConfig(name="resnet50", pretrained=False), SMALL_SWIN],
                         ids=["resnet50", "swin"])
def test_bfloat16_autocast_matches_float32(cfg):
    torch.manual_seed(0)
    backbone = build_backbone(cfg).eval()
    x = torch.randn(1, 3, 40, 56)
    with torch.no_grad():
        ref = backbone(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = backbone(x)
    for name in ref:
        assert low[name].shape == ref[name].shape and low[name].dtype == torch.bfloat16
        err = (low[name].float() - ref[name]).norm() / ref[name].norm()
        assert err < 0.05, (name, err)


def test_resnet_strides_on_the_3x3_conv():
    backbone = build_backbone(BackboneConfig(name="resnet50", pretrained=False))
    block = backbone.res3[0]
    assert block.conv1.stride == (1, 1) and block.conv2.stride == (2, 2) and block.shortcut.stride == (2, 2)
    assert isinstance(block.conv2.norm, FrozenBatchNorm2d)


def test_frozen_batch_norm_equals_eval_batch_norm_and_has_no_parameters():
    torch.manual_seed(0)
    frozen = FrozenBatchNorm2d(5, eps=1e-3)
    for name in ("weight", "bias", "running_mean"):
        getattr(frozen, name).normal_()
    frozen.running_var.uniform_(0.5, 2.0)
    x = torch.randn(2, 5, 3, 4)
    expected = F.batch_norm(x, frozen.running_mean, frozen.running_var, frozen.weight, frozen.bias,
                            training=False, eps=1e-3)
    torch.testing.assert_close(frozen(x), expected)
    assert list(frozen.parameters()) == []
    frozen.train()
    torch.testing.assert_close(frozen(x), expected)  # statistics never update


def test_relative_position_index_written_out():
    w = 3
    idx = relative_position_index(w)
    for a in range(w * w):
        for b in range(w * w):
            dy, dx = a // w - b // w, a % w - b % w
            assert idx[a, b] == (dy + w - 1) * (2 * w - 1) + (dx + w - 1)


def test_shifted_window_mask_separates_wrapped_tokens():
    h, w, window, shift = 6, 9, 3, 1
    mask = shifted_window_mask(h, w, window, shift, torch.device("cpu"))
    assert mask.shape == ((h // window) * (w // window), window * window, window * window)
    for k in range(mask.shape[0]):
        wy, wx = divmod(k, w // window)
        coords = [(wy * window + i // window, wx * window + i % window) for i in range(window * window)]
        for a, (ya, xa) in enumerate(coords):
            for b, (yb, xb) in enumerate(coords):
                same = (ya >= h - shift) == (yb >= h - shift) and (xa >= w - shift) == (xb >= w - shift)
                assert mask[k, a, b] == (0.0 if same else -100.0)


@pytest.mark.parametrize("shift", [0, 3])
def test_swin_block_mixes_tokens_only_inside_its_window(shift):
    """A token's change reaches exactly its own window: rows/cols [0, 7) unshifted, and [0, 3)
    (the partial first window) when windows are shifted by 3."""
    torch.manual_seed(0)
    window = 7
    block = SwinBlock(dim=16, num_heads=2, window=window, shift=shift, drop_path_rate=0.0).eval()
    h = w = 2 * window
    mask = shifted_window_mask(h, w, window, window // 2, torch.device("cpu"))
    x = torch.randn(1, h, w, 16)
    x2 = x.clone()
    x2[0, 0, 0] += torch.randn(16)  # not a constant: LayerNorm would remove it
    with torch.no_grad():
        changed = (block(x2, mask) - block(x, mask)).abs().amax(-1)[0] > 1e-6
    reach = window if shift == 0 else shift
    expected = torch.zeros(h, w, dtype=torch.bool)
    expected[:reach, :reach] = True
    assert torch.equal(changed, expected)


def test_unknown_backbone_and_missing_weights_are_input_errors():
    with pytest.raises(InputError, match="unknown backbone"):
        build_backbone(BackboneConfig(name="vgg16"))
    with pytest.raises(InputError, match="no ImageNet weights"):
        build_backbone(BackboneConfig(name="resnet50", pretrained=True))


def test_lite0_weights_must_map_completely(monkeypatch):
    full = effnet.imagenet_state_dict()
    assert sum(v.numel() for k, v in full.items() if "running" not in k and "num_batches" not in k) == 4_652_008
    broken = {k: v for k, v in full.items() if k != "_blocks.7._bn1.bias"}
    monkeypatch.setattr(effnet, "imagenet_state_dict", lambda: broken)
    with pytest.raises(RuntimeError, match="_blocks.7._bn1.bias"):
        build_backbone(BackboneConfig(name="efficientnet_lite0", pretrained=True))
    extra = dict(full, **{"_blocks.99._bn1.bias": torch.zeros(3)})
    monkeypatch.setattr(effnet, "imagenet_state_dict", lambda: extra)
    with pytest.raises(RuntimeError, match="_blocks.99"):
        build_backbone(BackboneConfig(name="efficientnet_lite0", pretrained=True))


@pytest.fixture(scope="module")
def lite0():
    return build_backbone(model_preset("tiny").backbone).eval()


@pytest.fixture(scope="module")
def imagenet_head():
    return {k: v for k, v in effnet.imagenet_state_dict().items() if k.split(".")[0] in effnet.HEAD_KEYS}


def classify(backbone, head: dict[str, torch.Tensor], path: Path) -> torch.Tensor:
    """ImageNet class probabilities (1000,) of a centre 224 crop, via the shipped head (built here)."""
    img = Image.open(path).convert("RGB")
    scale = 224 / min(img.size)
    img = img.resize((round(img.width * scale), round(img.height * scale)), Image.BICUBIC)
    left, top = (img.width - 224) // 2, (img.height - 224) // 2
    x = torch.from_numpy(np.array(img.crop((left, top, left + 224, top + 224)))).permute(2, 0, 1).float()
    cfg = model_preset("tiny")
    x = (x[None] - torch.tensor(cfg.pixel_mean).view(1, 3, 1, 1)) / torch.tensor(cfg.pixel_std).view(1, 3, 1, 1)
    with torch.no_grad():
        res5 = backbone(x)["res5"]
        y = F.conv2d(res5, head["_conv_head.weight"])
        y = F.batch_norm(y, head["_bn1.running_mean"], head["_bn1.running_var"], head["_bn1.weight"],
                         head["_bn1.bias"], eps=effnet.BN_EPS)
        logits = F.relu6(y).mean(dim=(2, 3)) @ head["_fc.weight"].T + head["_fc.bias"]
    return logits.softmax(-1)[0]


@requires_shared
def test_lite0_recognises_real_photos(lite0, imagenet_head):
    """Bedroom frame → studio couch (831; quilt 750, four-poster 564 next); BMX rider →
    mountain bike (671) / bicycle-built-for-two (444)."""
    bedroom = classify(lite0, imagenet_head, REALDATA / "bedroom" / "00000.jpg")
    assert bedroom.argmax() == 831 and bedroom[831] > 0.2
    assert set(bedroom.topk(3).indices.tolist()) == {831, 750, 564}
    bmx = classify(lite0, imagenet_head, REALDATA / "davis" / "JPEGImages" / "480p" / "bmx-trees" / "00000.jpg")
    assert bmx.argmax() == 671 and bmx[671] + bmx[444] > 0.4


@requires_shared
def test_lite0_activations_are_sane_on_a_real_frame(lite0):
    img = np.array(Image.open(REALDATA / "judo" / "images" / "00000.jpg").convert("RGB").resize((320, 192)))
    x = (torch.from_numpy(img).permute(2, 0, 1).float()[None] - 127.0) / 128.0
    with torch.no_grad():
        feats = lite0(x)
    for name, f in feats.items():
        assert torch.isfinite(f).all()
        assert 0.05 < f.std() < 20, (name, f.std())
        assert (f.abs().amax(dim=(0, 2, 3)) > 1e-3).float().mean() > 0.9, name  # few dead channels
