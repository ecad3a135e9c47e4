"""Our batch-first MultiheadAttention against torch's nn.MultiheadAttention on the same parameters."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from univs.model.attention import MultiheadAttention


def pair(dim: int = 16, heads: int = 4) -> tuple[MultiheadAttention, nn.MultiheadAttention]:
    torch.manual_seed(0)
    ours = MultiheadAttention(dim, heads)
    torch.manual_seed(0)
    reference = nn.MultiheadAttention(dim, heads, batch_first=True)
    return ours, reference


def test_same_parameters_and_initialisation():
    ours, reference = pair()
    theirs = reference.state_dict()
    assert list(ours.state_dict()) == list(theirs)
    for name, tensor in ours.state_dict().items():
        torch.testing.assert_close(tensor, theirs[name], msg=name)


@pytest.mark.parametrize("masks", ["none", "2d", "3d+padding"])
def test_same_outputs_and_gradients(masks):
    ours, reference = pair()
    n, heads, lq, lk, d = 3, 4, 5, 9, 16
    q = torch.randn(n, lq, d, requires_grad=True)
    k = torch.randn(n, lk, d, requires_grad=True)
    v = torch.randn(n, lk, d, requires_grad=True)
    attn_mask = padding = None
    if masks == "2d":
        attn_mask = torch.rand(lq, lk) < 0.4
        attn_mask[:, 0] = False  # every query keeps a key
    elif masks == "3d+padding":
        attn_mask = torch.rand(n * heads, lq, lk) < 0.4
        attn_mask[:, :, 1] = False
        padding = torch.zeros(n, lk, dtype=torch.bool)
        padding[0, 5:] = True
        padding[2, 2:4] = True
    out = ours(q, k, v, attn_mask=attn_mask, key_padding_mask=padding)
    grads = torch.autograd.grad(out.square().sum(), [q, k, v, ours.in_proj_weight])
    expected = reference(q, k, v, attn_mask=attn_mask, key_padding_mask=padding, need_weights=False)[0]
    expected_grads = torch.autograd.grad(expected.square().sum(), [q, k, v, reference.in_proj_weight])
    torch.testing.assert_close(out, expected)
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want)
