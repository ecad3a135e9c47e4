"""Frame geometry: mask logits at the model's mask stride (4, or 2) map back onto the frame."""

from __future__ import annotations

import pytest
import torch

from univs.inference.frames import Geometry


@pytest.mark.parametrize("stride", [4, 2])
def test_logits_at_the_mask_stride_land_on_the_original_frame(stride):
    g = Geometry.of((200, 300), 100, stride)  # processed at 100x150, padded to 128x160
    assert g.processing == (100, 150)
    assert g.logits_size == (128 // stride, 160 // stride)
    assert g.valid_logits_size == (-(-100 // stride), -(-150 // stride))
    logits = torch.full((1, *g.logits_size), -10.0)
    logits[0, 20 // stride: 60 // stride, 40 // stride: 120 // stride] = 10.0  # processing rows 20..59, cols 40..119
    mask = g.logits_to(logits, g.original)[0] > 0
    assert mask.shape == (200, 300)
    expected = torch.zeros(200, 300, dtype=torch.bool)
    expected[40:120, 80:240] = True
    assert (mask ^ expected).float().mean() < 0.01
