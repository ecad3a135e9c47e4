"""``univs convert``: an official UniVS checkpoint (and optionally its text side) → a univs
checkpoint that ``univs.load`` and ``univs segment --checkpoint`` accept."""

from __future__ import annotations

import json
from pathlib import Path

from univs.checkpoint import save_checkpoint
from univs.config import model_preset
from univs.convert.official import Conversion, convert_checkpoint
from univs.convert.text import TextTower, read_concept_table, read_text_tower
from univs.errors import InputError
from univs.model.text_encoder import ClassEmbeddingTable
from univs.model.text_regionclip import ClipBpeTokenizer, read_bpe_merges, save_text_tower

CONVERSION_KEY = "univs_conversion"
"""Checkpoint metadata entry describing the conversion (JSON): source file, preset, student or
teacher weights, tensors kept at their initial values, and whether text prompts are trained."""


def text_tower_path(out: Path) -> Path:
    """Where the text tower of checkpoint ``out`` goes: ``NAME.safetensors`` → ``NAME.text.safetensors``."""
    return out.with_name(out.name[: -len(".safetensors")] + ".text.safetensors")


def _check_tower(tower: TextTower, merges: list[tuple[str, str]], dim: int, tower_file: Path, bpe: Path) -> None:
    vocab = ClipBpeTokenizer(merges).vocab_size
    if vocab != tower.shape.vocab:
        raise InputError(f"its merges give {vocab} token ids but the text tower embeds {tower.shape.vocab}: "
                         "use CLIP's bpe_simple_vocab_16e6.txt.gz", bpe)
    if tower.shape.embed != dim:
        raise InputError(f"the text tower gives {tower.shape.embed}-d features; the model's text side is "
                         f"{dim}-d", tower_file)


def report_lines(conversion: Conversion, source: Path, out: Path, tower: TextTower | None,
                 tower_out: Path | None, table: ClassEmbeddingTable | None) -> list[str]:
    """What the conversion did, one line per fact (printed by the CLI)."""
    lines = [f"{source.name} → {out}: preset {conversion.preset}, {conversion.weights} weights, "
             f"{len(conversion.mapping)} official tensors → {len(conversion.state)} univs tensors"]
    if conversion.skipped:
        other = "student" if conversion.weights == "teacher" else "EMA teacher"
        flag = "" if conversion.weights == "teacher" else " (--teacher converts them instead)"
        lines.append(f"left out {len(conversion.skipped)} {other} tensors{flag}: "
                     f"{', '.join(sorted({k.partition('.')[0] + '.*' for k in conversion.skipped}))}")
    if conversion.ignored_entries:
        lines.append(f"ignored checkpoint entries beside 'model': {', '.join(conversion.ignored_entries)}")
    if conversion.fresh:
        lines.append(f"absent from the checkpoint (a category-only model), kept at initial values: "
                     f"{', '.join(conversion.fresh)} — text prompts are untrained")
    if tower is not None:
        lines.append(f"text tower ({tower.shape.layers} layers, width {tower.shape.width}, prefix "
                     f"{tower.prefix!r}, {tower.ignored} other tensors ignored) → {tower_out}")
    if table is not None:
        lines.append(f"class-embedding table: {len(table.names)} names × {table.dim}")
    return lines


def run_convert(official: str | Path, out: str | Path, preset: str | None = None, teacher: bool = False,
                text_encoder: str | Path | None = None, bpe: str | Path | None = None,
                concept_embeddings: str | Path | None = None, concept_names: str | Path | None = None,
                quiet: bool = False) -> list[str]:
    """Convert; everything is read and checked before anything is written. Returns the report."""
    official, out = Path(official), Path(out)
    if not out.name.endswith(".safetensors") or out.name == ".safetensors":
        raise InputError("the output must be a NAME.safetensors file", out)
    if (text_encoder is None) != (bpe is None):
        raise InputError("--text-encoder and --bpe go together: the RegionCLIP tower and CLIP's BPE "
                         "merges file (bpe_simple_vocab_16e6.txt.gz, see docs/models.md)")
    if (concept_embeddings is None) != (concept_names is None):
        raise InputError("--concept-embeddings and --concept-names go together: the (N, 640) table "
                         "and its N names")
    conversion = convert_checkpoint(official, preset, teacher)
    cfg = model_preset(conversion.preset)
    dim = cfg.prompt_encoder.text.dim

    tower = merges = tower_out = None
    if text_encoder is not None:
        tower, merges = read_text_tower(text_encoder), read_bpe_merges(bpe)
        _check_tower(tower, merges, dim, Path(text_encoder), Path(bpe))
    table = None if concept_embeddings is None else read_concept_table(concept_embeddings, concept_names, dim)

    if tower is not None:
        tower_out = text_tower_path(out)
        save_text_tower(tower.state, merges, tower_out)
        cfg.prompt_encoder.text.path = str(tower_out.resolve())
    state, metadata = dict(conversion.state), {}
    if table is not None:
        tensors, metadata = table.to_checkpoint()
        state.update(tensors)
    metadata[CONVERSION_KEY] = json.dumps({
        "source": official.name, "preset": conversion.preset, "weights": conversion.weights,
        "initial_values": conversion.fresh, "text_prompts_trained": not conversion.fresh})
    save_checkpoint(state, cfg, out, extra=metadata)

    lines = report_lines(conversion, official, out, tower, tower_out, table)
    if not quiet:
        for line in lines:
            print(f"univs convert: {line}")
    return lines
