"""The staged training run (arXiv 2402.18115 §4.1; architecture.md §5): stages, checkpoints, resume.

A run folder holds::

    config.yaml                          the resolved config the run trains with
    tensorboard/                         scalars of every stage (``univs.engine.feedback``)
    stage<k>/last.safetensors            the stage's weights (a univs checkpoint: ``univs.load`` reads it)
    stage<k>/state/train_state.safetensors  what ``--resume`` continues from (``univs.engine.state``)

Stage k starts from the final weights of stage k − 1 of the same run folder (or, for the first
stage run, from ``TrainConfig.init`` when set, else the preset's initialisation). Every
``checkpoint_every`` iterations and at the end, rank 0 writes both files of the stage;
``last.safetensors`` holds the weights the stage delivers: the EMA weights in a stage with
``ema_decay``, the trained weights otherwise. A resumed stage reloads the training weights,
optimiser, EMA and every rank's RNG states and restarts the batch stream at its iteration (the
sampler's stream is a function of the iteration), so it reaches the weights an uninterrupted run
reaches. Validation (``univs.engine.validation``) runs every ``validation.every`` iterations and
at the end of each stage, on rank 0, on the delivered weights.
"""

from __future__ import annotations

import dataclasses
import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from univs.checkpoint import load_model, save_checkpoint
from univs.config import DataConfig, TrainConfig, save_yaml, stage_data, to_dict
from univs.data.mixture import Mixture, load_mixture
from univs.data.training import build_training_loader
from univs.engine.distributed import DistContext, barrier, gather_to_all, mean_over_ranks
from univs.engine.ema import ModelEMA
from univs.engine.feedback import Feedback, loss_summary
from univs.engine.optim import build_optimizer, freeze_parts, lr_factor, set_lr
from univs.engine.state import (STATE_FILE, TrainState, capture_rng, load_state, restore_rng, save_state,
                                state_iteration)
from univs.engine.step import train_step
from univs.engine.validation import ValidationSet, validate_vos
from univs.errors import InputError
from univs.losses import SetCriterion
from univs.model.text_encoder import CachedTextEncoder, build_text_encoder
from univs.model.univs_model import UniVS, build_model

PROVENANCE_KEY = "univs_training"
"""Metadata entry of a stage's ``last.safetensors``: stage, iteration, whether the weights are the EMA."""


@dataclass(frozen=True)
class RunFolder:
    """The files of one training run under ``root``."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    def weights(self, stage: int) -> Path:
        return self.root / f"stage{stage}" / "last.safetensors"

    def state_dir(self, stage: int) -> Path:
        return self.root / f"stage{stage}" / "state"

    def state(self, stage: int) -> Path:
        return self.state_dir(stage) / STATE_FILE


def seed_rank(seed: int, stage: int, rank: int) -> None:
    """Seed torch, Python and NumPy for ``rank`` in ``stage`` (distinct streams per rank)."""
    value = int(np.random.SeedSequence([seed, stage, rank]).generate_state(1)[0])
    torch.manual_seed(value)
    random.seed(value)
    np.random.seed(value)


def load_into(model: nn.Module, state: dict[str, torch.Tensor], what: str, path: Path,
              strict: bool = True) -> None:
    """``model.load_state_dict(state, strict)``; a mismatch is an InputError naming ``path``."""
    try:
        model.load_state_dict(state, strict=strict)
    except RuntimeError as e:
        detail = " ".join(str(e).split())
        raise InputError(f"{what} does not fit the config's model ({detail[:300]})", path) from None


def load_weights(model: nn.Module, path: Path) -> None:
    """Load the weights of the univs checkpoint at ``path`` into ``model`` (same architecture)."""
    load_into(model, load_model(path).state_dict(), "the checkpoint's model", path)


def load_init_weights(model: nn.Module, path: Path) -> list[str]:
    """Load the univs checkpoint at ``path`` into ``model``, which may extend its architecture
    (e.g. stride-2 mask features on a stride-4 model): tensors the checkpoint lacks keep their
    initialisation and are returned; any other mismatch is an InputError naming ``path``."""
    state = load_model(path).state_dict()
    own = set(model.state_dict())
    unexpected = sorted(set(state) - own)
    if unexpected:
        raise InputError(f"the checkpoint's model does not fit the config's model ({len(unexpected)} tensors "
                         f"the config's model lacks, e.g. {', '.join(unexpected[:3])})", path)
    load_into(model, state, "the checkpoint's model", path, strict=False)
    return sorted(own - set(state))


class Trainer:
    """Runs the stages of ``cfg`` in the run folder ``out`` on this process (one rank of ``ctx``)."""

    def __init__(self, cfg: TrainConfig, out: str | Path, ctx: DistContext, quiet: bool = False):
        self.cfg, self.ctx = cfg, ctx
        self.run = RunFolder(Path(out))
        self.feedback = Feedback(ctx.is_main, self.run.tensorboard if cfg.tensorboard else None, quiet)
        self._mixtures: dict[str, Mixture] = {}
        self.text_encoder: CachedTextEncoder | None = None

    # ------------------------------------------------------------------ data

    def mixture(self, data: DataConfig) -> Mixture:
        """The loaded mixture of ``data`` (loaded once per distinct dataset list and split)."""
        key = json.dumps([to_dict(data.datasets), data.val_fraction, data.val_seed])
        if key not in self._mixtures:
            self._mixtures[key] = load_mixture(data)
        return self._mixtures[key]

    def validation_data(self) -> DataConfig | None:
        """The VOS views of ``validation.datasets`` (None when the config names none)."""
        specs = self.cfg.validation.datasets
        return DataConfig(datasets=[dataclasses.replace(d, task="vos") for d in specs]) if specs else None

    def prepare(self, stages: list[int]) -> None:
        """Load every dataset the ``stages`` and the validation read, and build the frozen text
        encoder every stage's model shares (input errors surface here, before any training)."""
        for k in stages:
            self.mixture(stage_data(self.cfg, k))
        if self.validation_data() is not None:
            self.mixture(self.validation_data())
        self.text_encoder = build_text_encoder(self.cfg.model.prompt_encoder.text)

    def validation_set(self, stage: int) -> ValidationSet | None:
        """The held-out VOS videos: ``validation.datasets``, else the held-out share of the
        stage's ``vos`` datasets; None when there are none."""
        data = self.validation_data()
        if data is not None:
            sources = self.mixture(data).train
        else:
            sources = [s for s in self.mixture(stage_data(self.cfg, stage)).held_out if s.task == "vos"]
        val_set = ValidationSet.from_sources(sources, self.cfg.validation.max_videos)
        return val_set if val_set.videos else None

    # ------------------------------------------------------------------ run

    def train(self, stages: list[int], resume: bool) -> None:
        """Train ``stages`` (1-based, in order); with ``resume``, continue from the run folder."""
        if self.ctx.is_main:
            save_yaml(self.cfg, self.run.config)
        try:
            for k in stages:
                self.train_stage(k, resume, first=k == stages[0])
        finally:
            self.feedback.close()

    def global_step(self, stage: int, iteration: int) -> int:
        return sum(s.iterations for s in self.cfg.stages[:stage - 1]) + iteration

    def _initial_weights(self, model: UniVS, stage: int, first: bool) -> None:
        previous = self.run.weights(stage - 1)
        if stage > 1 and previous.is_file():
            load_weights(model, previous)
            self.feedback.message(f"stage {stage}: starting from {previous}")
        elif first and self.cfg.init:
            new = load_init_weights(model, Path(self.cfg.init))
            self.feedback.message(f"stage {stage}: starting from {self.cfg.init}"
                                  + (f" ({len(new)} new tensors initialised, e.g. {new[0]})" if new else ""))
        elif stage > 1:
            self.feedback.message(f"stage {stage}: no stage {stage - 1} weights in {self.run.root}; "
                                  "starting from the preset's initialisation")

    def train_stage(self, k: int, resume: bool, first: bool) -> None:
        """Train stage ``k`` to its last iteration, checkpointing and validating on the way."""
        cfg, ctx, spec = self.cfg, self.ctx, self.cfg.stages[k - 1]
        saved = self.run.state(k) if resume and self.run.state(k).is_file() else None
        if saved is not None and state_iteration(saved) >= spec.iterations:
            self.feedback.message(f"stage {k}: finished earlier ({state_iteration(saved)} iterations), skipped")
            return
        data = stage_data(cfg, k)
        val_set = self.validation_set(k) if ctx.is_main else None
        model, optimizer, ema, iteration = self._setup(k, saved, first)
        net: nn.Module = model
        if ctx.distributed:
            net = DistributedDataParallel(model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None,
                                          find_unused_parameters=True)
        criterion = SetCriterion(cfg.model.loss).to(ctx.device)
        loader = build_training_loader(data, cfg.model.prompt_encoder.num_points_per_task, ctx.rank,
                                       ctx.world_size, sources=self.mixture(data).train)

        self.feedback.start_stage(f"stage {k}", spec.iterations, iteration)
        while iteration < spec.iterations:
            loader.batch_sampler.set_epoch(iteration // data.batches_per_epoch, iteration % data.batches_per_epoch)
            for batch in loader:
                set_lr(optimizer, lr_factor(iteration, spec, cfg.optim))
                losses = train_step(net, criterion, batch, optimizer, ctx.device, cfg.amp, cfg.optim.clip_grad_norm)
                if ema is not None:
                    ema.update(model)
                iteration += 1
                self.feedback.step(loss_summary(losses))
                last = iteration == spec.iterations
                if iteration % cfg.log_every == 0 or last:
                    logged = {**mean_over_ranks(losses, ctx), "lr": optimizer.param_groups[-1]["lr"]}
                    self.feedback.scalars("train", logged, self.global_step(k, iteration))
                if iteration % cfg.checkpoint_every == 0 or last:
                    self.checkpoint(k, iteration, model, optimizer, ema)
                if last or (cfg.validation.every and iteration % cfg.validation.every == 0):
                    self.validate(k, iteration, model, ema, val_set)
                if last:
                    break
        self.feedback.end_stage()

    def _setup(self, k: int, saved: Path | None, first: bool
               ) -> tuple[UniVS, torch.optim.Optimizer, ModelEMA | None, int]:
        """Stage ``k``'s model (its parts frozen), optimiser, EMA and first iteration: restored from
        the ``saved`` state, or fresh from the previous stage's weights with per-rank seeds."""
        cfg, ctx, spec = self.cfg, self.ctx, self.cfg.stages[k - 1]
        torch.manual_seed(cfg.seed)
        model = build_model(cfg.model, verbose=ctx.is_main and first)
        if self.text_encoder is not None:
            model.text_encoder = self.text_encoder
        if saved is None:
            self._initial_weights(model, k, first)
        model.to(ctx.device).train()
        freeze_parts(model, tuple(spec.freeze))
        optimizer = build_optimizer(model, spec, cfg.optim)
        ema = ModelEMA(model, spec.ema_decay) if spec.ema_decay is not None else None
        if saved is None:
            seed_rank(cfg.seed, k, ctx.rank)
            return model, optimizer, ema, 0
        iteration = self._restore(model, optimizer, ema, saved)
        self.feedback.message(f"stage {k}: resumed at iteration {iteration}")
        return model, optimizer, ema, iteration

    # ------------------------------------------------------------------ state

    def _restore(self, model: UniVS, optimizer: torch.optim.Optimizer, ema: ModelEMA | None,
                 path: Path) -> int:
        state = load_state(path, optimizer)
        load_into(model, state.model, "the training state's model", path)
        optimizer.load_state_dict(state.optimizer)
        if ema is not None:
            if state.ema is None:
                raise InputError("the training state has no EMA, the stage's config asks for one", path)
            ema.load(state.ema, state.ema_updates)
        if len(state.rngs) == self.ctx.world_size:
            restore_rng(state.rngs[self.ctx.rank], self.ctx.device)
        else:
            self.feedback.message(f"the state was saved by {len(state.rngs)} processes, this run has "
                                  f"{self.ctx.world_size}: random streams restart (not an exact resume)")
            seed_rank(self.cfg.seed + state.iteration, 0, self.ctx.rank)
        return state.iteration

    def delivered_weights(self, model: UniVS, ema: ModelEMA | None) -> dict[str, torch.Tensor]:
        """The stage's output weights: the EMA ones when the stage keeps an EMA."""
        return ema.state_dict(model) if ema is not None else model.state_dict()

    def checkpoint(self, k: int, iteration: int, model: UniVS, optimizer: torch.optim.Optimizer,
                   ema: ModelEMA | None) -> None:
        """Write the stage's training state and delivered weights (rank 0; every rank takes part).

        Ranks whose weights differ (they must train in lockstep) stop the run with an error."""
        weight_sum = float(sum(p.detach().double().sum() for p in model.parameters()))
        gathered = gather_to_all((capture_rng(self.ctx.device), weight_sum), self.ctx)
        sums = [s for _, s in gathered]
        if len(set(sums)) > 1:
            raise RuntimeError(f"stage {k} iteration {iteration}: the ranks' weights differ (sums {sums})")
        if self.ctx.is_main:
            save_state(TrainState(iteration, model.state_dict(), optimizer.state_dict(),
                                  None if ema is None else ema.shadow, 0 if ema is None else ema.updates,
                                  [r for r, _ in gathered], sums),
                       self.run.state_dir(k))
            provenance = {"stage": k, "iteration": iteration, "ema": ema is not None}
            save_checkpoint(self.delivered_weights(model, ema), self.cfg.model, self.run.weights(k),
                            extra={PROVENANCE_KEY: json.dumps(provenance)})
        barrier(self.ctx)

    def validate(self, k: int, iteration: int, model: UniVS, ema: ModelEMA | None,
                 val_set: ValidationSet | None) -> None:
        """Score the delivered weights on the held-out videos (rank 0) and log the result."""
        if self.ctx.is_main and val_set is not None:
            scores = validate_vos(self.cfg.model, self.delivered_weights(model, ema), val_set, self.ctx.device,
                                  self.text_encoder, self.cfg.validation.workers)
            self.feedback.scalars("val", scores, self.global_step(k, iteration))
            shown = ", ".join(f"{name} {value:.3f}" for name, value in scores.items())
            self.feedback.message(f"stage {k} iteration {iteration}: held-out VOS {shown}")
        barrier(self.ctx)

