"""The whole UniVS model: official structure, API on every prompt kind, gradients."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
import torch

from univs.config import model_preset
from univs.model import UniVS, build_model, parameter_counts
from univs.model.prompt_encoder import cat_regions, click_prompt, sample_box_prompt, sample_mask_prompt
from univs.model.types import ClipPrompts

OFFICIAL = json.loads((Path(__file__).parent / "data" / "official_predictor.json").read_text())["tensors"]
OFFICIAL_PRESETS = ("r50", "swin_t", "swin_b", "swin_l")
VOCAB = ["person", "car", "dog", "sky"]


def predictor_shapes(model: UniVS) -> dict[str, tuple[int, ...]]:
    """Our predictor-side parameters under their official names (prefix stripped)."""
    shapes = {}
    for name, p in model.named_parameters():
        module, _, rest = name.partition(".")
        if module in ("decoder", "prompt_encoder"):
            assert rest not in shapes, f"two tensors map to {rest}"
            shapes[rest] = tuple(p.shape)
    return shapes


@pytest.mark.parametrize("preset", OFFICIAL_PRESETS)
def test_official_predictor_structure(preset, capsys):
    with torch.device("meta"):
        model = build_model(model_preset(preset))
    assert f"univs model {preset}" in capsys.readouterr().err
    ours = predictor_shapes(model)
    assert ours == {k: tuple(v) for k, v in OFFICIAL.items()}
    assert parameter_counts(model)["predictor"] == sum(math.prod(v) for v in OFFICIAL.values()) == 17_477_250


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    model = build_model(model_preset("tiny"), verbose=False)
    return model


def test_tiny_checkpoint_is_small_and_holds_no_text_encoder(tiny):
    before = set(tiny.state_dict())
    tiny.class_embeddings(["person"])  # builds (loads) the frozen text encoder
    state = tiny.state_dict()
    assert set(state) == before and not any("word_embeddings" in k for k in state)
    assert all(p.requires_grad is False for p in tiny.text_encoder.encoder._model.parameters())
    size = sum(t.numel() * t.element_size() for t in state.values())
    assert size <= 25e6, size
    assert "negative_point_embed.weight" in "".join(state)  # tiny turns the extension on
    assert all(k.startswith(("backbone.", "pixel_decoder.", "prompt_encoder.", "decoder.")) for k in state)


def test_encode_frames_pads_to_32(tiny):
    images = torch.rand(3, 3, 70, 100) * 255
    with torch.no_grad():
        feats = tiny.encode_frames(images)
    assert feats.mask_features.shape == (3, 128, 96 // 4, 128 // 4)
    assert [tuple(f.shape[-2:]) for f in feats.multi_scale] == [(3, 4), (6, 8), (12, 16)]


def all_kinds(t: int, h: int, w: int) -> ClipPrompts:
    """Every prompt kind in one clip: mask, box, clicks (with a negative), scribble, text, class."""
    masks = torch.zeros(1, h, w, dtype=torch.bool)
    masks[0, 10:40, 20:60] = True
    scribble = torch.zeros(1, h, w, dtype=torch.bool)
    scribble[0, 30, 10:70] = True
    regions = cat_regions([
        sample_mask_prompt(masks, 0, 16),
        sample_box_prompt(torch.tensor([[5.0, 5.0, 50.0, 40.0]]), t - 1, 16),
        click_prompt(torch.tensor([[[30.0, 20.0], [80.0, 50.0]]]), torch.tensor([[1, 0]]), 0),
        sample_mask_prompt(scribble, t - 1, 16),
    ])
    return ClipPrompts(regions=regions, texts=["the dog on the left"], class_ids=torch.tensor([2, 0]))


@pytest.mark.parametrize("t", [1, 2])
def test_forward_every_prompt_kind(tiny, t):
    h, w = 64, 96
    images = torch.rand(2, t, 3, h, w) * 255
    prompts = [all_kinds(t, h, w), ClipPrompts()]
    with torch.no_grad():
        out = tiny(images, prompts, VOCAB, frame_times=torch.tensor([[3, 4][:t], [0, 9][:t]]))
    q, k = tiny.cfg.decoder.num_queries, 4 + 1 + 2
    assert len(out.learnable) == tiny.cfg.decoder.dec_layers + 1
    assert out.learnable[-1].mask_logits.shape == (2, q, t, h // 4, w // 4)
    assert out.prompt[-1].mask_logits.shape == (2, k, t, h // 4, w // 4)
    assert out.prompt[-1].class_logits.shape == (2, k, len(VOCAB))
    assert out.prompt[-1].expr_scores.shape == (2, k)
    assert out.prompt_valid.tolist() == [[True] * k, [False] * k]


TASK_PROMPTS = {
    # category-guided: learnable queries detect; detections may come back as class-name prompts
    "vis": lambda t, h, w: (ClipPrompts(class_ids=torch.tensor([0, 1])), VOCAB, None),
    "vss": lambda t, h, w: (ClipPrompts(), VOCAB, None),
    "vps": lambda t, h, w: (ClipPrompts(regions=sample_mask_prompt(torch.ones(2, h, w, dtype=torch.bool), 0, 8)),
                            VOCAB, None),
    # prompt-guided
    "vos": lambda t, h, w: (ClipPrompts(regions=sample_box_prompt(torch.tensor([[1.0, 2.0, 30.0, 40.0]]), 0, 32)),
                            None, None),
    "pvos": lambda t, h, w: (ClipPrompts(regions=click_prompt(torch.tensor([[[5.0, 5.0]], [[50.0, 30.0]]]),
                                                              torch.ones(2, 1, dtype=torch.long), 0)), None, None),
    "refvos": lambda t, h, w: (ClipPrompts(texts=["the red circle", "a star moving left"]), None, "sep-blocked"),
}


@pytest.mark.parametrize("t", [1, 3])
@pytest.mark.parametrize("task", sorted(TASK_PROMPTS))
def test_every_task_shapes(tiny, task, t):
    h, w = 64, 64
    prompts, vocab, mode = TASK_PROMPTS[task](t, h, w)
    images = torch.rand(2, t, 3, h, w) * 255
    with torch.no_grad():
        out = tiny(images, [prompts, ClipPrompts()], vocab, self_attn_mode=mode)
    k = out.prompt_valid.shape[1]
    assert out.prompt_valid[1].sum() == 0 and out.prompt_valid[0].sum() == k
    for stream, q in ((out.learnable, tiny.cfg.decoder.num_queries), (out.prompt, k)):
        for pred in stream:
            assert pred.mask_logits.shape == (2, q, t, h // 4, w // 4)
            assert pred.reid.shape == (2, q, t, tiny.cfg.decoder.hidden_dim)
            assert (pred.class_logits is None) == (vocab is None)
            if vocab is not None:
                assert pred.class_logits.shape == (2, q, len(vocab))
    assert (out.prompt[-1].expr_scores is not None) == (task == "refvos")


def test_memory_pool_from_predicted_mask(tiny):
    """A predicted mask feeds the visual sampler; its tokens join the target's pool."""
    from univs.model.prompt_encoder import append_prompt_tokens

    h, w = 64, 96
    images = torch.rand(2, 3, h, w) * 255
    with torch.no_grad():
        feats = tiny.encode_frames(images)
        times = torch.tensor([0, 1])
        pool = tiny.encode_visual_prompts(feats, sample_mask_prompt(torch.ones(1, h, w, dtype=torch.bool), 0, 8), times)
        out = tiny.decode(feats.select([0]), 1, [pool], None, times[None, :1])
        pred = torch.nn.functional.interpolate(out.prompt[-1].mask_logits[:, :, 0], size=(h, w)) > 0
        new = tiny.encode_visual_prompts(feats, sample_mask_prompt(pred[0] | ~pred[0], 1, 8), times)
        pool = append_prompt_tokens(pool, new)
        later = tiny.decode(feats.select([1]), 1, [pool], None, times[None, 1:])
    assert pool.tokens.shape[:2] == (1, 16)
    assert later.prompt[-1].mask_logits.shape == (1, 1, 1, h // 4, w // 4)


def test_gradients_reach_every_trainable_parameter(tiny):
    h, w, t = 64, 64, 2
    tiny = copy.deepcopy(tiny).train()
    with torch.no_grad():  # zero-initialised weights (e.g. deformable offsets) block gradients at init only
        for p in tiny.parameters():
            if p.requires_grad and not p.any():
                p.normal_(std=1e-2)
    images = torch.rand(1, t, 3, h, w) * 255
    regular = tiny(images, [all_kinds(t, h, w)], VOCAB)
    blocked = tiny(images, [ClipPrompts(texts=["a red car"])], VOCAB, self_attn_mode="sep-blocked")
    loss = torch.zeros(())
    for out in (regular, blocked):
        for stream in (out.learnable, out.prompt):
            for pred in stream:
                loss = loss + pred.mask_logits.mean() + pred.class_logits.mean() + pred.reid.sum(-1).mean()
                if pred.expr_scores is not None:
                    loss = loss + pred.expr_scores.mean()
        loss = loss + out.reid_temperature
    loss.backward()
    trainable = {n: p for n, p in tiny.named_parameters() if p.requires_grad}
    missing = [n for n, p in trainable.items() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, missing
    frozen = [n for n, p in tiny.named_parameters() if not p.requires_grad]
    assert all(tiny.get_parameter(n).grad is None for n in frozen)
    assert all(not b.requires_grad for b in tiny.buffers())  # frozen BN statistics
    encoder = tiny.text_encoder.encoder
    assert all(not p.requires_grad and p.grad is None for p in encoder._model.parameters())


def test_bf16_autocast_forward(tiny):
    h, w, t = 64, 64, 2
    images = torch.rand(1, t, 3, h, w) * 255
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = tiny(images, [all_kinds(t, h, w)], VOCAB)
    for pred in (out.learnable[-1], out.prompt[-1]):
        assert torch.isfinite(pred.mask_logits.float()).all() and torch.isfinite(pred.class_logits.float()).all()
