"""Unified video mask decoder on random image features (univs.model.decoder)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from univs.config import DecoderConfig, PromptEncoderConfig, TextEncoderConfig
from univs.model.attention import CrossAttentionLayer
from univs.model.decoder import VideoMaskDecoder, attention_mask
from univs.model.prompt_encoder import PromptEncoder, cat_prompt_tokens, click_prompt, sample_mask_prompt
from univs.model.text_encoder import TextEmbeddings
from univs.model.types import ImageFeatures, PromptTokens

D, DT, H, W = 32, 24, 64, 96
CFG = DecoderConfig(hidden_dim=D, nheads=4, dim_feedforward=64, dec_layers=4, num_queries=6)


@pytest.fixture(scope="module")
def parts():
    torch.manual_seed(0)
    decoder = VideoMaskDecoder(CFG, mask_dim=D, text_dim=DT).eval()
    prompts = PromptEncoder(PromptEncoderConfig(text=TextEncoderConfig(dim=DT), negative_point_embedding=True),
                            D, 4).eval()
    return decoder, prompts


def features(n: int, seed: int = 0) -> ImageFeatures:
    g = torch.Generator().manual_seed(seed)
    return ImageFeatures(torch.randn(n, D, H // 4, W // 4, generator=g),
                         [torch.randn(n, D, H // s, W // s, generator=g) for s in (32, 16, 8)])


def clip_prompts(parts, feats: ImageFeatures, b: int, t: int, k_visual: int, text: bool, classes: int,
                 seed: int = 0) -> PromptTokens | None:
    """Visual (masks + clicks with a negative), text and class-name targets of clip b."""
    decoder, enc = parts
    g = torch.Generator().manual_seed(seed)
    clip = feats.select(slice(b * t, (b + 1) * t))
    times = torch.arange(t)
    items = []
    if k_visual:
        masks = torch.rand(k_visual, H, W, generator=g) > 0.7
        items.append(enc.encode_visual(decoder.level_map(clip, 2), sample_mask_prompt(masks, 0, 8, g), times))
        clicks = click_prompt(torch.tensor([[[10.0, 12.0], [40.0, 30.0]]]), torch.tensor([[1, 0]]), t - 1)
        items.append(enc.encode_visual(decoder.level_map(clip, 2), clicks, times))
    memory = torch.cat([decoder.level_map(clip, i).flatten(2).transpose(1, 2).reshape(-1, D) for i in range(3)])
    if text:
        items.append(enc.encode_text(TextEmbeddings(torch.randn(2, 5, DT, generator=g),
                                                    torch.ones(2, 5, dtype=torch.bool),
                                                    torch.randn(2, DT, generator=g)), memory))
    if classes:
        items.append(enc.encode_class_names(torch.randn(classes, DT, generator=g), memory))
    return cat_prompt_tokens(items) if items else None


@pytest.mark.parametrize("t", [1, 3])
@pytest.mark.parametrize("mode", ["sep", "sep-blocked"])
def test_shapes_every_prompt_kind(parts, t, mode):
    decoder = parts[0]
    b = 3
    feats = features(b * t)
    prompts = [clip_prompts(parts, feats, 0, t, 2, True, 2), None, clip_prompts(parts, feats, 2, t, 0, False, 1)]
    vocab = torch.randn(5, DT)
    with torch.no_grad():
        out = decoder(feats, t, prompts, vocab, torch.arange(t).expand(b, t) + 10, self_attn_mode=mode)
    assert len(out.learnable) == len(out.prompt) == CFG.dec_layers + 1
    k = 2 + 1 + 2 + 2  # masks, clicks, expressions, class names
    for pred, q in ((out.learnable[-1], CFG.num_queries), (out.prompt[-1], k)):
        assert pred.mask_logits.shape == (b, q, t, H // 4, W // 4)
        assert pred.class_logits.shape == (b, q, 5)
        assert pred.reid.shape == (b, q, t, D)
        torch.testing.assert_close(pred.reid.norm(dim=-1), torch.ones(b, q, t))
    assert out.learnable[-1].expr_scores is None and out.prompt[-1].expr_scores.shape == (b, k)
    assert out.prompt_valid.tolist() == [[True] * k, [False] * k, [True] + [False] * (k - 1)]
    assert out.query_embeds.shape == (b, k, t, D)
    assert torch.isfinite(out.prompt[-1].mask_logits).all()
    assert out.reid_temperature.shape == () and abs(float(out.reid_temperature) - 0.07) < 1e-6


def test_no_prompts_no_vocabulary(parts):
    decoder = parts[0]
    with torch.no_grad():
        out = decoder(features(4), 2, [None, None], None)
    assert out.learnable[0].class_logits is None
    assert out.prompt[-1].mask_logits.shape == (2, 0, 2, H // 4, W // 4)
    assert out.prompt[-1].reid.shape == (2, 0, 2, D) and out.prompt_valid.shape == (2, 0)


def test_streams_are_separated_bit_for_bit(parts):
    """Sep-SA and ProCA keep the streams apart: one stream's inputs never touch the other."""
    decoder = parts[0]
    t, feats = 2, features(2)
    a = clip_prompts(parts, feats, 0, t, 2, True, 1, seed=1)
    b = clip_prompts(parts, feats, 0, t, 3, False, 2, seed=2)  # other prompts, other K
    with torch.no_grad():
        out_a = decoder(feats, t, [a], torch.randn(4, DT, generator=torch.Generator().manual_seed(5)))
        out_b = decoder(feats, t, [b], torch.randn(4, DT, generator=torch.Generator().manual_seed(5)))
        out_none = decoder(feats, t, [None], torch.randn(4, DT, generator=torch.Generator().manual_seed(5)))
    for pa, pb, pn in zip(out_a.learnable, out_b.learnable, out_none.learnable):
        assert torch.equal(pa.mask_logits, pb.mask_logits) and torch.equal(pa.mask_logits, pn.mask_logits)
        assert torch.equal(pa.class_logits, pb.class_logits) and torch.equal(pa.reid, pb.reid)
    # the reverse: other learnable queries leave the prompt stream untouched
    other = VideoMaskDecoder(CFG, mask_dim=D, text_dim=DT).eval()
    other.load_state_dict(decoder.state_dict())
    with torch.no_grad():
        other.query_feat.weight.add_(1.0)
        other.query_embed.weight.mul_(-1.0)
        out_c = other(feats, t, [a], torch.randn(4, DT, generator=torch.Generator().manual_seed(5)))
    assert not torch.equal(out_c.learnable[-1].mask_logits, out_a.learnable[-1].mask_logits)
    for pa, pc in zip(out_a.prompt, out_c.prompt):
        assert torch.equal(pa.mask_logits, pc.mask_logits) and torch.equal(pa.reid, pc.reid)
        assert torch.equal(pa.class_logits, pc.class_logits) and torch.equal(pa.expr_scores, pc.expr_scores)


def test_sep_blocked_isolates_prompt_targets(parts):
    decoder, enc = parts
    t, feats = 2, features(2)
    times = torch.arange(t)
    memory = decoder.level_map(feats, 2)
    masks = torch.zeros(2, H, W, dtype=torch.bool)
    masks[0, 5:30, 5:40] = True
    masks[1, 30:60, 50:90] = True
    first = enc.encode_visual(memory, sample_mask_prompt(masks, 0, 16, torch.Generator().manual_seed(0)), times)
    moved = masks.clone()
    moved[1] = False
    moved[1, 0:20, 60:95] = True
    second = enc.encode_visual(memory, sample_mask_prompt(moved, 0, 16, torch.Generator().manual_seed(0)), times)
    assert torch.equal(first.tokens[0], second.tokens[0]) and not torch.equal(first.tokens[1], second.tokens[1])
    with torch.no_grad():
        blocked = [decoder(feats, t, [p], None, self_attn_mode="sep-blocked").prompt[-1].mask_logits
                   for p in (first, second)]
        shared = [decoder(feats, t, [p], None, self_attn_mode="sep").prompt[-1].mask_logits for p in (first, second)]
    assert torch.equal(blocked[0][:, 0], blocked[1][:, 0])
    assert not torch.allclose(shared[0][:, 0], shared[1][:, 0])


def test_padding_targets_do_not_leak(parts):
    """A clip's predictions do not depend on how many targets another clip of the batch has."""
    decoder = parts[0]
    t, feats = 2, features(4)
    small = clip_prompts(parts, feats, 0, t, 1, False, 0)
    big = clip_prompts(parts, feats, 1, t, 3, True, 2)
    with torch.no_grad():
        alone = decoder(feats.select(slice(0, 2)), t, [small], None).prompt[-1].mask_logits
        batched = decoder(feats, t, [small, big], None).prompt[-1].mask_logits
    k = small.num_targets
    torch.testing.assert_close(batched[0, :k], alone[0], atol=1e-4, rtol=1e-4)


def test_masked_attention_rule_small_case():
    """A query with an empty mask attends everywhere; one with a mask only inside it."""
    torch.manual_seed(0)
    heads, h, w = 2, 4, 6
    logits = torch.full((1, 3, 1, 2 * h, 2 * w), -5.0)  # (B, Q, T, H4, W4), level at half size
    logits[0, 1, 0, 2:6, 4:10] = 5.0  # query 1: level cells rows 1..2, cols 2..4
    logits[0, 2, 0, :, :2] = 5.0  # query 2: level column 0
    mask = attention_mask(logits, (h, w), heads)
    assert mask.shape == (heads, 3, h * w)
    inside = torch.zeros(h, w, dtype=torch.bool)
    inside[1:3, 2:5] = True
    assert not mask[:, 0].any()
    assert torch.equal(mask[0, 1], ~inside.flatten())
    layer = CrossAttentionLayer(8, heads).eval()
    reference = nn.MultiheadAttention(8, heads, batch_first=True).eval()  # same parameter names
    reference.load_state_dict(layer.multihead_attn.state_dict())
    tgt, memory = torch.randn(1, 3, 8), torch.randn(1, h * w, 8)
    expected, weights = reference(tgt, memory, memory, attn_mask=mask, need_weights=True)
    torch.testing.assert_close(layer(tgt, memory, attn_mask=mask), layer.norm(tgt + expected))
    weights = weights[0].reshape(3, h, w)
    assert (weights[0] > 0).all()
    assert (weights[1][~inside] == 0).all() and (weights[1][inside] > 0).all()
    torch.testing.assert_close(weights[1].sum(), torch.tensor(1.0))
    assert (weights[2][:, 1:] == 0).all() and (weights[2][:, 0] > 0).all()


def test_decoder_feeds_previous_masks_to_cross_attention(parts):
    """The mask given to layer i's cross-attention is the rule applied to head i's prediction."""
    decoder = parts[0]
    t, feats = 2, features(2)
    prompts = [clip_prompts(parts, feats, 0, t, 2, False, 0)]
    seen = []

    def spy(module, args, kwargs):
        seen.append(kwargs["attn_mask"])

    hooks = [decoder.transformer_cross_attention_layers[i].multihead_attn.register_forward_pre_hook(
        spy, with_kwargs=True) for i in range(2)]
    try:
        with torch.no_grad():
            out = decoder(feats, t, prompts, None)
    finally:
        for hook in hooks:
            hook.remove()
    # calls: layer 0 learnable, layer 0 prompt, layer 1 learnable, layer 1 prompt
    sizes = [tuple(x.shape[-2:]) for x in feats.multi_scale]
    assert torch.equal(seen[0], attention_mask(out.learnable[0].mask_logits, sizes[0], CFG.nheads))
    assert torch.equal(seen[1], attention_mask(out.prompt[0].mask_logits, sizes[0], CFG.nheads))
    assert torch.equal(seen[3], attention_mask(out.prompt[1].mask_logits, sizes[1], CFG.nheads))
    assert seen[3].any()  # some cells are really blocked


def test_open_vocabulary(parts):
    decoder = parts[0]
    t, feats = 2, features(2)
    prompts = [clip_prompts(parts, feats, 0, t, 2, False, 0)]
    names = torch.randn(50, DT, generator=torch.Generator().manual_seed(3))
    perm = torch.randperm(50, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        big = decoder(feats, t, prompts, names)
        small = decoder(feats, t, prompts, names[[7, 3, 41]])
        permuted = decoder(feats, t, prompts, names[perm])
    for stream in ("learnable", "prompt"):
        full = getattr(big, stream)[-1].class_logits
        assert full.shape[-1] == 50 and getattr(small, stream)[-1].class_logits.shape[-1] == 3
        torch.testing.assert_close(getattr(small, stream)[-1].class_logits, full[..., [7, 3, 41]])
        torch.testing.assert_close(getattr(permuted, stream)[-1].class_logits, full[..., perm])
        assert full.abs().max() <= decoder.cls_temp.weight.exp().item() + 1e-4


def test_bf16_autocast_runs(parts):
    decoder = parts[0]
    t, feats = 2, features(2)
    prompts = [clip_prompts(parts, feats, 0, t, 1, True, 1)]
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = decoder(feats, t, prompts, torch.randn(4, DT))
    assert torch.isfinite(out.prompt[-1].mask_logits.float()).all()
    assert torch.isfinite(out.learnable[-1].class_logits.float()).all()


def test_unknown_self_attention_mode(parts):
    from univs.errors import InputError

    with pytest.raises(InputError, match="sep-blocked"):
        parts[0](features(1), 1, [None], None, self_attn_mode="all")
    with pytest.raises(InputError):
        VideoMaskDecoder(dataclasses.replace(CFG, self_attn_mode="none"), D, DT)
