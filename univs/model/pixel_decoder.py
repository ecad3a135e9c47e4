"""Mask2Former's multi-scale deformable-attention pixel decoder (Cheng et al. 2022,
arXiv 2112.01527 §3.2 / App. A; UniVS arXiv 2402.18115 §3.1; architecture.md §2).

    decoder = build_pixel_decoder(cfg: PixelDecoderConfig, in_channels: dict[str, int])
    features = decoder(backbone(images))   # → ImageFeatures

1. ``input_proj.{0,1,2}``: 1×1 conv + GroupNorm(32) of res5, res4, res3 (index 0 = coarsest) to D.
2. ``transformer``: ``level_embed`` (3, D) and ``encoder.layers.<i>`` — post-norm layers of
   multi-scale deformable self-attention over all three levels (queries at every pixel, reference
   point at the pixel centre; inputs are unpadded, so valid ratios are 1) and a ReLU FFN. Query
   position = 2-D sine encoding of the level + its level embedding.
3. FPN step to stride 4: ``adapter_1`` (1×1 conv + GN) on res2, plus the upsampled 1/8 output,
   then ``layer_1`` (3×3 conv + GN + ReLU); ``mask_features``: 1×1 conv to mask_dim.
   At ``common_stride`` 2 (not in the official models) a further step on the backbone's stride-2
   ``res1`` (``adapter_0`` / ``layer_0``) gives stride-2 mask features: on a 128×160 frame a
   median synthetic object covers about 16 stride-4 cells, and a perfect stride-4 mask upsampled
   reaches only J 0.83 against J 0.93 at stride 2. Levels are named by stride (``adapter_k`` at
   stride 2^(k+1)), so official weight names do not depend on the setting.

Output: ``ImageFeatures(mask_features (N, mask_dim, H/s, W/s), s = common_stride, multi_scale=[1/32, 1/16, 1/8]
each (N, D, h, w))`` — the encoder outputs, as Mask2Former feeds its transformer decoder.
As in the official code the module runs in the float precision of its weights with autocast
turned off (deformable sampling locations need more than 8 mantissa bits).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from univs.config import PixelDecoderConfig
from univs.model.backbone.base import FEATURE_STRIDES
from univs.model.backbone.layers import Conv2dNorm
from univs.model.ms_deform_attn import MSDeformAttn
from univs.model.position_encoding import image_position_encoding
from univs.model.types import ImageFeatures

GROUPS = 32


class MSDeformAttnEncoderLayer(nn.Module):
    """src = norm1(src + MSDeformAttn(src + pos)); src = norm2(src + linear2(relu(linear1(src))))."""

    def __init__(self, d_model: int, d_ffn: int, n_levels: int, n_heads: int, n_points: int,
                 dropout: float):
        super().__init__()
        self.dropout = dropout
        self.self_attn = MSDeformAttn(d_model, n_levels, n_heads, n_points)
        self.norm1 = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, d_ffn)
        self.linear2 = nn.Linear(d_ffn, d_model)
        self.norm2 = nn.LayerNorm(d_model)

    def forward(self, src: torch.Tensor, pos: torch.Tensor, reference_points: torch.Tensor,
                spatial_shapes: torch.Tensor, level_start_index: torch.Tensor) -> torch.Tensor:
        """src (N, S, D); pos (1 or N, S, D); reference_points (N, S, L, 2) → (N, S, D)."""
        attn = self.self_attn(src + pos, reference_points, src, spatial_shapes, level_start_index)
        src = self.norm1(src + self._drop(attn))
        ffn = self.linear2(self._drop(F.relu(self.linear1(src))))
        return self.norm2(src + self._drop(ffn))

    def _drop(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(x, self.dropout, self.training)


class MSDeformAttnEncoder(nn.Module):
    """A stack of :class:`MSDeformAttnEncoderLayer` (``layers.<i>``)."""

    def __init__(self, num_layers: int, **layer_kwargs):
        super().__init__()
        self.layers = nn.ModuleList([MSDeformAttnEncoderLayer(**layer_kwargs) for _ in range(num_layers)])

    def forward(self, src: torch.Tensor, pos: torch.Tensor, reference_points: torch.Tensor,
                spatial_shapes: torch.Tensor, level_start_index: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            src = layer(src, pos, reference_points, spatial_shapes, level_start_index)
        return src


def reference_points(shapes: list[tuple[int, int]], device: torch.device) -> torch.Tensor:
    """(S, 2) normalised (x, y) pixel centres of every level, levels flattened in order."""
    points = []
    for h, w in shapes:
        y = (torch.arange(h, dtype=torch.float32, device=device) + 0.5) / h
        x = (torch.arange(w, dtype=torch.float32, device=device) + 0.5) / w
        grid_y, grid_x = torch.meshgrid(y, x, indexing="ij")
        points.append(torch.stack((grid_x.reshape(-1), grid_y.reshape(-1)), dim=-1))
    return torch.cat(points)


class MSDeformAttnTransformer(nn.Module):
    """Encoder-only deformable transformer over L levels (``level_embed`` + ``encoder``)."""

    def __init__(self, d_model: int, nhead: int, num_layers: int, d_ffn: int, dropout: float,
                 n_levels: int, n_points: int):
        super().__init__()
        self.level_embed = nn.Parameter(torch.empty(n_levels, d_model))
        self.encoder = MSDeformAttnEncoder(num_layers, d_model=d_model, d_ffn=d_ffn, n_levels=n_levels,
                                           n_heads=nhead, n_points=n_points, dropout=dropout)
        for layer in self.encoder.layers:
            nn.init.xavier_uniform_(layer.linear1.weight)
            nn.init.xavier_uniform_(layer.linear2.weight)
        nn.init.normal_(self.level_embed)

    def forward(self, srcs: list[torch.Tensor]) -> list[torch.Tensor]:
        """srcs: L maps (N, D, h_l, w_l) → the encoded maps, same shapes."""
        shapes = [tuple(s.shape[-2:]) for s in srcs]
        device, dtype = srcs[0].device, srcs[0].dtype
        d = srcs[0].shape[1]
        src = torch.cat([s.flatten(2).transpose(1, 2) for s in srcs], dim=1)  # (N, S, D)
        pos = torch.cat([image_position_encoding(h, w, d, device).flatten(1).T.to(dtype) + self.level_embed[i]
                         for i, (h, w) in enumerate(shapes)])[None]  # (1, S, D)
        spatial_shapes = torch.tensor(shapes, dtype=torch.long)  # host tensors: no device syncs
        sizes = spatial_shapes.prod(1)
        level_start_index = torch.cat([sizes.new_zeros(1), sizes.cumsum(0)[:-1]])
        ref = reference_points(shapes, device).to(dtype)
        ref = ref[None, :, None, :].expand(src.shape[0], -1, len(srcs), -1)
        memory = self.encoder(src, pos, ref, spatial_shapes, level_start_index)
        return [m.transpose(1, 2).reshape(m.shape[0], d, h, w)
                for m, (h, w) in zip(memory.split(sizes.tolist(), dim=1), shapes)]


def _level(stride: int) -> int:
    """FPN level name of a stride: ``adapter_1`` / ``layer_1`` at stride 4, ``_0`` at stride 2."""
    return stride.bit_length() - 2


def _c2_xavier(conv: nn.Conv2d) -> None:
    """detectron2's ``c2_xavier_fill``: kaiming-uniform (a=1) weight, zero bias."""
    nn.init.kaiming_uniform_(conv.weight, a=1)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


class MSDeformAttnPixelDecoder(nn.Module):
    """Backbone features {res1..res5} → :class:`ImageFeatures` (see the module docstring).

    in_channels: backbone channels per feature name (e.g. ``backbone.out_channels``).
    """

    def __init__(self, cfg: PixelDecoderConfig, in_channels: dict[str, int]):
        super().__init__()
        d = cfg.conv_dim
        strides = {k: FEATURE_STRIDES[k] for k in in_channels}
        if cfg.common_stride not in strides.values():
            raise ValueError(f"pixel_decoder.common_stride {cfg.common_stride}: the backbone has features at "
                             f"strides {sorted(strides.values())} only")
        self.transformer_features = sorted(cfg.in_features, key=strides.__getitem__, reverse=True)
        finest = min(strides[k] for k in cfg.in_features)
        fpn = sorted((k for k in in_channels if cfg.common_stride <= strides[k] < finest),
                     key=strides.__getitem__, reverse=True)
        self.fpn_levels = [(name, _level(strides[name])) for name in fpn]  # coarse to fine
        self.input_proj = nn.ModuleList()
        for name in self.transformer_features:
            proj = nn.Sequential(nn.Conv2d(in_channels[name], d, kernel_size=1), nn.GroupNorm(GROUPS, d))
            nn.init.xavier_uniform_(proj[0].weight)
            nn.init.zeros_(proj[0].bias)
            self.input_proj.append(proj)
        self.transformer = MSDeformAttnTransformer(d, cfg.nheads, cfg.enc_layers, cfg.dim_feedforward,
                                                   cfg.dropout, len(self.transformer_features), cfg.npoints)
        for name, k in self.fpn_levels:
            lateral = Conv2dNorm(in_channels[name], d, kernel_size=1, bias=False, norm=nn.GroupNorm(GROUPS, d))
            output = Conv2dNorm(d, d, kernel_size=3, padding=1, bias=False, norm=nn.GroupNorm(GROUPS, d),
                                activation=F.relu)
            _c2_xavier(lateral)
            _c2_xavier(output)
            self.add_module(f"adapter_{k}", lateral)
            self.add_module(f"layer_{k}", output)
        self.mask_features = nn.Conv2d(d, cfg.mask_dim, kernel_size=1)
        _c2_xavier(self.mask_features)

    def forward(self, features: dict[str, torch.Tensor]) -> ImageFeatures:
        """features: {res1: (N, C1, H/2, W/2), ..., res5: (N, C5, H/32, W/32)} → ImageFeatures."""
        dtype = self.mask_features.weight.dtype
        device_type = self.mask_features.weight.device.type
        with torch.autocast(device_type=device_type, enabled=False):
            srcs = [proj(features[name].to(dtype)) for proj, name in zip(self.input_proj, self.transformer_features)]
            outs = self.transformer(srcs)
            y = outs[-1]
            for name, k in self.fpn_levels:
                lateral = getattr(self, f"adapter_{k}")(features[name].to(dtype))
                y = lateral + F.interpolate(y, size=lateral.shape[-2:], mode="bilinear", align_corners=False)
                y = getattr(self, f"layer_{k}")(y)
            return ImageFeatures(self.mask_features(y), outs)


def build_pixel_decoder(cfg: PixelDecoderConfig, in_channels: dict[str, int]) -> MSDeformAttnPixelDecoder:
    """The pixel decoder of ``cfg`` on backbone features with ``in_channels`` (name → channels)."""
    return MSDeformAttnPixelDecoder(cfg, in_channels)
