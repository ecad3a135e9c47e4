"""The class-name embedding table (official concept table): name matching, storage in the
checkpoint, and ``model.class_embeddings`` reading rows before running the text tower."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import univs
from convert_helpers import MERGES, official_state, requires_official, save_official, write_merges
from univs.checkpoint import read_checkpoint
from univs.convert import run_convert
from univs.errors import InputError
from univs.model.text_encoder import ClassEmbeddingTable, clean_category_text
from univs.model.text_regionclip import CLIPTextTransformer, TowerShape

# lines as the official combined_datasets.txt writes them
LINES = ["tench, Tinca tinca,", "person : a human being", "person", "giant_panda",
         '"dragonfly, darning needle, devils darning needle",', "", "crane (machine)"]


def test_official_cleaning_rule():
    assert clean_category_text("Giant_Panda (2)") == "giant panda "
    assert clean_category_text("sewing_machine :  a textile machine") == "sewing machine   a textile machine"
    assert clean_category_text("man-eater/shark's fin!") == "man eater sharks fin"


def test_names_match_whole_lines_first_then_leading_names():
    table = ClassEmbeddingTable(LINES, torch.arange(7.0)[:, None].expand(7, 4))
    assert table.rows(["person", "Tench", "giant panda", "Giant_Panda", "dragonfly", "crane (machine)",
                       "crane machine", "crane", "human being", "tinca"]) == [2, 0, 3, 3, 4, 6, 6, None, None, None]
    encoded = []

    def encode(missing):
        encoded.append(missing)
        return torch.full((len(missing), 4), -1.0)

    out = table.lookup(["tinca", "person", "dog"], encode)
    assert encoded == [["tinca", "dog"]]
    assert out[:, 0].tolist() == [-1.0, 2.0, -1.0]
    assert table.lookup(["person"], encode)[0, 0] == 2.0 and len(encoded) == 1

    def unavailable(missing):
        raise InputError("the 'regionclip' text encoder needs text.path")

    with pytest.raises(InputError, match="'dog' not in the class-embedding table.*needs text.path"):
        table.lookup(["person", "dog"], unavailable)
    with pytest.raises(InputError, match="one row per name"):
        ClassEmbeddingTable(LINES[:3], torch.zeros(4, 4))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """An official R50 checkpoint, a small RegionCLIP tower with 640-d output, merges, a table."""
    folder = tmp_path_factory.mktemp("official")
    official = save_official(folder / "univs_r50.pth", official_state("r50"))
    torch.manual_seed(0)
    tower = CLIPTextTransformer(TowerShape(vocab=512 + len(MERGES) + 2, context=77, width=64, layers=1, embed=640))
    with torch.no_grad():
        for p in tower.parameters():
            p.normal_(std=0.05)
    regionclip = folder / "regionclip_rn50x4.pth"
    torch.save({"model": {f"lang_encoder.{k}": v for k, v in tower.state_dict().items()}}, regionclip)
    table = torch.randn(len(LINES), 640)
    torch.save(table, folder / "concepts.pth")
    (folder / "concepts.txt").write_text("\n".join(LINES) + "\n")
    return {"official": official, "regionclip": regionclip, "bpe": write_merges(folder / "merges.txt", MERGES),
            "table": table, "folder": folder}


@requires_official
def test_converted_model_reads_the_table_then_the_tower(files, tmp_path):
    out = tmp_path / "r50.safetensors"
    lines = run_convert(files["official"], out, text_encoder=files["regionclip"], bpe=files["bpe"],
                        concept_embeddings=files["folder"] / "concepts.pth",
                        concept_names=files["folder"] / "concepts.txt", quiet=True)
    assert any(f"class-embedding table: {len(LINES)} names × 640" in line for line in lines)
    tower_file = tmp_path / "r50.text.safetensors"
    assert tower_file.is_file()

    model = univs.load(str(out))
    assert model.cfg.prompt_encoder.text.path == str(tower_file.resolve())
    assert model.class_table.names == LINES
    names = ["person", "a zebra", "giant panda"]
    features = model.class_embeddings(names)
    table = files["table"]
    assert torch.equal(features[0], table[2]) and torch.equal(features[2], table[3])
    torch.testing.assert_close(features[1], model.text_encoder.encode(["a zebra"]).sentence[0])

    # without the tower, names outside the table are an error that names them
    model.cfg.prompt_encoder.text.path = None
    model.text_encoder = None
    with pytest.raises(InputError, match="'a zebra' not in the class-embedding table.*needs text.path"):
        model.class_embeddings(names)
    assert torch.equal(model.class_embeddings(["person"])[0], table[2])


@requires_official
@pytest.mark.parametrize("fmt", ["npy", "safetensors", "json-names"])
def test_table_formats(files, tmp_path, fmt):
    table, names = files["table"], files["folder"] / "concepts.txt"
    if fmt == "npy":
        path = tmp_path / "concepts.npy"
        np.save(path, table.numpy())
    elif fmt == "safetensors":
        path = tmp_path / "concepts.safetensors"
        save_file({"embeddings": table}, str(path))
    else:
        path, names = files["folder"] / "concepts.pth", tmp_path / "names.json"
        names.write_text(json.dumps(LINES))
    out = tmp_path / "m.safetensors"
    run_convert(files["official"], out, concept_embeddings=path, concept_names=names, quiet=True)
    state, _, metadata = read_checkpoint(out)
    stored = ClassEmbeddingTable.from_checkpoint(state, metadata)
    assert stored.names == LINES and torch.equal(stored.embeddings, table)
    assert ClassEmbeddingTable.TENSOR_KEY not in state


@requires_official
def test_table_and_tower_errors(files, tmp_path):
    out = tmp_path / "m.safetensors"
    short = tmp_path / "short.txt"
    short.write_text("\n".join(LINES[:-1]) + "\n")
    with pytest.raises(InputError, match=f"{len(LINES) - 1} names for a table of {len(LINES)} rows"):
        run_convert(files["official"], out, concept_embeddings=files["folder"] / "concepts.pth",
                    concept_names=short, quiet=True)
    narrow = tmp_path / "narrow.pth"
    torch.save(torch.zeros(len(LINES), 512), narrow)
    with pytest.raises(InputError, match=r"\(N, 640\)"):
        run_convert(files["official"], out, concept_embeddings=narrow, concept_names=short, quiet=True)
    two = tmp_path / "two.safetensors"
    save_file({"a": torch.zeros(2, 640), "b": torch.zeros(2, 640)}, str(two))
    with pytest.raises(InputError, match="expected exactly one tensor"):
        run_convert(files["official"], out, concept_embeddings=two, concept_names=short, quiet=True)
    fewer = write_merges(tmp_path / "fewer.txt", MERGES[:-1])
    with pytest.raises(InputError, match="merges give 532 token ids but the text tower embeds 533"):
        run_convert(files["official"], out, text_encoder=files["regionclip"], bpe=fewer, quiet=True)
    assert not out.exists() and not (tmp_path / "m.text.safetensors").exists()
