"""Image backbones (architecture.md §2): ResNet-50, Swin-T/B/L and EfficientNet-Lite0.

    backbone = build_backbone(cfg: BackboneConfig) -> Backbone
    feats = backbone(images)   # (N, 3, H, W) normalised → {"res2".."res5": (N, C, H/s, W/s)}
    backbone.out_channels      # {"res2": C2, ..., "res5": C5}
    backbone.strides           # {"res2": 4, "res3": 8, "res4": 16, "res5": 32}
    backbone.size_divisibility # 32

Any H, W works (h_k = ceil(H / stride)); pad batches to ``size_divisibility`` for exact strides.
"""

from __future__ import annotations

from univs.config import BackboneConfig
from univs.errors import InputError
from univs.model.backbone.base import FEATURE_STRIDES, Backbone
from univs.model.backbone.efficientnet import EfficientNetLite0, load_imagenet_weights
from univs.model.backbone.resnet import ResNet
from univs.model.backbone.swin import SwinTransformer

BACKBONES = ("efficientnet_lite0", "resnet50", "swin")


def build_backbone(cfg: BackboneConfig) -> Backbone:
    """The backbone of ``cfg``, its first ``cfg.freeze_at`` stages frozen.

    ``pretrained`` loads the ImageNet weights that ship offline (EfficientNet-Lite0 only; skipped
    when built on the meta device). ResNet and Swin weights come from a converted official
    checkpoint instead.
    """
    if cfg.name not in BACKBONES:
        raise InputError(f"unknown backbone {cfg.name!r}; known: {', '.join(BACKBONES)}")
    if cfg.pretrained and cfg.name != "efficientnet_lite0":
        raise InputError(f"backbone {cfg.name!r}: no ImageNet weights ship offline; set "
                         "backbone.pretrained=false and load a converted checkpoint")
    if cfg.name == "efficientnet_lite0":
        backbone: Backbone = EfficientNetLite0(frozen_bn=cfg.freeze_bn)
        if cfg.pretrained and backbone._conv_stem.weight.device.type != "meta":
            load_imagenet_weights(backbone)
    elif cfg.name == "resnet50":
        backbone = ResNet(frozen_bn=cfg.freeze_bn)
    else:
        backbone = SwinTransformer(cfg.embed_dim, tuple(cfg.depths), tuple(cfg.num_heads),
                                   cfg.window_size, cfg.drop_path_rate)
    backbone.freeze(cfg.freeze_at)
    return backbone


__all__ = ["BACKBONES", "FEATURE_STRIDES", "Backbone", "EfficientNetLite0", "ResNet", "SwinTransformer",
           "build_backbone"]
