"""Multi-scale deformable attention (Zhu et al., Deformable DETR, arXiv 2010.04159 §4.1).

Each query attends to ``n_points`` sampled locations per head and per feature level, around its
reference point; locations and weights are predicted from the query. Mask2Former's pixel decoder
(and so UniVS's, arXiv 2402.18115 §3.1) uses it as the self-attention of its encoder.

:func:`ms_deform_attn` is the sampling core in pure PyTorch (``F.grid_sample``: bilinear, zero
padding, ``align_corners=False``): the single place a fused GPU kernel could plug in.
:class:`MSDeformAttn` is the module with Deformable DETR's parameter names and initialisation
(``sampling_offsets``, ``attention_weights``, ``value_proj``, ``output_proj``).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def ms_deform_attn(value: torch.Tensor, spatial_shapes: torch.Tensor, level_start_index: torch.Tensor,
                   sampling_locations: torch.Tensor, attention_weights: torch.Tensor) -> torch.Tensor:
    """Weighted sum of bilinearly sampled values.

    value: (N, S, M, Dh) — S = Σ h_l·w_l flattened levels, M heads of Dh channels
    spatial_shapes: (L, 2) long — (h_l, w_l) per level; level_start_index: (L,) long — both
        read on the host, so keep them on the CPU to avoid a device sync
    sampling_locations: (N, Lq, M, L, P, 2) — (x, y) normalised to [0, 1] over each level
        (0 and 1 are the outer edges of the border pixels; outside points read zeros)
    attention_weights: (N, Lq, M, L, P) — normalised over (L, P)
    Returns (N, Lq, M·Dh) in the dtype of ``value``; sampling runs in float32 (or wider).
    """
    n, _, m, dh = value.shape
    _, lq, _, n_levels, n_points, _ = sampling_locations.shape
    shapes = [(int(h), int(w)) for h, w in spatial_shapes.tolist()]
    starts = [int(s) for s in level_start_index.tolist()]
    # sample in (at least) float32: a bf16 grid rounds locations by up to 1/1024 of the map size
    compute = torch.promote_types(value.dtype, torch.float32)
    grids = (2 * sampling_locations - 1).to(compute)
    weights = attention_weights.transpose(1, 2).reshape(n * m, 1, lq, n_levels, n_points)
    out = None
    for lvl, (h, w) in enumerate(shapes):
        v = value[:, starts[lvl]:starts[lvl] + h * w]  # (N, hw, M, Dh)
        v = v.permute(0, 2, 3, 1).reshape(n * m, dh, h, w).to(compute)
        g = grids[:, :, :, lvl].transpose(1, 2).reshape(n * m, lq, n_points, 2)
        sampled = F.grid_sample(v, g, mode="bilinear", padding_mode="zeros", align_corners=False)
        term = (sampled * weights[..., lvl, :].to(compute)).sum(-1)  # (N·M, Dh, Lq)
        out = term if out is None else out + term
    return out.view(n, m * dh, lq).transpose(1, 2).to(value.dtype)


class MSDeformAttn(nn.Module):
    """Multi-scale deformable attention module (Deformable DETR §4.1).

    d_model = M·Dh; each query samples ``n_points`` per head per level. Parameters:
    sampling_offsets Linear(D, M·L·P·2), attention_weights Linear(D, M·L·P), value_proj and
    output_proj Linear(D, D).
    """

    def __init__(self, d_model: int = 256, n_levels: int = 3, n_heads: int = 8, n_points: int = 4):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}")
        self.d_model, self.n_levels, self.n_heads, self.n_points = d_model, n_levels, n_heads, n_points
        self.sampling_offsets = nn.Linear(d_model, n_heads * n_levels * n_points * 2)
        self.attention_weights = nn.Linear(d_model, n_heads * n_levels * n_points)
        self.value_proj = nn.Linear(d_model, d_model)
        self.output_proj = nn.Linear(d_model, d_model)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Deformable DETR's initialisation: zero offset weights, offset biases pointing in
        M evenly spaced directions (point k at distance k+1 pixels, on the unit square's ring),
        uniform attention (zero weights and biases), Xavier-uniform value/output projections."""
        nn.init.zeros_(self.sampling_offsets.weight)
        thetas = torch.arange(self.n_heads, dtype=torch.float32) * (2.0 * math.pi / self.n_heads)
        ring = torch.stack([thetas.cos(), thetas.sin()], dim=-1)
        ring = ring / ring.abs().max(dim=-1, keepdim=True).values
        scale = torch.arange(1, self.n_points + 1, dtype=torch.float32).view(1, 1, -1, 1)
        bias = ring.view(self.n_heads, 1, 1, 2).repeat(1, self.n_levels, self.n_points, 1) * scale
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(bias.flatten())
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        nn.init.xavier_uniform_(self.value_proj.weight)
        nn.init.zeros_(self.value_proj.bias)
        nn.init.xavier_uniform_(self.output_proj.weight)
        nn.init.zeros_(self.output_proj.bias)

    def forward(self, query: torch.Tensor, reference_points: torch.Tensor, value_in: torch.Tensor,
                spatial_shapes: torch.Tensor, level_start_index: torch.Tensor,
                padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """query (N, Lq, D); reference_points (N, Lq, L, 2) normalised (x, y) per level;
        value_in (N, S, D) flattened levels; spatial_shapes (L, 2) (h, w); level_start_index (L,);
        padding_mask (N, S) bool, True = padding (reads zero) or None. Returns (N, Lq, D)."""
        n, lq, _ = query.shape
        m, n_levels, n_points = self.n_heads, self.n_levels, self.n_points
        value = self.value_proj(value_in)
        if padding_mask is not None:
            value = value.masked_fill(padding_mask[..., None], 0.0)
        value = value.view(n, value.shape[1], m, self.d_model // m)
        offsets = self.sampling_offsets(query).view(n, lq, m, n_levels, n_points, 2)
        weights = self.attention_weights(query).view(n, lq, m, n_levels * n_points)
        weights = weights.softmax(-1).view(n, lq, m, n_levels, n_points)
        normaliser = spatial_shapes.flip(-1).to(device=offsets.device, dtype=torch.float32)  # (w, h)
        locations = (reference_points[:, :, None, :, None, :].to(torch.float32)
                     + offsets.float() / normaliser[None, None, None, :, None, :])
        out = ms_deform_attn(value, spatial_shapes, level_start_index, locations, weights)
        return self.output_proj(out)
