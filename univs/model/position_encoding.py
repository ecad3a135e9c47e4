"""Sine position encodings of image maps, points and frame times.

The 2-D map encoding is DETR's normalised sine encoding as Mask2Former uses it (Carion et al.
2020, arXiv 2005.12872; Cheng et al. 2022, arXiv 2112.01527): half the channels encode y, half
encode x, each as interleaved ``sin, cos`` pairs of ``coord / 10000^(2i/F)`` with the coordinate
normalised to ``(0, 2π]``. Pixel ``j`` of a ``w``-wide map has x-coordinate ``(j + 1) / w · 2π``
(the cumulative-sum convention of the official code, for maps without padding).

UniVS adds a temporal code so that a clip of any length is encoded (arXiv 2402.18115 §3.3;
architecture.md §4): the absolute frame index ``t`` becomes ``t / 128 · 2π`` and is encoded with
all ``D`` channels, then *added* to the 2-D code.

Public functions (D = encoding channels, even; D/2 for y and D/2 for x)::

    sine_encoding(values, num_feats)            # (...)          → (..., num_feats)
    image_position_encoding(h, w, dim)          # map            → (dim, h, w)
    temporal_position_encoding(t, dim)          # frame indices  → (..., dim)
    video_position_encoding(t, h, w, dim)       # N frames       → (N, dim, h, w)
    point_position_encoding(xy, t, dim)         # points in [0,1]² (+ frame) → (..., dim)

All return float32 (cast to the features' dtype at the call site).
"""

from __future__ import annotations

import math

import torch

TEMPERATURE = 10000.0
TEMPORAL_PERIOD = 128.0
"""Frame index that maps to one full turn (2π) of the temporal code (official UniVS)."""


def sine_encoding(values: torch.Tensor, num_feats: int, temperature: float = TEMPERATURE) -> torch.Tensor:
    """Interleaved sin/cos code of scalar coordinates (already scaled, e.g. to ``(0, 2π]``).

    values: (...) float → (..., num_feats) with channel ``2i`` = sin(v / T^(2i/F)) and
    ``2i+1`` = cos(v / T^(2i/F)); ``num_feats`` must be even.
    """
    if num_feats % 2:
        raise ValueError(f"sine encoding needs an even number of channels, got {num_feats}")
    half = torch.arange(num_feats // 2, dtype=torch.float32, device=values.device)
    freq = temperature ** (2 * half / num_feats)
    angles = values.float().unsqueeze(-1) / freq
    return torch.stack((angles.sin(), angles.cos()), dim=-1).flatten(-2)


def _yx_encoding(y: torch.Tensor, x: torch.Tensor, dim: int) -> torch.Tensor:
    """(...) normalised y and x in [0, 1] → (..., dim): y code in the first dim/2 channels."""
    if dim % 4:
        raise ValueError(f"2-D sine encoding needs channels divisible by 4, got {dim}")
    scale = 2 * math.pi
    return torch.cat((sine_encoding(y * scale, dim // 2), sine_encoding(x * scale, dim // 2)), dim=-1)


def image_position_encoding(height: int, width: int, dim: int,
                            device: torch.device | str | None = None) -> torch.Tensor:
    """(dim, height, width) 2-D sine encoding of a map (Mask2Former's ``PositionEmbeddingSine``
    with ``normalize=True`` and no padding mask): pixel (i, j) encodes y = (i+1)/h, x = (j+1)/w."""
    y = torch.arange(1, height + 1, dtype=torch.float32, device=device) / height
    x = torch.arange(1, width + 1, dtype=torch.float32, device=device) / width
    grid_y, grid_x = torch.meshgrid(y, x, indexing="ij")
    return _yx_encoding(grid_y, grid_x, dim).permute(2, 0, 1)


def temporal_position_encoding(t: torch.Tensor, dim: int, period: float = TEMPORAL_PERIOD) -> torch.Tensor:
    """(...) absolute frame indices → (..., dim): the sine code of ``t / period · 2π``."""
    return sine_encoding(t.float() / period * (2 * math.pi), dim)


def video_position_encoding(t: torch.Tensor, height: int, width: int, dim: int,
                            period: float = TEMPORAL_PERIOD) -> torch.Tensor:
    """(N, dim, height, width) map encoding of N frames with absolute indices ``t`` (N,):
    the 2-D code of :func:`image_position_encoding` plus the frame's temporal code."""
    spatial = image_position_encoding(height, width, dim, device=t.device)
    temporal = temporal_position_encoding(t, dim, period)
    return spatial.unsqueeze(0) + temporal[:, :, None, None]


def point_position_encoding(xy: torch.Tensor, t: torch.Tensor | None, dim: int,
                            period: float = TEMPORAL_PERIOD) -> torch.Tensor:
    """Encoding of points ``xy`` (..., 2) — (x, y) normalised by the image size to [0, 1] — on
    frames ``t`` → (..., dim).

    ``t`` holds absolute frame indices with the leading dimensions of ``xy`` (e.g. ``(K,)`` for
    ``xy`` of shape ``(K, R, 2)``: one frame per point set) or all of them; ``None`` gives the
    2-D code alone. A point at normalised ((j+1)/w, (i+1)/h) gets exactly the code of map pixel
    (i, j) in :func:`video_position_encoding`.
    """
    pos = _yx_encoding(xy[..., 1], xy[..., 0], dim)
    if t is None:
        return pos
    t = t.reshape(t.shape + (1,) * (xy.dim() - 1 - t.dim()))
    return pos + temporal_position_encoding(t, dim, period)
