"""The official text side, which lives outside the UniVS state dict: the RegionCLIP RN50x4 text
tower and the class-name embedding table (architecture.md §3, §6b).

Tower: RegionCLIP's pretrained checkpoint (``regionclip_pretrained-cc_rn50x4.pth``, detectron2
format) holds it under ``lang_encoder.``; the UniVS release's extracted copy
(``…_only_lang_encoder.pth``) holds it without a prefix. Any prefix is accepted as long as
exactly one tower is found by its ``token_embedding.weight``; tensors outside the tower (the
visual encoder) are ignored and counted.

Concept table: a tensor (N, Dt) — the release's ``combined_datasets_cls_emb_rn50x4.pth``
(3938 × 640) — and its N names, row by row (the release's ``combined_datasets.txt``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from univs.convert.files import load_torch, read_names, read_tensor, state_dict_of
from univs.errors import InputError
from univs.model.text_encoder import ClassEmbeddingTable
from univs.model.text_regionclip import TowerShape

TOWER_ANCHOR = "token_embedding.weight"


@dataclass
class TextTower:
    """A CLIP text tower read from a checkpoint: tensors under CLIP names, its sizes, the prefix
    it had there and how many other tensors the file held."""

    state: dict[str, torch.Tensor]
    shape: TowerShape
    prefix: str
    ignored: int


def read_text_tower(path: str | Path) -> TextTower:
    """The CLIP text tower of a RegionCLIP / UniVS checkpoint (or a bare CLIP state dict)."""
    state, _ = state_dict_of(load_torch(path), path)
    prefixes = sorted({k[: -len(TOWER_ANCHOR)] for k in state if k.endswith(TOWER_ANCHOR)})
    if len(prefixes) != 1:
        found = f"text towers under {', '.join(repr(p) for p in prefixes)}" if prefixes else "no text tower"
        raise InputError(f"{found}: expected exactly one CLIP text tower (its '{TOWER_ANCHOR}', e.g. "
                         f"RegionCLIP's 'lang_encoder.{TOWER_ANCHOR}')", path)
    prefix = prefixes[0]
    tower = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    shape = TowerShape.of({k: tuple(v.shape) for k, v in tower.items()}, path)
    expected = shape.tensor_shapes()
    missing = sorted(prefix + k for k in expected.keys() - tower.keys())
    wrong = sorted(f"{prefix}{k} {tuple(tower[k].shape)} (expected {v})"
                   for k, v in expected.items() if k in tower and tuple(tower[k].shape) != v)
    if missing or wrong:
        parts = [f"{len(items)} {label}: {', '.join(items[:12])}{' …' if len(items) > 12 else ''}"
                 for label, items in (("missing", missing), ("of the wrong shape", wrong)) if items]
        raise InputError(f"incomplete CLIP text tower ({shape.layers} layers, width {shape.width}): "
                         + "; ".join(parts), path)
    return TextTower({k: tower[k].float() for k in expected}, shape, prefix, len(state) - len(expected))


def read_concept_table(embeddings: str | Path, names: str | Path, dim: int) -> ClassEmbeddingTable:
    """The class-name table: (N, ``dim``) features from ``embeddings``, N names from ``names``."""
    table = read_tensor(embeddings)
    if table.dim() != 2 or table.shape[1] != dim or not table.is_floating_point():
        raise InputError(f"a class-embedding table must be floating point (N, {dim}); this one is "
                         f"{table.dtype} {tuple(table.shape)}", embeddings)
    rows = read_names(names)
    if len(rows) != table.shape[0]:
        raise InputError(f"{len(rows)} names for a table of {table.shape[0]} rows ({embeddings})", names)
    return ClassEmbeddingTable(rows, table)
