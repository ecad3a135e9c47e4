"""Resumable training state in one safetensors file: nothing on disk is ever unpickled.

``<run>/stage<k>/state/train_state.safetensors`` holds, as tensors, the training weights
(``model.*``), the optimiser's per-parameter state (``optim.<index>.<name>``), the EMA averages
(``ema.*``) and every rank's torch RNG states (``rng.<rank>.torch`` / ``rng.<rank>.cuda``, uint8);
and, as JSON in the file's metadata, the iteration, the optimiser's parameter groups and non-tensor
state, the EMA update count, and every rank's Python and NumPy RNG states. The learning-rate
schedule is a function of the iteration (``univs.engine.optim.lr_factor``), so the iteration is
its whole state. The file is written atomically: a run stopped at any moment leaves either the
previous state or the new one.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from univs.data.atomic import atomic_path
from univs.errors import InputError

STATE_FILE = "train_state.safetensors"
META_KEY = "univs_train_state"


@dataclass
class RankRNG:
    """One rank's random generators: torch CPU and CUDA states (uint8 tensors), Python's and
    NumPy's global generators (JSON-ready)."""

    torch_state: torch.Tensor
    cuda_state: torch.Tensor | None
    python_state: list
    numpy_state: dict


def capture_rng(device: torch.device) -> RankRNG:
    """This process's generator states."""
    version, internal, gauss = random.getstate()
    np_state = np.random.get_state(legacy=False)
    np_state["state"]["key"] = np_state["state"]["key"].tolist()
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return RankRNG(torch.get_rng_state(), cuda, [version, list(internal), gauss], np_state)


def restore_rng(rng: RankRNG, device: torch.device) -> None:
    """Set this process's generators to ``rng``."""
    torch.set_rng_state(rng.torch_state)
    if rng.cuda_state is not None and device.type == "cuda":
        torch.cuda.set_rng_state(rng.cuda_state, device)
    version, internal, gauss = rng.python_state
    random.setstate((version, tuple(internal), gauss))
    np_state = dict(rng.numpy_state)
    np_state["state"] = {**np_state["state"], "key": np.asarray(np_state["state"]["key"], np.uint32)}
    np.random.set_state(np_state)


@dataclass
class TrainState:
    """Everything a stage needs to continue exactly where it stopped.

    iteration: optimiser steps taken in the stage; model: training weights (not the EMA);
    optimizer: ``optimizer.state_dict()``; ema / ema_updates: the EMA averages (None without EMA);
    rngs: one :class:`RankRNG` per rank, in rank order; weight_sums: each rank's sum of all
    weights when the state was taken (ranks in lockstep hold the same).
    """

    iteration: int
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    ema: dict[str, torch.Tensor] | None
    ema_updates: int
    rngs: list[RankRNG]
    weight_sums: list[float]


def save_state(state: TrainState, folder: str | Path) -> Path:
    """Write ``state`` atomically to ``folder/train_state.safetensors``; returns the path."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in state.model.items()}
    extras: dict[str, dict] = {}
    for index, entry in state.optimizer["state"].items():
        for name, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"optim.{index}.{name}"] = value.detach().cpu().contiguous()
            else:
                extras.setdefault(str(index), {})[name] = value
    for name, value in (state.ema or {}).items():
        tensors[f"ema.{name}"] = value.detach().cpu().contiguous()
    rng_json = []
    for rank, rng in enumerate(state.rngs):
        tensors[f"rng.{rank}.torch"] = rng.torch_state
        if rng.cuda_state is not None:
            tensors[f"rng.{rank}.cuda"] = rng.cuda_state.cpu()
        rng_json.append({"python": rng.python_state, "numpy": rng.numpy_state})
    meta = {"iteration": state.iteration, "param_groups": state.optimizer["param_groups"],
            "optimizer_extras": extras, "ema": state.ema is not None, "ema_updates": state.ema_updates,
            "rng": rng_json, "weight_sums": state.weight_sums}
    path = Path(folder) / STATE_FILE
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={META_KEY: json.dumps(meta)})
    return path


def _with_tuples(saved: Any, like: Any) -> Any:
    """JSON lists back to tuples where the freshly built optimiser holds tuples (e.g. ``betas``)."""
    return tuple(saved) if isinstance(like, tuple) and isinstance(saved, list) else saved


def _read_meta(path: Path) -> dict:
    try:
        with safe_open(str(path), framework="pt") as f:
            return json.loads((f.metadata() or {})[META_KEY])
    except (SafetensorError, OSError, ValueError, KeyError) as e:
        raise InputError(f"not a readable univs training state ({e})", path) from None


def state_iteration(path: str | Path) -> int:
    """The iteration a saved state was taken at (reads the file's header only)."""
    return int(_read_meta(Path(path))["iteration"])


def load_state(path: str | Path, optimizer: torch.optim.Optimizer) -> TrainState:
    """Read a state written by :func:`save_state`; ``optimizer`` (built for the same stage) gives
    the layout the optimiser state is restored into. Errors name the file."""
    path = Path(path)
    meta = _read_meta(path)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise InputError(f"not a readable univs training state ({e})", path) from None
    groups = meta["param_groups"]
    fresh = optimizer.state_dict()["param_groups"]
    if len(groups) != len(fresh) or any(len(g["params"]) != len(f["params"]) for g, f in zip(groups, fresh)):
        raise InputError("the training state's optimiser does not fit this stage's trainable parameters "
                         "(was the config's model or freezing changed?)", path)
    groups = [{k: _with_tuples(v, f.get(k)) for k, v in g.items()} for g, f in zip(groups, fresh)]
    opt_state: dict[int, dict[str, Any]] = {}
    for index, extras in meta["optimizer_extras"].items():
        opt_state.setdefault(int(index), {}).update(extras)
    model, ema = {}, {}
    for key, value in tensors.items():
        kind, rest = key.split(".", 1)
        if kind == "model":
            model[rest] = value
        elif kind == "ema":
            ema[rest] = value
        elif kind == "optim":
            index, name = rest.split(".", 1)
            opt_state.setdefault(int(index), {})[name] = value
    rngs = [RankRNG(tensors[f"rng.{r}.torch"], tensors.get(f"rng.{r}.cuda"), j["python"], j["numpy"])
            for r, j in enumerate(meta["rng"])]
    return TrainState(meta["iteration"], model, {"state": opt_state, "param_groups": groups},
                      ema if meta["ema"] else None, meta["ema_updates"], rngs, meta["weight_sums"])
