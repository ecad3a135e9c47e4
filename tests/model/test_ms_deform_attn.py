"""Multi-scale deformable attention: the grid_sample core against explicit bilinear loops, the
Deformable-DETR sampling convention and initialisation, and reduced precision."""

from __future__ import annotations

import math

import torch

from univs.model.ms_deform_attn import MSDeformAttn, ms_deform_attn


def bilinear_reference(value, shapes, starts, locations, weights):
    """Loop-based reference: pixel (i, j) has its centre at ((j + 0.5) / w, (i + 0.5) / h); a
    location reads the 4 surrounding pixels bilinearly, zero outside the map."""
    n, _, m, dh = value.shape
    _, lq, _, n_levels, n_points, _ = locations.shape
    out = torch.zeros(n, lq, m, dh, dtype=torch.float64)
    for b in range(n):
        for q in range(lq):
            for head in range(m):
                for lvl in range(n_levels):
                    h, w = shapes[lvl]
                    for p in range(n_points):
                        x = locations[b, q, head, lvl, p, 0].item() * w - 0.5
                        y = locations[b, q, head, lvl, p, 1].item() * h - 0.5
                        x0, y0 = math.floor(x), math.floor(y)
                        sample = torch.zeros(dh, dtype=torch.float64)
                        for yy, xx in [(y0, x0), (y0, x0 + 1), (y0 + 1, x0), (y0 + 1, x0 + 1)]:
                            if 0 <= yy < h and 0 <= xx < w:
                                c = (1 - abs(x - xx)) * (1 - abs(y - yy))
                                sample += c * value[b, starts[lvl] + yy * w + xx, head].double()
                        out[b, q, head] += weights[b, q, head, lvl, p].item() * sample
    return out.reshape(n, lq, m * dh)


def random_case(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    shapes = [(3, 4), (2, 3), (1, 2)]
    starts = [0, 12, 18]
    n, m, dh, lq, p = 2, 2, 3, 5, 3
    value = torch.randn(n, 20, m, dh, generator=g)
    locations = torch.rand(n, lq, m, len(shapes), p, 2, generator=g) * 1.6 - 0.3  # some outside [0, 1]
    weights = torch.rand(n, lq, m, len(shapes), p, generator=g)
    weights = weights / weights.sum(dim=(-2, -1), keepdim=True)
    return value, shapes, starts, locations, weights


def test_core_equals_explicit_bilinear_loops_including_outside_points():
    value, shapes, starts, locations, weights = random_case()
    assert ((locations < 0) | (locations > 1)).any()
    out = ms_deform_attn(value, torch.tensor(shapes), torch.tensor(starts), locations, weights)
    ref = bilinear_reference(value, shapes, starts, locations, weights)
    assert out.shape == (2, 5, 6) and out.dtype == torch.float32
    torch.testing.assert_close(out.double(), ref, atol=1e-5, rtol=0)


def test_points_far_outside_read_zero():
    value, shapes, starts, locations, weights = random_case(1)
    out = ms_deform_attn(value, torch.tensor(shapes), torch.tensor(starts), locations + 5.0, weights)
    assert torch.count_nonzero(out) == 0


def identity_module(d: int, n_heads: int, n_levels: int, n_points: int) -> MSDeformAttn:
    attn = MSDeformAttn(d, n_levels, n_heads, n_points)
    with torch.no_grad():
        attn.value_proj.weight.copy_(torch.eye(d))
        attn.output_proj.weight.copy_(torch.eye(d))
    return attn


def test_offsets_are_in_pixels_of_each_level():
    """Location = reference + offset / (w_l, h_l): an offset of (1, 0) from a pixel centre reads
    exactly the next pixel to the right, on every level."""
    d, shapes = 4, [(4, 5), (2, 3)]
    attn = identity_module(d, n_heads=1, n_levels=2, n_points=1)
    with torch.no_grad():
        attn.sampling_offsets.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 1.0]))  # level 0 right, level 1 down
        attn.attention_weights.bias.copy_(torch.tensor([0.0, -1e4]))  # level 0 only
    maps = [torch.randn(1, d, h, w) for h, w in shapes]
    value = torch.cat([f.flatten(2).transpose(1, 2) for f in maps], dim=1)
    ref = torch.tensor([[(1 + 0.5) / 5, (2 + 0.5) / 4]]).view(1, 1, 1, 2).expand(1, 1, 2, 2)
    query = torch.zeros(1, 1, d)
    ss, starts = torch.tensor(shapes), torch.tensor([0, 20])
    out = attn(query, ref, value, ss, starts)
    torch.testing.assert_close(out[0, 0], maps[0][0, :, 2, 2], atol=1e-5, rtol=0)
    with torch.no_grad():
        attn.attention_weights.bias.copy_(torch.tensor([-1e4, 0.0]))  # level 1 only
    ref1 = torch.tensor([[(0 + 0.5) / 3, (0 + 0.5) / 2]]).view(1, 1, 1, 2).expand(1, 1, 2, 2)
    out = attn(query, ref1, value, ss, starts)
    torch.testing.assert_close(out[0, 0], maps[1][0, :, 1, 0], atol=1e-5, rtol=0)


def test_initialisation_rings_and_uniform_attention():
    attn = MSDeformAttn(d_model=32, n_levels=2, n_heads=8, n_points=3)
    bias = attn.sampling_offsets.bias.view(8, 2, 3, 2)
    torch.testing.assert_close(bias[0, 0], torch.tensor([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]]))  # 0°
    torch.testing.assert_close(bias[1, 1], torch.tensor([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]))  # 45°
    torch.testing.assert_close(bias[2, 0, 1], torch.tensor([0.0, 2.0]), atol=1e-6, rtol=0)  # 90°
    torch.testing.assert_close(bias[4, 1, 2], torch.tensor([-3.0, 0.0]), atol=1e-6, rtol=0)  # 180°
    assert torch.count_nonzero(attn.sampling_offsets.weight) == 0
    assert torch.count_nonzero(attn.attention_weights.weight) == 0
    # so at initialisation the output does not depend on the query content
    value = torch.randn(1, 6 * 5 + 3 * 3, 32)
    ref = torch.rand(1, 1, 2, 2).expand(1, 4, 2, 2)
    out = attn(torch.randn(1, 4, 32), ref, value, torch.tensor([[6, 5], [3, 3]]), torch.tensor([0, 30]))
    torch.testing.assert_close(out[0, 1:], out[0, :1].expand(3, -1))


def test_bfloat16_values_with_float32_locations():
    value, shapes, starts, locations, weights = random_case(2)
    ref = ms_deform_attn(value, torch.tensor(shapes), torch.tensor(starts), locations, weights)
    low = value.bfloat16()
    out = ms_deform_attn(low, torch.tensor(shapes), torch.tensor(starts), locations, weights)
    assert out.dtype == torch.bfloat16
    # sampling itself runs in float32: only the bf16 rounding of inputs and output remains
    exact = ms_deform_attn(low.float(), torch.tensor(shapes), torch.tensor(starts), locations, weights)
    torch.testing.assert_close(out, exact.bfloat16(), atol=0, rtol=0)
    torch.testing.assert_close(out.float(), ref, atol=3e-2, rtol=3e-2)
    attn = MSDeformAttn(d_model=16, n_levels=3, n_heads=2, n_points=2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = attn(torch.randn(2, 5, 16), locations[:, :, 0, :, 0], torch.randn(2, 20, 16),
                 torch.tensor(shapes), torch.tensor(starts))
    assert y.shape == (2, 5, 16) and torch.isfinite(y.float()).all()
