"""Reading the official release's files safely: torch pickles only through
``torch.load(weights_only=True)`` (no code runs), ``.npy`` without pickles, safetensors.
Every failure is an :class:`InputError` naming the file."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from univs.errors import InputError


def load_torch(path: str | Path) -> Any:
    """``torch.load`` of a file with ``weights_only=True`` onto the CPU; zip-format files are
    memory-mapped, so a checkpoint's tensors are read from disk as they are used. A
    ``.safetensors`` file is read as one (as torch ≥ 2.12 itself does)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path)
    if path.suffix == ".safetensors":
        return _load_safetensors(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except Exception as e:  # torch.load raises many types on foreign, truncated or unsafe files
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        hint = (" — it holds Python objects that safe loading refuses; in an environment you trust, "
                "re-save its tensors with torch.save(torch.load(f)['model'], 'weights.pth')"
                if "weights_only" in str(e) or "Unsupported global" in str(e) else "")
        raise InputError(f"not a readable PyTorch checkpoint ({type(e).__name__}: {first[:200]}){hint}",
                         path) from None


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise InputError(f"not a readable safetensors file: {e}", path) from None


def state_dict_of(obj: Any, path: str | Path) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The tensors of a loaded checkpoint: the ``model`` entry of a detectron2 checkpoint (the
    other entries — optimizer, scheduler, iteration — are returned by name, unused), or a plain
    state dict."""
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        state, others = obj["model"], sorted(str(k) for k in obj if k != "model")
    elif isinstance(obj, dict):
        state, others = obj, []
    else:
        raise InputError(f"holds a {type(obj).__name__}, not a state dict or a detectron2 checkpoint", path)
    not_tensors = sorted(str(k) for k, v in state.items() if not isinstance(v, torch.Tensor))
    if not_tensors:
        raise InputError(f"entries that are not tensors: {', '.join(not_tensors[:8])}"
                         f"{' …' if len(not_tensors) > 8 else ''}", path)
    return {str(k): v for k, v in state.items()}, others


def read_tensor(path: str | Path) -> torch.Tensor:
    """One tensor from ``.npy``, ``.safetensors`` (holding exactly one) or a torch file (a tensor,
    or a dict holding exactly one)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path)
    if path.suffix == ".npy":
        try:
            return torch.from_numpy(np.load(path, allow_pickle=False))
        except ValueError as e:
            raise InputError(f"not a readable .npy array: {e}", path) from None
    found = load_torch(path)
    if isinstance(found, dict):
        tensors = [v for v in found.values() if isinstance(v, torch.Tensor)]
        if len(tensors) != 1 or len(found) != 1:
            raise InputError(f"holds {len(found)} entries ({', '.join(map(str, list(found)[:5]))}); "
                             "expected exactly one tensor", path)
        found = tensors[0]
    if not isinstance(found, torch.Tensor):
        raise InputError(f"holds a {type(found).__name__}, not a tensor", path)
    return found


def read_names(path: str | Path) -> list[str]:
    """Names, one per row: a JSON list of strings, or a text file with one name per line (every
    line counts, blank ones too, as in the official extraction; a final newline ends the last)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"not UTF-8 text: {e}", path) from None
    if path.suffix == ".json":
        try:
            names = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(f"not valid JSON: {e}", path) from None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise InputError("a JSON names file must hold a list of strings", path)
        return names
    lines = text.split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines
