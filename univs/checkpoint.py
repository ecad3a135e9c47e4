"""univs model checkpoints: one safetensors file holding the weights and, in its metadata, the
model config — so a checkpoint is self-describing and loading never executes pickled code.

A checkpoint is named by a path (``.safetensors``) or by the name of a model shipped inside the
package (``univs/assets/checkpoints/<name>.safetensors``, e.g. ``univs-tiny-synthetic``).
The frozen text encoder is not stored: the config names it and it is built on first use.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from univs.config import ModelConfig, from_dict, to_dict
from univs.data.atomic import atomic_path
from univs.errors import InputError

CONFIG_KEY = "univs_model_config"
"""safetensors metadata entry holding the ModelConfig as JSON."""

SHIPPED_DIR = "assets/checkpoints"

DEFAULT_CHECKPOINT = "univs-tiny-synthetic"
"""The shipped model ``univs segment`` and ``univs demo`` use when none is named."""


def shipped_checkpoints() -> dict[str, Path]:
    """Names of the checkpoints shipped inside the package → their files."""
    folder = resources.files("univs").joinpath(SHIPPED_DIR)
    if not folder.is_dir():
        return {}
    return {Path(p.name).stem: Path(str(p)) for p in folder.iterdir() if p.name.endswith(".safetensors")}


def resolve_checkpoint(name_or_path: str | Path) -> Path:
    """A shipped checkpoint's name, or a path to a ``.safetensors`` file → its path."""
    shipped = shipped_checkpoints()
    if str(name_or_path) in shipped:
        return shipped[str(name_or_path)]
    path = Path(name_or_path)
    if path.is_file():
        return path
    known = ", ".join(sorted(shipped)) or "none"
    raise InputError(f"no such checkpoint file, and not the name of a shipped model (shipped: {known})", path)


def save_checkpoint(state: dict[str, torch.Tensor], cfg: ModelConfig, path: str | Path,
                    dtype: torch.dtype | None = None, extra: dict[str, str] | None = None) -> None:
    """Write ``state`` (a model state_dict) and ``cfg`` atomically to one safetensors file.

    ``dtype`` (e.g. ``torch.float16``) casts floating-point tensors for a smaller file;
    ``extra`` adds string metadata (e.g. training provenance).
    """
    tensors = {}
    for k, v in state.items():
        v = v.detach().to("cpu")
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        tensors[k] = v.contiguous()
    metadata = {CONFIG_KEY: json.dumps(to_dict(cfg)), **(extra or {})}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def read_checkpoint(name_or_path: str | Path) -> tuple[dict[str, torch.Tensor], ModelConfig, dict[str, str]]:
    """Read a checkpoint → (state_dict, ModelConfig, metadata). Errors name the file."""
    path = resolve_checkpoint(name_or_path)
    try:
        state = load_file(str(path))
        with safe_open(str(path), framework="pt") as f:
            metadata = dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as e:
        raise InputError(f"not a readable safetensors checkpoint: {e}", path) from None
    if CONFIG_KEY not in metadata:
        raise InputError(f"checkpoint has no '{CONFIG_KEY}' metadata: not a univs checkpoint "
                         "(official UniVS .pth files go through `univs convert` first)", path)
    cfg = from_dict(ModelConfig, json.loads(metadata[CONFIG_KEY]))
    return state, cfg, metadata


def state_mismatch(expected: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> str:
    """How ``state``'s tensor names and shapes differ from ``expected``'s ("" when they agree), e.g.
    ``missing: a, b; wrong shape: c`` (at most 8 names a kind)."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    return "; ".join(f"{label}: {', '.join(keys[:8])}{' …' if len(keys) > 8 else ''}"
                     for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
                     if keys)


def average_checkpoints(names_or_paths: list[str | Path]) -> tuple[dict[str, torch.Tensor], ModelConfig]:
    """Uniform average of checkpoints of one model (a "model soup": Wortsman et al. 2022, arXiv
    2203.05482) → (float32 state_dict, ModelConfig). Integer tensors are taken from the first.
    Every checkpoint must share the first's config and tensor names and shapes, else InputError
    naming the file."""
    if not names_or_paths:
        raise ValueError("average_checkpoints needs at least one checkpoint")
    first = resolve_checkpoint(names_or_paths[0])
    state, cfg, _ = read_checkpoint(first)
    total = {k: v.double() if v.is_floating_point() else v for k, v in state.items()}
    for name in names_or_paths[1:]:
        state, other, _ = read_checkpoint(name)
        if other != cfg:
            raise InputError(f"model config differs from {first}'s: only checkpoints of one model average",
                             resolve_checkpoint(name))
        mismatch = state_mismatch(total, state)
        if mismatch:
            raise InputError(f"tensors differ from {first}'s: {mismatch}", resolve_checkpoint(name))
        for k, v in state.items():
            if v.is_floating_point():
                total[k] += v.double()
    n = len(names_or_paths)
    return {k: (v / n).float() if v.is_floating_point() else v for k, v in total.items()}, cfg


def load_model(name_or_path: str | Path, device: str | torch.device = "cpu", verbose: bool = False):
    """Build the model a checkpoint describes and load its weights strictly → ``UniVS`` in eval mode.

    Weights stored in a lower precision are cast back to the model's float32 parameters. A
    class-name table stored beside them (``univs convert --concept-embeddings``) becomes
    ``model.class_table``.
    """
    from univs.model.text_encoder import ClassEmbeddingTable
    from univs.model.univs_model import build_model

    state, cfg, metadata = read_checkpoint(name_or_path)
    class_table = ClassEmbeddingTable.from_checkpoint(state, metadata)
    cfg.backbone.pretrained = False  # the checkpoint holds the weights
    model = build_model(cfg, verbose=verbose)
    own = model.state_dict()
    mismatch = state_mismatch(own, state)
    if mismatch:
        raise InputError("checkpoint does not fit its config: " + mismatch, resolve_checkpoint(name_or_path))
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})
    model.class_table = class_table
    return model.to(device).eval()
