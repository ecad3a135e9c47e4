"""Exponential moving average of a model's trainable weights (a training stage with ``ema_decay``;
the official recipe uses one in stage 3, architecture.md §5).

After the n-th optimiser step (n = 0, 1, …) every trainable parameter w updates its average

    ema ← d·ema + (1 − d)·w,   d = min(decay, (1 + n) / (10 + n)),

starting from ema = w when the average is created; the ramp on d lets the average follow the
fast early changes instead of staying near the starting weights for ~1/(1 − decay) steps.
The stage's final weights are the model with its trainable parameters replaced by their averages
(:meth:`ModelEMA.state_dict`); frozen parameters and buffers do not change during the stage.
"""

from __future__ import annotations

import torch
from torch import nn


class ModelEMA:
    """Shadow copies (float32, on the model's device) of ``model``'s trainable parameters."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.updates = 0
        self.shadow = {n: p.detach().float().clone() for n, p in model.named_parameters() if p.requires_grad}

    def current_decay(self) -> float:
        """d of the next update (see the module docstring)."""
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Fold the model's current weights into the averages (call after each optimiser step)."""
        d = self.current_decay()
        params = dict(model.named_parameters())
        for name, avg in self.shadow.items():
            avg.mul_(d).add_(params[name].detach().float(), alpha=1 - d)
        self.updates += 1

    def state_dict(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """``model.state_dict()`` with the averaged parameters in place of the current ones."""
        state = model.state_dict()
        for name, avg in self.shadow.items():
            state[name] = avg.to(state[name].dtype)
        return state

    def load(self, tensors: dict[str, torch.Tensor], updates: int) -> None:
        """Restore averages saved from :attr:`shadow` and the update count (resume)."""
        missing = sorted(set(self.shadow) - set(tensors))
        if missing:
            raise KeyError(f"EMA state lacks {', '.join(missing[:5])}")
        for name, avg in self.shadow.items():
            avg.copy_(tensors[name])
        self.updates = updates
