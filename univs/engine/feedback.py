"""What a training run tells its user: a progress bar and TensorBoard scalars (rank 0 only).

The bar (tqdm) shows the stage's iteration, it/s, the stage's ETA and the latest loss (total and
per family: class, mask, dice, re-id, expression). Every loss term, the learning rate and the
validation scores go to TensorBoard under ``<run>/tensorboard`` (tags ``train/<term>``,
``train/lr``, ``val/<measure>``) at the global step = iterations of all earlier stages + the
stage's iteration, so the stages form one curve. Messages (where a stage starts from, validation
results) are printed above the bar.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from tqdm import tqdm

from univs.errors import InputError


SUMMARY_KINDS = ("class", "mask", "dice", "reid", "expr")
"""Loss-term families the progress bar shows (each the sum of its terms over both streams)."""


def loss_summary(losses: dict[str, float]) -> dict[str, float]:
    """The total ``loss`` and one sum per family of :data:`SUMMARY_KINDS` (``loss_<kind>_*``)."""
    out = {"loss": losses["loss"]}
    for kind in SUMMARY_KINDS:
        out[kind] = sum(v for name, v in losses.items() if name.startswith(f"loss_{kind}"))
    return out


class Feedback:
    """Progress bar and scalar log of one process; everything is a no-op where ``enabled`` is
    False (ranks other than 0). ``quiet`` hides the bar (messages still print)."""

    def __init__(self, enabled: bool, log_dir: Path | None, quiet: bool = False):
        self.enabled = enabled
        self.quiet = quiet
        self.log_dir = log_dir if enabled else None
        self.writer = None
        self.bar: tqdm | None = None
        if self.log_dir is not None and importlib.util.find_spec("tensorboard") is None:
            raise InputError("TensorBoard logging needs the tensorboard package (pip install 'univs[train]'), "
                             "or set tensorboard=false")

    def start_stage(self, name: str, total: int, done: int) -> None:
        """A bar for a stage of ``total`` iterations, ``done`` of them already trained (resume)."""
        if self.enabled and not self.quiet:
            self.bar = tqdm(total=total, initial=done, desc=name, unit="it", dynamic_ncols=True,
                            file=sys.stderr, smoothing=0.1)

    def step(self, postfix: dict[str, float] | None = None) -> None:
        """One iteration done; ``postfix``: loss terms to show."""
        if self.bar is not None:
            if postfix:
                self.bar.set_postfix({k: f"{v:.3g}" for k, v in postfix.items()}, refresh=False)
            self.bar.update(1)

    def scalars(self, prefix: str, values: dict[str, float], step: int) -> None:
        """Log ``values`` under ``prefix/<name>`` at global ``step`` (the event file is opened on the
        first call)."""
        if self.log_dir is not None and self.writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.log_dir))
        if self.writer is not None:
            for name, value in values.items():
                self.writer.add_scalar(f"{prefix}/{name}", value, step)
            self.writer.flush()

    def message(self, text: str) -> None:
        """Print a line (above the bar when there is one)."""
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def end_stage(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def close(self) -> None:
        self.end_stage()
        if self.writer is not None:
            self.writer.close()
        self.writer, self.log_dir = None, None
