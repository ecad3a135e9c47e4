"""Sine position encodings: the 2-D map code (DETR/Mask2Former), temporal code, point code."""

from __future__ import annotations

import math

import pytest
import torch

from univs.model.position_encoding import (
    image_position_encoding,
    point_position_encoding,
    sine_encoding,
    temporal_position_encoding,
    video_position_encoding,
)


def explicit_code(value: float, num_feats: int) -> list[float]:
    """One coordinate's code written out: [sin(v/f0), cos(v/f0), sin(v/f1), cos(v/f1), ...]."""
    out = []
    for i in range(num_feats // 2):
        f = 10000 ** (2 * i / num_feats)
        out += [math.sin(value / f), math.cos(value / f)]
    return out


def test_image_code_matches_the_written_out_formula():
    h, w, d = 3, 5, 16
    pos = image_position_encoding(h, w, d)
    assert pos.shape == (d, h, w)
    for i, j in [(0, 0), (2, 4), (1, 3)]:
        y = (i + 1) / h * 2 * math.pi
        x = (j + 1) / w * 2 * math.pi
        expected = torch.tensor(explicit_code(y, d // 2) + explicit_code(x, d // 2))
        torch.testing.assert_close(pos[:, i, j], expected, atol=1e-6, rtol=0)


def test_half_the_channels_encode_y_half_x():
    pos = image_position_encoding(4, 6, 32)
    # y channels are constant along a row, x channels constant along a column
    assert torch.equal(pos[:16], pos[:16, :, :1].expand(-1, -1, 6))
    assert torch.equal(pos[16:], pos[16:, :1, :].expand(-1, 4, -1))
    assert not torch.equal(pos[:16, 0], pos[:16, 1])


def test_temporal_code_is_added_and_turns_once_per_128_frames():
    t = torch.tensor([0, 5, 128])
    video = video_position_encoding(t, 3, 4, 16)
    image = image_position_encoding(3, 4, 16)
    temporal = temporal_position_encoding(t, 16)
    torch.testing.assert_close(video, image[None] + temporal[:, :, None, None])
    # t = 0: every sin channel 0, every cos channel 1
    assert torch.allclose(temporal[0, 0::2], torch.zeros(8)) and torch.allclose(temporal[0, 1::2], torch.ones(8))
    # the fastest channel pair has period 128 frames; slower ones do not repeat
    torch.testing.assert_close(temporal[2, :2], temporal[0, :2], atol=1e-5, rtol=0)
    assert not torch.allclose(temporal[2, 2:], temporal[0, 2:], atol=1e-3)
    assert not torch.allclose(video[0], video[1])


def test_point_code_equals_the_map_code_at_pixel_positions():
    h, w, d = 6, 8, 32
    t = torch.tensor([3, 40])
    video = video_position_encoding(t, h, w, d)
    rows = torch.tensor([[0, 5, 2], [1, 4, 3]])
    cols = torch.tensor([[0, 7, 4], [6, 2, 1]])
    xy = torch.stack([(cols + 1) / w, (rows + 1) / h], dim=-1).float()  # (K=2, R=3, 2)
    pts = point_position_encoding(xy, t, d)  # one frame per point set
    assert pts.shape == (2, 3, d)
    for k in range(2):
        for r in range(3):
            torch.testing.assert_close(pts[k, r], video[k, :, rows[k, r], cols[k, r]], atol=1e-5, rtol=0)
    # a frame per point gives the same; no frame gives the 2-D code
    torch.testing.assert_close(point_position_encoding(xy, t[:, None].expand(2, 3), d), pts)
    torch.testing.assert_close(point_position_encoding(xy, None, d)[0, 0],
                               image_position_encoding(h, w, d)[:, 0, 0], atol=1e-6, rtol=0)


def test_channel_counts_are_checked():
    with pytest.raises(ValueError, match="divisible by 4"):
        image_position_encoding(2, 2, 30)
    with pytest.raises(ValueError, match="even"):
        sine_encoding(torch.zeros(3), 5)
