"""Official UniVS checkpoints (detectron2 names) → univs state dicts (release MinghanLi/UniVS;
architecture.md §6b).

Names: ``backbone.X`` stays ``backbone.X``; ``sem_seg_head.pixel_decoder.X`` is
``pixel_decoder.X``; ``sem_seg_head.predictor.X`` is ``decoder.X`` or ``prompt_encoder.X``,
whichever holds X (:data:`~univs.model.univs_model.PREDICTOR_MODULES`). Shapes are equal, so
values are copied as they are (cast to our dtype). The map is built from the preset's own
state_dict, so it is a bijection or the conversion fails, listing every key that is unexpected,
missing or of the wrong shape — nothing is dropped silently.

Stage-3 checkpoints trained with EMA also hold teacher copies (``backbone_t.*``,
``sem_seg_head_t.*``); the official evaluation uses the student, converted by default, the
teacher on request, and the copy left out is reported. Models built for category-only inference
lack the 6 ``sem_seg_head.predictor.lang2vision_cross_attention_layer.*`` tensors: accepted, that
layer keeps its initial values (seed 0) and the conversion says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from univs.config import ModelConfig, model_preset
from univs.convert.files import load_torch, state_dict_of
from univs.errors import InputError
from univs.model.prompt_encoder import PromptEncoder
from univs.model.univs_model import PREDICTOR_MODULES, build_model

OFFICIAL_PRESETS = ("r50", "swin_t", "swin_b", "swin_l")
ROOTS = ("backbone", "sem_seg_head")
TEACHER = "_t"
"""Suffix of the EMA teacher's root modules (``backbone_t``, ``sem_seg_head_t``)."""
LANG2VISION = "sem_seg_head.predictor.lang2vision_cross_attention_layer."


@dataclass
class Conversion:
    """An official state dict mapped onto a preset.

    state: ours, every tensor of the preset's state_dict; mapping: official name as in the file
    → ours; skipped: official tensors left out (the other EMA copy); fresh: ours kept at their
    initial values (absent from the file); ignored_entries: checkpoint entries beside ``model``.
    """

    preset: str
    weights: str
    state: dict[str, torch.Tensor]
    mapping: dict[str, str]
    skipped: list[str] = field(default_factory=list)
    fresh: list[str] = field(default_factory=list)
    ignored_entries: list[str] = field(default_factory=list)


def official_name(ours: str) -> str | None:
    """The official name of one of our state_dict keys (None: no official counterpart)."""
    module, _, rest = ours.partition(".")
    if module == "backbone":
        return ours
    if module == "pixel_decoder":
        return f"sem_seg_head.pixel_decoder.{rest}"
    if module in PREDICTOR_MODULES:
        return f"sem_seg_head.predictor.{rest}"
    return None


def expected_tensors(cfg: ModelConfig) -> dict[str, tuple[str, torch.Size, torch.dtype]]:
    """Official name → (our name, shape, dtype) of every tensor of ``cfg``'s model (built on the
    meta device: no memory)."""
    with torch.device("meta"):
        model = build_model(cfg, verbose=False)
    out: dict[str, tuple[str, torch.Size, torch.dtype]] = {}
    for ours, tensor in model.state_dict().items():
        name = official_name(ours)
        if name is None:
            raise InputError(f"model {cfg.name!r} has {ours}, which no official checkpoint holds")
        if name in out:
            raise InputError(f"{out[name][0]} and {ours} both map to the official {name}")
        out[name] = (ours, tensor.shape, tensor.dtype)
    return out


def detect_preset(state: dict[str, torch.Tensor]) -> str | None:
    """The official preset whose backbone fits the tensors: ResNet-50 by its stem, Swin-T/B/L by
    the width of the patch embedding."""
    if "backbone.stem.conv1.weight" in state:
        return "r50"
    patch = state.get("backbone.patch_embed.proj.weight")
    if patch is None:
        return None
    return next((p for p in OFFICIAL_PRESETS
                 if model_preset(p).backbone.name == "swin" and model_preset(p).backbone.embed_dim == patch.shape[0]),
                None)


def _listing(label: str, items: list[str], limit: int = 12) -> str:
    more = f" … and {len(items) - limit} more" if len(items) > limit else ""
    return f"{len(items)} {label}: {', '.join(items[:limit])}{more}"


def _initial_values(cfg: ModelConfig, ours: list[str]) -> dict[str, torch.Tensor]:
    """Initial values (seed 0) of prompt-encoder tensors ``ours`` (``prompt_encoder.*`` names)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        encoder = PromptEncoder(cfg.prompt_encoder, cfg.decoder.hidden_dim, cfg.decoder.nheads,
                                cfg.pixel_decoder.mask_dim, cfg.pixel_decoder.common_stride)
    values = encoder.state_dict()
    return {name: values[name.partition(".")[2]] for name in ours}


def _split_roots(state: dict[str, torch.Tensor]) -> tuple[list[str], list[str], list[str]]:
    """Keys of the student, of the EMA teacher, and the others."""
    student, teacher, other = [], [], []
    for key in state:
        root = key.partition(".")[0]
        (student if root in ROOTS else teacher if root in {r + TEACHER for r in ROOTS} else other).append(key)
    return student, teacher, other


def _student_name(teacher_key: str) -> str:
    """``backbone_t.X`` → ``backbone.X``, ``sem_seg_head_t.X`` → ``sem_seg_head.X``."""
    root, _, rest = teacher_key.partition(".")
    return f"{root[: -len(TEACHER)]}.{rest}"


def map_official_state(state: dict[str, torch.Tensor], source: str | Path, preset: str | None = None,
                       teacher: bool = False) -> Conversion:
    """Map an official state dict (detectron2 names) onto a preset (detected when None).

    ``teacher`` converts the EMA teacher copy instead of the student. Raises InputError naming
    ``source`` and listing every unexpected, missing or misshapen tensor.
    """
    student_keys, teacher_keys, other = _split_roots(state)
    if other:
        raise InputError("not an official UniVS checkpoint, nothing written: "
                         + _listing(f"tensors outside {', '.join(r + '.*' for r in ROOTS)}", sorted(other)), source)
    chosen, skipped = (teacher_keys, student_keys) if teacher else (student_keys, teacher_keys)
    if not chosen:
        what = "EMA teacher tensors (backbone_t.*, sem_seg_head_t.*)" if teacher else "student tensors (backbone.*, sem_seg_head.*)"
        hint = "" if teacher or not teacher_keys else "; it holds teacher copies only: convert them with --teacher"
        raise InputError(f"no {what} in this checkpoint{hint}", source)
    renamed = {(_student_name(k) if teacher else k): k for k in chosen}
    found = {name: state[key] for name, key in renamed.items()}

    preset = preset or detect_preset(found)
    if preset is None:
        raise InputError("cannot tell the backbone (no backbone.stem.conv1.weight of ResNet-50, no Swin "
                         "backbone.patch_embed.proj.weight of a known width); name it with --preset", source)
    if preset not in OFFICIAL_PRESETS:
        raise InputError(f"unknown official preset {preset!r}; known: {', '.join(OFFICIAL_PRESETS)}")
    cfg = model_preset(preset)
    expected = expected_tensors(cfg)

    unexpected = sorted(renamed[n] for n in found.keys() - expected.keys())
    missing = sorted(expected.keys() - found.keys())
    l2v = sorted(n for n in expected if n.startswith(LANG2VISION))
    fresh_official = l2v if set(l2v) <= set(missing) else []
    missing = [n for n in missing if n not in fresh_official]
    wrong = sorted(f"{renamed[n]} {tuple(found[n].shape)} (expected {tuple(expected[n][1])})"
                   for n in found.keys() & expected.keys() if found[n].shape != expected[n][1])
    if unexpected or missing or wrong:
        parts = [_listing(label, items) for label, items in
                 (("unexpected", unexpected), ("missing", missing), ("of the wrong shape", wrong)) if items]
        raise InputError(f"does not fit the {preset} model, nothing written: " + "; ".join(parts), source)

    out = {expected[n][0]: t.to(expected[n][2]) for n, t in found.items()}
    fresh = [expected[n][0] for n in fresh_official]
    out.update(_initial_values(cfg, fresh))
    return Conversion(preset=preset, weights="teacher" if teacher else "student", state=out,
                      mapping={renamed[n]: expected[n][0] for n in found}, skipped=sorted(skipped), fresh=fresh)


def convert_checkpoint(path: str | Path, preset: str | None = None, teacher: bool = False) -> Conversion:
    """Read an official checkpoint safely (``weights_only``) and map it (:func:`map_official_state`)."""
    state, others = state_dict_of(load_torch(path), path)
    conversion = map_official_state(state, path, preset, teacher)
    conversion.ignored_entries = others
    return conversion
