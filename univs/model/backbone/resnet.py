"""ResNet-50 (He et al. 2016, arXiv 1512.03385) with detectron2's tensor names.

Torchvision-style bottlenecks (stride on the 3×3 conv, Mask2Former's R-50 setting
``STRIDE_IN_1X1=False``) and frozen batch norm, as in the official UniVS R50 model
(architecture.md §2, §6b). Names: ``stem.conv1`` (+ ``.norm``), ``res{2..5}.<i>.{conv1, conv2,
conv3, shortcut}`` each with ``.norm``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from univs.model.backbone.base import Backbone
from univs.model.backbone.layers import Conv2dNorm, batch_norm

RESNET50_BLOCKS = (3, 4, 6, 3)


def _conv(c_in: int, c_out: int, kernel: int, stride: int, frozen_bn: bool, relu: bool) -> Conv2dNorm:
    conv = Conv2dNorm(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False,
                      norm=batch_norm(c_out, frozen_bn), activation=F.relu if relu else None)
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    return conv


class Bottleneck(nn.Module):
    """1×1 reduce → 3×3 (stride) → 1×1 expand, plus a projection shortcut where shapes change."""

    def __init__(self, c_in: int, c_mid: int, c_out: int, stride: int, frozen_bn: bool):
        super().__init__()
        self.shortcut = _conv(c_in, c_out, 1, stride, frozen_bn, relu=False) if (
            c_in != c_out or stride != 1) else None
        self.conv1 = _conv(c_in, c_mid, 1, 1, frozen_bn, relu=True)
        self.conv2 = _conv(c_mid, c_mid, 3, stride, frozen_bn, relu=True)
        self.conv3 = _conv(c_mid, c_out, 1, 1, frozen_bn, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.shortcut is None else self.shortcut(x)
        return F.relu(self.conv3(self.conv2(self.conv1(x))) + identity)


class Stem(nn.Module):
    """7×7 stride-2 conv + norm + ReLU (``res1``: stride 2, 64 channels); the 3×3 stride-2 max pool
    that follows it is applied by :class:`ResNet`."""

    def __init__(self, frozen_bn: bool):
        super().__init__()
        self.conv1 = _conv(3, 64, 7, 2, frozen_bn, relu=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv1(x)


class ResNet(Backbone):
    """Bottleneck ResNet; ``blocks`` per stage (3, 4, 6, 3) gives ResNet-50.

    Outputs res1..res5 with 64, 256, 512, 1024, 2048 channels at strides 2..32.
    """

    def __init__(self, blocks: tuple[int, ...] = RESNET50_BLOCKS, frozen_bn: bool = True):
        widths = (64, 128, 256, 512)
        super().__init__({"res1": 64} | {f"res{i + 2}": 4 * w for i, w in enumerate(widths)})
        self.stem = Stem(frozen_bn)
        c_in = 64
        for i, (n, w) in enumerate(zip(blocks, widths)):
            stage = nn.Sequential(*[
                Bottleneck(c_in if j == 0 else 4 * w, w, 4 * w, 2 if (j == 0 and i > 0) else 1, frozen_bn)
                for j in range(n)])
            self.add_module(f"res{i + 2}", stage)
            c_in = 4 * w

    def stages(self) -> list[list[nn.Module]]:
        return [[self.stem], [self.res2], [self.res3], [self.res4], [self.res5]]

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.stem(images)
        out = {"res1": x}
        x = F.max_pool2d(x, kernel_size=3, stride=2, padding=1)
        for name in ("res2", "res3", "res4", "res5"):
            x = getattr(self, name)(x)
            out[name] = x
        return out
