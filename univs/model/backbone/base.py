"""The interface every image backbone implements (architecture.md §2)."""

from __future__ import annotations

import abc

import torch
from torch import nn

# res1 (stride 2) is offered by backbones with a stride-2 stage; the pixel decoder reads it only at
# common_stride 2, for finer mask features on small objects.
FEATURE_STRIDES = {"res1": 2, "res2": 4, "res3": 8, "res4": 16, "res5": 32}


class Backbone(nn.Module, abc.ABC):
    """Image encoder: ``forward(images (N, 3, H, W) normalised) -> {res2..res5: (N, C_k, h_k, w_k)}``
    at strides 4, 8, 16, 32 (h_k = ceil(H / stride) for any H, W: backbones pad internally), plus
    ``res1`` at stride 2 where the backbone has one.

    out_channels: channels per feature; strides: stride per feature; size_divisibility: inputs
    padded to a multiple of it give exactly H / stride (callers pad batches to it).
    """

    size_divisibility: int = 32

    def __init__(self, out_channels: dict[str, int]):
        super().__init__()
        self.out_channels = dict(out_channels)
        self.strides = {name: FEATURE_STRIDES[name] for name in out_channels}

    @abc.abstractmethod
    def stages(self) -> list[list[nn.Module]]:
        """The modules of the stem and of res2..res5, in order (5 entries)."""

    def freeze(self, freeze_at: int) -> None:
        """Stop gradients to the stem (``freeze_at`` ≥ 1) and to res2..res{freeze_at}
        (detectron2's ``FREEZE_AT``; 5 freezes every stage). Modules outside the stages, such as
        Swin's output norms, stay trainable as in the official models."""
        for stage in self.stages()[:freeze_at]:
            for module in stage:
                for p in module.parameters():
                    p.requires_grad_(False)

    @abc.abstractmethod
    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """images (N, 3, H, W) → {res2: (N, C2, H/4, W/4), ..., res5: (N, C5, H/32, W/32)}."""
