"""univs.engine: unified training (arXiv 2402.18115 §4.1; architecture.md §5) — ``univs train``.

``run_train(config, out, stage, resume, overrides)`` checks the config and data, then trains the
config's stages (``Trainer``): one dataset and task per batch, stage-wise freezing, AdamW with a
warm-up + step schedule, EMA in the last stage, bf16 autocast on CUDA, DDP under torchrun,
atomic resumable checkpoints, a progress bar, TensorBoard scalars and held-out VOS validation.
"""

from univs.engine.cli import run_train
from univs.engine.trainer import RunFolder, Trainer

__all__ = ["RunFolder", "Trainer", "run_train"]
