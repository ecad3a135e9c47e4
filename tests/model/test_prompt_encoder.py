"""Visual sampler, prompt tokens and the text branch (univs.model.prompt_encoder)."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from univs.config import PromptEncoderConfig, TextEncoderConfig
from univs.model.prompt_encoder import (
    PromptEncoder,
    append_prompt_tokens,
    bilinear_gather,
    cat_prompt_tokens,
    cat_regions,
    click_prompt,
    initial_query,
    sample_box_prompt,
    sample_mask_prompt,
)
from univs.model.position_encoding import video_position_encoding
from univs.model.text_encoder import TextEmbeddings
from univs.model.types import STREAM_DETECTION, STREAM_GROUNDING, STREAM_VISUAL

D, DT = 16, 12


def encoder(negative: bool = True) -> PromptEncoder:
    torch.manual_seed(0)
    cfg = PromptEncoderConfig(text=TextEncoderConfig(dim=DT), negative_point_embedding=negative)
    return PromptEncoder(cfg, D, 4)


def test_mask_sampler_draws_distinct_pixels_inside():
    masks = torch.zeros(3, 20, 30, dtype=torch.bool)
    masks[0, 2:12, 5:25] = True  # 200 pixels
    masks[1, 4, 7:12] = True  # 5 pixels: all of them, the rest padding
    g = torch.Generator().manual_seed(0)
    r = sample_mask_prompt(masks, torch.tensor([0, 1, 2]), 32, generator=g)
    assert r.points.shape == (3, 32, 2) and r.frame.tolist() == [0, 1, 2]
    assert (r.labels[0] == 1).all() and (r.labels[1] == 1).sum() == 5 and (r.labels[2] == -1).all()
    for k in range(2):
        pts = r.points[k][r.labels[k] == 1]
        x, y = (pts[:, 0] - 0.5).long(), (pts[:, 1] - 0.5).long()
        assert masks[k, y, x].all()
        assert len(set(zip(x.tolist(), y.tolist()))) == len(pts)
    assert sorted((r.points[1][r.labels[1] == 1][:, 0] - 0.5).long().tolist()) == [7, 8, 9, 10, 11]
    again = sample_mask_prompt(masks, 0, 32, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again.points, r.points)


def test_mask_sampler_small_image_pads_to_r():
    r = sample_mask_prompt(torch.ones(1, 2, 3, dtype=torch.bool), 0, 8)
    assert r.points.shape == (1, 8, 2) and (r.labels == 1).sum() == 6


def test_box_sampler_and_clicks():
    boxes = torch.tensor([[10.0, 20.0, 30.0, 25.0], [8.0, 8.0, 2.0, 4.0]])
    r = sample_box_prompt(boxes, 1, 64)
    assert (r.labels == 1).all() and r.frame.tolist() == [1, 1]
    lo = torch.minimum(boxes[:, :2], boxes[:, 2:])[:, None]
    hi = torch.maximum(boxes[:, :2], boxes[:, 2:])[:, None]
    assert ((r.points >= lo) & (r.points <= hi)).all()
    c = click_prompt(torch.tensor([[[4.0, 5.0], [6.0, 7.0]]]), torch.tensor([[1, 0]]), 2)
    both = cat_regions([r, c])
    assert both.points.shape == (3, 64, 2) and both.labels[2, :2].tolist() == [1, 0]
    assert (both.labels[2, 2:] == -1).all() and both.frame.tolist() == [1, 1, 2]


def test_bilinear_gather_matches_grid_sample():
    torch.manual_seed(0)
    fmap = torch.randn(2, D, 5, 7)
    stride = 8
    points = torch.rand(3, 10, 2) * torch.tensor([7 * stride - 8.0, 5 * stride - 8.0]) + 4.0
    frame = torch.tensor([1, 0, 1])
    ours = bilinear_gather(fmap, frame, points, stride)
    grid = points / torch.tensor([7.0 * stride, 5.0 * stride]) * 2 - 1
    ref = F.grid_sample(fmap[frame], grid[:, None], align_corners=False).squeeze(2).transpose(1, 2)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
    centre = torch.tensor([[[2 * stride + 4.0, 3 * stride + 4.0]]])  # cell (y=3, x=2)
    torch.testing.assert_close(bilinear_gather(fmap, frame[:1], centre, stride)[0, 0], fmap[1, :, 3, 2])


def test_visual_tokens_features_positions_and_negatives():
    enc = encoder(negative=True)
    memory = torch.randn(3, D, 4, 6)
    regions = click_prompt(torch.tensor([[[12.0, 20.0], [36.0, 4.0], [0.0, 0.0]]] * 2),
                           torch.tensor([[1, 0, -1], [1, 1, -1]]), torch.tensor([0, 2]))
    times = torch.tensor([5, 6, 40])
    p = enc.encode_visual(memory, regions, times)
    assert p.tokens.shape == (2, 3, D) and p.stream.tolist() == [STREAM_VISUAL] * 2
    assert p.valid.tolist() == [[True, True, False], [True, True, False]]
    assert p.query_mask.tolist() == [[True, False, False], [True, True, False]]
    torch.testing.assert_close(p.tokens[0, 0], memory[0, :, 2, 1])  # pixel (12, 20) = cell centre (1, 2)
    torch.testing.assert_close(p.tokens[0, 1], memory[0, :, 0, 4] + enc.negative_point_embed.weight[0])
    torch.testing.assert_close(p.tokens[1, 1], memory[2, :, 0, 4])
    # a point at a cell centre carries exactly that memory cell's 3-D code (x, y, frame time)
    grid = video_position_encoding(times, 4, 6, D)
    torch.testing.assert_close(p.pos[0, 0], grid[0, :, 2, 1])
    torch.testing.assert_close(p.pos[1, 1], grid[2, :, 0, 4])
    # same pixel, other frame time: same spatial code, different temporal code
    assert not torch.allclose(p.pos[0, 0], p.pos[1, 0])
    assert not torch.allclose(p.pos[0, 0], p.pos[0, 1])
    content, _ = initial_query(p)
    torch.testing.assert_close(content[0], p.tokens[0, 0])  # the negative click is not averaged
    torch.testing.assert_close(content[1], p.tokens[1, :2].mean(0))
    plain = encoder(negative=False).encode_visual(memory, regions, times)
    assert plain.query_mask is None and plain.valid[0].tolist() == [True, False, False]


def test_fine_tokens_add_the_mask_features_at_each_point():
    cfg = PromptEncoderConfig(text=TextEncoderConfig(dim=DT), fine_tokens=True)
    enc = PromptEncoder(cfg, D, 4, mask_dim=6, mask_stride=2)
    memory = torch.randn(2, D, 4, 6)  # stride 8 of a 32x48 frame
    fine = torch.randn(2, 6, 16, 24)  # stride 2
    regions = click_prompt(torch.tensor([[[12.0, 20.0], [3.0, 5.0]]]), torch.tensor([[1, 1]]), torch.tensor([1]))
    times = torch.tensor([0, 1])
    start = enc.encode_visual(memory, regions, times, mask_features=fine)
    # the projection starts at zero: a model that gains fine tokens keeps its output
    torch.testing.assert_close(start.tokens[0, 0], memory[1, :, 2, 1])
    with torch.no_grad():
        enc.fine_token_proj.weight.normal_()
        enc.fine_token_proj.bias.normal_()
    p = enc.encode_visual(memory, regions, times, mask_features=fine)
    # pixel (3, 5) is the centre of stride-2 cell (1, 2); (12, 20) of cell (5.5, 9.5) → 4 cells averaged
    torch.testing.assert_close(p.tokens[0, 1] - start.tokens[0, 1], enc.fine_token_proj(fine[1, :, 2, 1]))
    corner = fine[1, :, 9:11, 5:7].mean((1, 2))
    torch.testing.assert_close(p.tokens[0, 0] - start.tokens[0, 0], enc.fine_token_proj(corner))
    torch.testing.assert_close(p.pos, start.pos)
    with pytest.raises(ValueError, match="mask features"):
        enc.encode_visual(memory, regions, times)
    with pytest.raises(ValueError, match="mask_dim"):
        PromptEncoder(cfg, D, 4)


def test_text_and_class_tokens():
    enc = encoder()
    memory = torch.randn(50, D)
    tokens = torch.randn(2, 5, DT)
    mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    text = TextEmbeddings(tokens, mask, torch.randn(2, DT))
    p = enc.encode_text(text, memory)
    assert p.tokens.shape == (2, 6, D) and p.stream.tolist() == [STREAM_GROUNDING] * 2
    assert p.valid[1].tolist() == [True, True, True, False, False, False]
    torch.testing.assert_close(initial_query(p)[0], p.tokens[:, 0])
    assert torch.equal(p.sentence, text.sentence)
    assert (p.pos == 0).all()
    # padding tokens never change real ones (text tokens attend only to the image)
    noisy = enc.encode_text(TextEmbeddings(tokens + 5 * (~mask)[..., None], mask, text.sentence), memory)
    torch.testing.assert_close(noisy.tokens[1, :3], p.tokens[1, :3])
    # the image matters
    other = enc.encode_text(text, torch.randn(50, D))
    assert not torch.allclose(other.tokens, p.tokens)
    c = enc.encode_class_names(torch.randn(4, DT), memory)
    assert c.tokens.shape == (4, 1, D) and c.stream.tolist() == [STREAM_DETECTION] * 4
    torch.testing.assert_close(initial_query(c)[0], c.tokens[:, 0])


def test_cat_and_append_prompt_tokens():
    enc = encoder()
    memory = torch.randn(2, D, 4, 6)
    vis = enc.encode_visual(memory, sample_mask_prompt(torch.ones(2, 32, 48, dtype=torch.bool), 0, 7),
                            torch.tensor([0, 1]))
    text = enc.encode_text(TextEmbeddings(torch.randn(1, 3, DT), torch.ones(1, 3, dtype=torch.bool),
                                          torch.randn(1, DT)), torch.randn(9, D))
    both = cat_prompt_tokens([vis, text])
    assert both.tokens.shape == (3, 7, D) and both.stream.tolist() == [STREAM_VISUAL, STREAM_VISUAL, STREAM_GROUNDING]
    assert both.valid[2].tolist() == [True] * 4 + [False] * 3
    assert (both.sentence[:2] == 0).all() and torch.equal(both.sentence[2], text.sentence[0])
    content, _ = initial_query(both)
    torch.testing.assert_close(content[:2], initial_query(vis)[0])
    torch.testing.assert_close(content[2], text.tokens[0, 0])
    # memory pool: new tokens join each target's pool and its query mean
    new = enc.encode_visual(memory, sample_mask_prompt(torch.ones(3, 32, 48, dtype=torch.bool), 1, 5),
                            torch.tensor([0, 1]))
    pool = append_prompt_tokens(both, new)
    assert pool.tokens.shape == (3, 12, D) and pool.valid.sum(1).tolist() == [12, 12, 9]
    pooled = initial_query(pool)[0]
    torch.testing.assert_close(pooled[0], torch.cat([vis.tokens[0], new.tokens[0]]).mean(0))
    torch.testing.assert_close(pooled[2], torch.cat([text.tokens[0, :1], new.tokens[2]]).mean(0))


@pytest.mark.parametrize("k", [0, 2])
def test_empty_and_padded_regions(k):
    enc = encoder()
    regions = sample_mask_prompt(torch.zeros(k, 16, 16, dtype=torch.bool), 0, 4)
    p = enc.encode_visual(torch.randn(1, D, 2, 2), regions, torch.tensor([0]))
    assert p.tokens.shape == (k, 4, D) and not p.valid.any()
    assert (initial_query(p)[0] == 0).all()
