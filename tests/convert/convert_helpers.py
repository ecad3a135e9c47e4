"""Official-format checkpoints built from the fixtures that list every tensor of the official
models (``shared/official/univs_*_stage3_state_dict.json``), and a hand-made BPE merges table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from shared_data import SHARED

OFFICIAL_DIR = SHARED / "official"
FIXTURES = {"r50": "univs_r50_stage3_state_dict.json", "swin_t": "univs_swint_stage3_state_dict.json",
            "swin_b": "univs_swinb_stage3_state_dict.json", "swin_l": "univs_swinl_stage3_state_dict.json"}
requires_official = pytest.mark.skipif(not (OFFICIAL_DIR / FIXTURES["r50"]).is_file(),
                                       reason=f"official state-dict fixtures not found in {OFFICIAL_DIR}")


def fixture(preset: str) -> dict:
    """The fixture of ``preset``: {"tensors": [{name, shape, dtype, kind, ...}], "num_..."}."""
    return json.loads((OFFICIAL_DIR / FIXTURES[preset]).read_text())


def official_state(preset: str, seed: int = 0, dense: bool = False, prefix_map=None) -> dict[str, torch.Tensor]:
    """Random tensors with exactly the names, shapes and dtypes of the official ``preset``.

    ``dense``: every element drawn (real memory); otherwise each tensor is one random row
    broadcast over its shape — distinct per tensor, yet a few bytes on disk (torch.save keeps the
    view). ``prefix_map`` renames root modules (e.g. the EMA teacher's ``backbone_t``).
    """
    g = torch.Generator().manual_seed(seed)
    state = {}
    for t in fixture(preset)["tensors"]:
        shape = tuple(t["shape"])
        row = shape if dense else shape[-1:]
        if t["dtype"] == "int64":
            value = torch.randint(0, 1 << 20, row, generator=g)
        else:
            value = torch.randn(row, generator=g)
        name = t["name"]
        if prefix_map:
            root, _, rest = name.partition(".")
            name = f"{prefix_map.get(root, root)}.{rest}"
        state[name] = value if dense else value.expand(shape)
    return state


def save_official(path: Path, state: dict[str, torch.Tensor], **entries) -> Path:
    """Write ``state`` as a detectron2 checkpoint ({"model": state, **entries})."""
    torch.save({"model": state, **entries}, path)
    return path


MERGES = [("t", "h"), ("th", "e</w>"), ("a", "t</w>"), ("c", "at</w>"), ("o", "f</w>"), ("p", "h"), ("o", "t"),
          ("ph", "ot"), ("phot", "o</w>"), ("i", "n"), ("in", "g</w>"), ("r", "e"), ("'", "s</w>"), ("e", "r</w>"),
          ("a", "n</w>"), ("m", "an</w>"), ("l", "e"), ("le", "f"), ("lef", "t</w>")]
"""A hand-made merges table (CLIP's real file has 48894 merges; its ids are checked when
``UNIVS_CLIP_BPE`` points at it)."""


def write_merges(path: Path, merges) -> Path:
    """A merges file in CLIP's layout: a version line, then one pair per line."""
    path.write_text("#version: 0.2\n" + "\n".join(f"{a} {b}" for a, b in merges) + "\n")
    return path
