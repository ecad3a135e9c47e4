"""Building blocks shared by the backbones and the pixel decoder.

``FrozenBatchNorm2d`` and ``Conv2dNorm`` keep detectron2's tensor names (``conv.weight``,
``conv.norm.{weight,bias,running_mean,running_var}``) so official checkpoints map one to one.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn


class FrozenBatchNorm2d(nn.Module):
    """Batch norm with fixed statistics and affine terms, all buffers (no gradient, no update).

    y = (x − running_mean) / sqrt(running_var + eps) · weight + bias, per channel of (N, C, H, W).
    Small per-GPU batches cannot estimate batch statistics, so detection backbones freeze them
    (detectron2's ``FrozenBatchNorm2d``).
    """

    def __init__(self, num_features: int, eps: float = 1e-5):
        super().__init__()
        self.num_features, self.eps = num_features, eps
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features) - eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        shift = self.bias - self.running_mean * scale
        return x * scale.to(x.dtype)[:, None, None] + shift.to(x.dtype)[:, None, None]

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}"


def batch_norm(num_features: int, frozen: bool, eps: float = 1e-5) -> nn.Module:
    """FrozenBatchNorm2d when ``frozen`` else a trainable BatchNorm2d (same tensor names)."""
    return FrozenBatchNorm2d(num_features, eps) if frozen else nn.BatchNorm2d(num_features, eps=eps)


class Conv2dNorm(nn.Conv2d):
    """Conv2d followed by an optional ``norm`` submodule and activation (detectron2's Conv2d).

    The norm lives at ``<name>.norm`` so checkpoints read ``<name>.weight``, ``<name>.norm.*``.
    """

    def __init__(self, *args, norm: nn.Module | None = None,
                 activation: Callable[[torch.Tensor], torch.Tensor] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.norm = norm
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = super().forward(x)
        if self.norm is not None:
            x = self.norm(x)
        if self.activation is not None:
            x = self.activation(x)
        return x


def drop_path(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Stochastic depth (Huang et al. 2016): zero a residual branch per sample with probability
    ``p`` while training, scaling survivors by 1/(1−p). x: (N, ...)."""
    if p == 0.0 or not training:
        return x
    keep = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(1.0 - p)
    return x * keep / (1.0 - p)
