"""Optimiser of a training stage: frozen parts, AdamW parameter groups, the learning-rate schedule.

Official recipe (arXiv 2402.18115 §4.1; architecture.md §5; official ``Base.yaml`` SOLVER): AdamW,
weight decay 0.05, backbone learning rate × 0.1, a warm-up then a step schedule (× ``gamma`` at
each milestone), the gradient norm of the whole model clipped. Stage 2 freezes the backbone,
stage 3 the backbone and the pixel decoder: their parameters get ``requires_grad_(False)`` and stay
out of the optimiser (the backbone's batch norms are frozen already).

The schedule is a pure function of the stage iteration (:func:`lr_factor`), so a resumed run needs
only the iteration to continue it.
"""

from __future__ import annotations

from bisect import bisect_right

import torch
from torch import nn

from univs.config import FREEZABLE, OptimConfig, StageConfig

BASE_LR = "base_lr"
"""Key of a parameter group's undecayed learning rate (the schedule scales it into ``lr``)."""


def freeze_parts(model: nn.Module, parts: tuple[str, ...]) -> None:
    """``requires_grad_(False)`` on the named parts (``FREEZABLE``: top-level submodules) of a
    freshly built model; the parameters the model freezes itself (e.g. the backbone's
    ``freeze_at`` stages) stay frozen too."""
    for part in parts:
        if part not in FREEZABLE:
            raise ValueError(f"cannot freeze {part!r}; known: {', '.join(FREEZABLE)}")
        getattr(model, part).requires_grad_(False)


def build_optimizer(model: nn.Module, stage: StageConfig, cfg: OptimConfig) -> torch.optim.AdamW:
    """AdamW over the trainable parameters: backbone at ``lr × backbone_lr_multiplier``, the rest
    at ``lr``; empty groups are left out. Each group keeps its base rate under :data:`BASE_LR`."""
    backbone, rest = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (backbone if name.startswith("backbone.") else rest).append(p)
    groups = [{"params": ps, BASE_LR: lr, "lr": lr}
              for ps, lr in ((backbone, stage.lr * cfg.backbone_lr_multiplier), (rest, stage.lr)) if ps]
    return torch.optim.AdamW(groups, lr=stage.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)


def lr_factor(iteration: int, stage: StageConfig, cfg: OptimConfig) -> float:
    """Learning-rate multiplier for the step taken at ``iteration`` (0-based) of a stage:
    linear warm-up from ``warmup_factor`` over ``warmup_iters``, times ``gamma`` per milestone
    (``lr_steps`` × ``iterations``) already reached."""
    milestones = sorted(round(f * stage.iterations) for f in stage.lr_steps)
    factor = cfg.gamma ** bisect_right(milestones, iteration)
    if iteration < cfg.warmup_iters:
        alpha = iteration / cfg.warmup_iters
        factor *= cfg.warmup_factor * (1 - alpha) + alpha
    return factor


def set_lr(optimizer: torch.optim.Optimizer, factor: float) -> None:
    """Scale every group's base learning rate by ``factor``."""
    for group in optimizer.param_groups:
        group["lr"] = group[BASE_LR] * factor
