"""One optimisation step of UniVS (arXiv 2402.18115 §3.4, §4.1): forward, losses, backward, clip, update.

The forward runs under bf16 autocast on CUDA (``amp``) and in float32 on CPU; the criterion
computes its terms in float32 either way. The step takes the batch's vocabulary (class logits and
class-name prompts) only when the dataset has one.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from univs.data.training import TrainingBatch
from univs.losses import SetCriterion


def autocast(device: torch.device, amp: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA when ``amp``; nothing otherwise (CPU trains in float32)."""
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train_step(model: nn.Module, criterion: SetCriterion, batch: TrainingBatch,
               optimizer: torch.optim.Optimizer, device: torch.device, amp: bool,
               clip_grad_norm: float) -> dict[str, float]:
    """Train on one batch; returns the loss terms (``loss`` and ``loss_<term>``) as floats.

    model: a ``UniVS`` or its ``DistributedDataParallel`` wrapper; batch: B clips (B, T, 3, H, W)
    of one dataset and task; clip_grad_norm: max L2 norm of the whole gradient (0: no clipping).
    """
    batch = batch.to(device, non_blocking=True)
    with autocast(device, amp):
        out = model(batch.images, batch.prompts, vocabulary=batch.vocabulary or None,
                    frame_times=batch.frame_times)
    losses = criterion(out, batch.targets, out.reid_temperature)
    optimizer.zero_grad(set_to_none=True)
    losses["loss"].backward()
    if clip_grad_norm > 0:
        params = [p for group in optimizer.param_groups for p in group["params"]]
        torch.nn.utils.clip_grad_norm_(params, clip_grad_norm)
    optimizer.step()
    names = sorted(losses)
    values = torch.stack([losses[n].detach().float() for n in names]).tolist()
    return dict(zip(names, values))
