"""Bad official checkpoints fail with one clear message that names the file and the keys, and
nothing is written."""

from __future__ import annotations

import argparse
import zipfile

import pytest
import torch
from safetensors.torch import save_file

from convert_helpers import official_state, requires_official, save_official
from univs.cli import main
from univs.convert import run_convert
from univs.convert.official import LANG2VISION
from univs.errors import InputError

pytestmark = requires_official

QUERY = "sem_seg_head.predictor.query_feat.weight"


@pytest.fixture(scope="module")
def r50():
    return official_state("r50")


def refused(tmp_path, state_or_file, match: str, **kwargs) -> str:
    """Convert and expect an InputError matching ``match`` that names the file; nothing written."""
    path = state_or_file if not isinstance(state_or_file, dict) else save_official(tmp_path / "bad.pth", state_or_file)
    out = tmp_path / "out.safetensors"
    with pytest.raises(InputError, match=match) as err:
        run_convert(path, out, quiet=True, **kwargs)
    assert str(path) in str(err.value)
    assert not out.exists() and not (tmp_path / "out.text.safetensors").exists()
    return str(err.value)


def test_extra_key_outside_the_model(tmp_path, r50):
    message = refused(tmp_path, {**r50, "criterion.empty_weight": torch.ones(3)}, "not an official UniVS checkpoint")
    assert "criterion.empty_weight" in message


def test_extra_predictor_key_is_not_dropped(tmp_path, r50):
    extra = "sem_seg_head.predictor.class_embed.weight"
    message = refused(tmp_path, {**r50, extra: torch.ones(41, 256)}, "1 unexpected")
    assert extra in message


def test_missing_key(tmp_path, r50):
    state = {k: v for k, v in r50.items() if k != QUERY}
    assert f"1 missing: {QUERY}" in refused(tmp_path, state, "missing")


def test_part_of_the_lang2vision_layer_missing(tmp_path, r50):
    gone = LANG2VISION + "norm.weight"
    state = {k: v for k, v in r50.items() if k != gone}
    assert f"1 missing: {gone}" in refused(tmp_path, state, "missing")


def test_wrong_shape(tmp_path, r50):
    state = {**r50, QUERY: torch.zeros(100, 256)}
    assert f"{QUERY} (100, 256) (expected (200, 256))" in refused(tmp_path, state, "wrong shape")


def test_every_problem_is_listed_at_once(tmp_path, r50):
    state = {k: v for k, v in r50.items() if k != "backbone.res5.2.conv3.weight"}
    state["sem_seg_head.predictor.mask_embed.layers.3.weight"] = torch.zeros(256, 256)
    state["sem_seg_head.predictor.level_embed.weight"] = torch.zeros(4, 256)
    message = refused(tmp_path, state, "unexpected")
    for part in ("1 unexpected: sem_seg_head.predictor.mask_embed.layers.3.weight",
                 "1 missing: backbone.res5.2.conv3.weight",
                 "1 of the wrong shape: sem_seg_head.predictor.level_embed.weight (4, 256) (expected (3, 256))"):
        assert part in message


def test_preset_that_does_not_fit(tmp_path, r50):
    message = refused(tmp_path, r50, "does not fit the swin_t model", preset="swin_t")
    # R50's 626 tensors against Swin-T's 550: the 361 of the pixel decoder and predictor are shared
    assert "265 unexpected: backbone.res2.0.conv1.norm.bias" in message
    assert "189 missing: backbone.layers.0.blocks.0.attn.proj.bias" in message
    assert "4 of the wrong shape: sem_seg_head.pixel_decoder.adapter_1.weight (256, 256, 1, 1) (expected (256, 96, 1, 1))" in message


def test_unknown_backbone_asks_for_a_preset(tmp_path, r50):
    state = {k: v for k, v in r50.items() if k != "backbone.stem.conv1.weight"}
    refused(tmp_path, state, "--preset")


def test_truncated_file(tmp_path, r50):
    whole = save_official(tmp_path / "whole.pth", r50).read_bytes()
    cut = tmp_path / "truncated.pth"
    cut.write_bytes(whole[: len(whole) // 2])
    refused(tmp_path, cut, "not a readable PyTorch checkpoint")


@pytest.mark.parametrize("kind", ["safetensors", "disguised-safetensors", "zip", "text", "tensor", "foreign-state-dict", "unsafe-pickle"])
def test_foreign_files(tmp_path, kind):
    path = tmp_path / f"foreign.{kind}"
    if kind == "safetensors":
        save_file({"conv1.weight": torch.zeros(64, 3, 7, 7)}, str(path.with_suffix(".safetensors")))
        path = path.with_suffix(".safetensors")
        match = "tensors outside backbone.*, sem_seg_head.*: conv1.weight"
    elif kind == "disguised-safetensors":
        save_file({"backbone.stem.conv1.weight": torch.zeros(64, 3, 7, 7)}, str(path))
        match = "not a readable PyTorch checkpoint"
    elif kind == "zip":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("readme.txt", "no tensors here")
        match = "not a readable PyTorch checkpoint"
    elif kind == "text":
        path.write_text("MODEL:\n  WEIGHTS: x.pth\n")
        match = "not a readable PyTorch checkpoint"
    elif kind == "tensor":
        torch.save(torch.zeros(3), path)
        match = "holds a Tensor, not a state dict"
    elif kind == "foreign-state-dict":
        torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7), "fc.bias": torch.zeros(1000)}, path)
        match = "tensors outside backbone.*, sem_seg_head.*: conv1.weight, fc.bias"
    else:
        torch.save({"model": {"backbone.stem.conv1.weight": torch.zeros(1)}, "cfg": argparse.Namespace(a=1)}, path)
        match = "safe loading refuses"
    refused(tmp_path, path, match)


def test_output_must_be_safetensors_and_text_files_go_together(tmp_path, r50):
    path = save_official(tmp_path / "ok.pth", r50)
    with pytest.raises(InputError, match="NAME.safetensors"):
        run_convert(path, tmp_path / "out.pth", quiet=True)
    with pytest.raises(InputError, match="--text-encoder and --bpe go together"):
        run_convert(path, tmp_path / "out.safetensors", text_encoder=path, quiet=True)
    with pytest.raises(InputError, match="--concept-embeddings and --concept-names go together"):
        run_convert(path, tmp_path / "out.safetensors", concept_names=path, quiet=True)
    assert not (tmp_path / "out.safetensors").exists()


def test_cli_reports_one_line_and_exit_code_2(tmp_path, r50, capsys):
    state = {k: v for k, v in r50.items() if k != QUERY}
    path = save_official(tmp_path / "bad.pth", state)
    assert main(["convert", str(path), str(tmp_path / "out.safetensors")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("univs convert: error: ")
    assert str(path) in err and QUERY in err
    missing = tmp_path / "nope.pth"
    assert main(["convert", str(missing), str(tmp_path / "out.safetensors")]) == 2
    assert f"{missing}: file not found" in capsys.readouterr().err
