"""``univs train``: read and check the config and the data, then train its stages on this rank.

Everything that can be wrong with the input — the config, a dataset root, a dataset's files, a run
folder that already holds a run — is reported before the process group is joined and before any
model is built. Under ``torchrun`` every rank runs this; rank 0 alone writes and logs, and each rank
leaves through :func:`univs.engine.distributed.end_rank`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from univs.config import TrainConfig, load_train_config
from univs.engine.distributed import end_rank, init_process_group, launch_context
from univs.engine.preflight import missing_files
from univs.engine.trainer import RunFolder, Trainer
from univs.errors import InputError, UnivsError


def selected_stages(cfg: TrainConfig, stage: int | None) -> list[int]:
    """The 1-based stages to train: ``[stage]``, or all of the config's in order."""
    if stage is None:
        return list(range(1, len(cfg.stages) + 1))
    if not 1 <= stage <= len(cfg.stages):
        raise InputError(f"--stage {stage}: the config has stages 1..{len(cfg.stages)}")
    return [stage]


def run_train(config: str | Path, out: str | Path | None = None, stage: int | None = None,
              resume: bool = False, overrides: list[str] = (), quiet: bool = False) -> int:
    """Train the stages of the config file ``config`` (with ``key=value`` ``overrides``) into the run
    folder ``out`` (default ``runs/<config name>``); ``resume`` continues the run found there."""
    cfg = load_train_config(config, overrides)
    problems = missing_files(cfg)
    if problems:
        raise InputError("training inputs not found: " + "; ".join(problems))
    stages = selected_stages(cfg, stage)
    run = RunFolder(Path(out) if out is not None else Path("runs") / Path(config).stem)
    if not resume:
        found = [p for k in stages for p in (run.state(k), run.weights(k)) if p.exists()]
        if found:
            raise InputError("the run folder holds a training run already; pass --resume to continue it "
                             "or choose another --out", run.root)
    ctx = launch_context(cfg.device)
    trainer = Trainer(cfg, run.root, ctx, quiet=quiet)
    trainer.prepare(stages)
    init_process_group(ctx)
    try:
        trainer.train(stages, resume)
    except UnivsError as e:
        if not ctx.distributed:
            raise
        print(f"univs train: error (rank {ctx.rank}): {e}", file=sys.stderr)
        end_rank(2)
    if ctx.distributed:
        end_rank(0)
    return 0
