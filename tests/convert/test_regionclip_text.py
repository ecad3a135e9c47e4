"""The official text side: CLIP BPE tokenizer, the RegionCLIP text tower (read from RegionCLIP's
checkpoint layout, checked against transformers' CLIP text model) and the ``regionclip`` encoder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from convert_helpers import MERGES, write_merges
from univs.config import TextEncoderConfig
from univs.convert.text import read_text_tower
from univs.errors import InputError
from univs.model.text_encoder import build_text_encoder, clean_category_text
from univs.model.text_regionclip import (
    PROMPT_TEMPLATES,
    CLIPTextTransformer,
    ClipBpeTokenizer,
    RegionCLIPTextEncoder,
    TowerShape,
    read_bpe_merges,
    save_text_tower,
)

STRINGS = ["a photo of the cat", "The man on the LEFT, riding a horse!!", "it's a dog's life; we've 12 cats",
           "héllo wörld — naïve café", "日本語のテキスト", "  many   spaces\tand\nnewlines ", "emoji 🐱🚗",
           "hyphen-ated words/slashes", "x² + ½ cup", "<|endoftext|> inside", "giant_panda", "don't stop"]


def test_byte_level_vocabulary_and_merges_by_hand():
    tok = ClipBpeTokenizer(MERGES)
    assert tok.vocab_size == 512 + len(MERGES) + 2 and (tok.sot, tok.eot) == (531, 532)
    # CLIP's base ids: printable bytes first, in order ('!' = 0, 'a' = 64), then the others ('Ġ' = space = 220)
    assert (tok.ids["!"], tok.ids["a"], tok.ids["a</w>"], tok.ids["Ġ"]) == (0, 64, 320, 220)
    assert tok.encode("A photo of THE cat") == [320, 512 + 8, 512 + 4, 512 + 1, 512 + 3]
    assert tok.encode("left's") == [512 + 18, 512 + 12]
    assert tok.encode("&amp;") == tok.encode("&")  # HTML entities resolved
    ids = tok.tokenize(["the cat", "cat " * 40], context=8)
    assert ids[0].tolist() == [531, 513, 515, 532, 0, 0, 0, 0]
    assert ids[1].tolist() == [531] + [515] * 7  # cut at the context: the end token is lost, as in CLIP


def test_tokenizer_matches_transformers_clip_tokenizer(tmp_path):
    transformers = pytest.importorskip("transformers")
    tok = ClipBpeTokenizer(MERGES)
    vocab = tmp_path / "vocab.json"
    vocab.write_text(json.dumps(tok.ids))
    reference = transformers.CLIPTokenizer(str(vocab), str(write_merges(tmp_path / "merges.txt", MERGES)))
    for text in STRINGS:
        assert tok.encode(text) == reference(text, add_special_tokens=False)["input_ids"], text


@pytest.mark.skipif(not os.environ.get("UNIVS_CLIP_BPE"),
                    reason="set UNIVS_CLIP_BPE to CLIP's bpe_simple_vocab_16e6.txt.gz to check the real ids")
def test_real_clip_merges():
    tok = ClipBpeTokenizer(read_bpe_merges(os.environ["UNIVS_CLIP_BPE"]))
    assert tok.vocab_size == 49408
    assert tok.tokenize(["a photo of a cat"], 77)[0, :8].tolist() == [49406, 320, 1125, 539, 320, 2368, 49407, 0]


def test_merges_file_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_bpe_merges(tmp_path / "none.txt.gz")
    bad = tmp_path / "bad.txt"
    bad.write_text("#version: 0.2\nt h\nthree symbols here\n")
    with pytest.raises(InputError, match="line 3 is not a merge"):
        read_bpe_merges(bad)
    assert read_bpe_merges(write_merges(tmp_path / "m.txt", MERGES)) == MERGES


SHAPE = TowerShape(vocab=512 + len(MERGES) + 2, context=77, width=128, layers=2, embed=96)


@pytest.fixture(scope="module")
def tower_state():
    torch.manual_seed(0)
    tower = CLIPTextTransformer(SHAPE)
    with torch.no_grad():
        for p in tower.parameters():
            p.normal_(std=0.05)
    return tower.state_dict()


def regionclip_checkpoint(path: Path, state, prefix: str = "lang_encoder.") -> Path:
    """RegionCLIP's layout: a detectron2 checkpoint, visual backbone beside the text tower."""
    model = {prefix + k: v for k, v in state.items()}
    model["backbone.layer1.0.conv1.weight"] = torch.zeros(8, 8, 1, 1)
    torch.save({"model": model, "iteration": 0}, path)
    return path


@pytest.fixture(scope="module")
def tower_file(tmp_path_factory, tower_state):
    folder = tmp_path_factory.mktemp("tower")
    tower = read_text_tower(regionclip_checkpoint(folder / "regionclip_rn50x4.pth", tower_state))
    assert (tower.shape, tower.prefix, tower.ignored) == (SHAPE, "lang_encoder.", 1)
    path = folder / "model.text.safetensors"
    save_text_tower(tower.state, MERGES, path)
    return path


def hf_reference(state, shape: TowerShape):
    """transformers' CLIP text model with the same weights (attention projections split)."""
    transformers = pytest.importorskip("transformers")
    cfg = transformers.CLIPTextConfig(vocab_size=shape.vocab, hidden_size=shape.width, intermediate_size=4 * shape.width,
                                      num_hidden_layers=shape.layers, num_attention_heads=shape.heads,
                                      max_position_embeddings=shape.context, hidden_act="quick_gelu",
                                      projection_dim=shape.embed, layer_norm_eps=1e-5, eos_token_id=shape.vocab - 1)
    model = transformers.CLIPTextModelWithProjection(cfg).eval()
    w = {"text_model.embeddings.token_embedding.weight": state["token_embedding.weight"],
         "text_model.embeddings.position_embedding.weight": state["positional_embedding"],
         "text_model.final_layer_norm.weight": state["ln_final.weight"],
         "text_model.final_layer_norm.bias": state["ln_final.bias"],
         "text_projection.weight": state["text_projection"].T}
    for i in range(shape.layers):
        ours, theirs = f"transformer.resblocks.{i}.", f"text_model.encoder.layers.{i}."
        for kind in ("weight", "bias"):
            for name, part in zip("qkv", state[ours + f"attn.in_proj_{kind}"].chunk(3)):
                w[theirs + f"self_attn.{name}_proj.{kind}"] = part
            w[theirs + f"self_attn.out_proj.{kind}"] = state[ours + f"attn.out_proj.{kind}"]
            w[theirs + f"layer_norm1.{kind}"] = state[ours + f"ln_1.{kind}"]
            w[theirs + f"layer_norm2.{kind}"] = state[ours + f"ln_2.{kind}"]
            w[theirs + f"mlp.fc1.{kind}"] = state[ours + f"mlp.c_fc.{kind}"]
            w[theirs + f"mlp.fc2.{kind}"] = state[ours + f"mlp.c_proj.{kind}"]
    model.load_state_dict(w)
    return model


def test_encoder_features_match_transformers_clip(tower_file, tower_state):
    texts = ["person", "the man on the LEFT riding a horse", "giant_panda"]
    out = RegionCLIPTextEncoder(tower_file).encode(texts)
    assert out.tokens.shape == (3, 77, 96) and out.sentence.shape == (3, 96)
    assert out.token_mask.all() and out.token_mask.shape == (3, 77)

    reference, tok = hf_reference(tower_state, SHAPE), ClipBpeTokenizer(MERGES)
    for i, text in enumerate(texts):
        ids = tok.tokenize([t.replace("{}", clean_category_text(text)) for t in PROMPT_TEMPLATES], 77)
        with torch.no_grad():
            hf = reference(input_ids=ids)
            words = reference.text_projection(hf.last_hidden_state[0])
        torch.testing.assert_close(out.sentence[i], hf.text_embeds.mean(0), atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(out.tokens[i], words, atol=1e-5, rtol=1e-4)


def test_encoder_is_deterministic_and_builds_from_config(tower_file, tmp_path):
    first = RegionCLIPTextEncoder(tower_file).encode(["a red car", "dog"])
    cfg = TextEncoderConfig(name="regionclip", path=str(tower_file), dim=96, cache_dir=str(tmp_path))
    again = build_text_encoder(cfg).encode(["dog", "a red car"])
    torch.testing.assert_close(again.sentence, first.sentence.flip(0), atol=0, rtol=0)
    torch.testing.assert_close(again.tokens, first.tokens.flip(0), atol=0, rtol=0)
    assert len(list((tmp_path / "regionclip-model.text").glob("*.safetensors"))) == 2
    # different texts, different features; the cleaning rule makes '_' and ' ' the same
    assert not torch.allclose(first.sentence[0], first.sentence[1])
    same = RegionCLIPTextEncoder(tower_file).encode(["giant_panda", "Giant panda"])
    torch.testing.assert_close(same.sentence[0], same.sentence[1], atol=0, rtol=0)


@pytest.mark.parametrize("prefix", ["", "backbone.lang_encoder."])
def test_tower_prefixes(tmp_path, tower_state, prefix):
    tower = read_text_tower(regionclip_checkpoint(tmp_path / "t.pth", tower_state, prefix))
    assert tower.prefix == prefix and tower.shape == SHAPE
    assert all(torch.equal(tower.state[k], v) for k, v in tower_state.items())


def test_tower_errors(tmp_path, tower_state):
    two = {**{f"lang_encoder.{k}": v for k, v in tower_state.items()},
           **{f"teacher.lang_encoder.{k}": v for k, v in tower_state.items()}}
    torch.save({"model": two}, tmp_path / "two.pth")
    with pytest.raises(InputError, match="text towers under 'lang_encoder.', 'teacher.lang_encoder.'"):
        read_text_tower(tmp_path / "two.pth")
    torch.save({"model": {"backbone.conv1.weight": torch.zeros(1)}}, tmp_path / "none.pth")
    with pytest.raises(InputError, match="no text tower"):
        read_text_tower(tmp_path / "none.pth")
    gone = "transformer.resblocks.1.mlp.c_fc.bias"
    partial = {k: v for k, v in tower_state.items() if k != gone}
    with pytest.raises(InputError, match=f"1 missing: lang_encoder.{gone}"):
        read_text_tower(regionclip_checkpoint(tmp_path / "partial.pth", partial))


def test_encoder_file_errors(tmp_path, tower_file):
    with pytest.raises(InputError, match="needs text.path"):
        RegionCLIPTextEncoder(None)
    with pytest.raises(InputError, match="text-tower file not found"):
        RegionCLIPTextEncoder(tmp_path / "missing.text.safetensors")
    with pytest.raises(InputError, match="gives 96-d features"):
        build_text_encoder(TextEncoderConfig(name="regionclip", path=str(tower_file), dim=640))
    plain = tmp_path / "plain.safetensors"
    plain.write_bytes(tower_file.read_bytes()[:100])
    with pytest.raises(InputError, match="not a readable safetensors text-tower file"):
        RegionCLIPTextEncoder(plain)
