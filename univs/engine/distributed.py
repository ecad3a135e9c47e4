"""One training process among ``torchrun``'s: rank, world size, device, collectives, clean exit.

``torchrun --nproc_per_node=N univs train ...`` starts N processes with ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` and the rendezvous address in their environment; multi-node runs use torchrun's own
flags (``--nnodes``, ``--node_rank``, ``--rdzv_endpoint``). Without those variables the run is a
single process. Backend: NCCL on CUDA, gloo on CPU.

Ending a rank: ``destroy_process_group()``, flush, then ``os._exit`` — a CPU gloo rank that leaves
through the interpreter's normal shutdown aborts now and then after all work is done
(``terminate called without an active exception``), which makes torchrun report a failure.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NoReturn

import torch
import torch.distributed as dist

from univs.errors import InputError


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: its rank of ``world_size``, its node-local rank and its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that writes files and logs."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` (CUDA when present) | ``cpu`` | ``cuda`` → this process's device."""
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise InputError("device 'cuda' asked for, but no CUDA device is available")
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def launch_context(device: str) -> DistContext:
    """This process's rank, world size and device from torchrun's environment (no collective yet)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return DistContext(rank, world, local, resolve_device(device, local))


COLLECTIVE_TIMEOUT = timedelta(minutes=60)
"""How long a rank waits in a collective: the others wait at a barrier while rank 0 validates."""


def init_process_group(ctx: DistContext) -> None:
    """Join the process group of a multi-process run (no-op for a single process)."""
    if ctx.distributed and not dist.is_initialized():
        backend = "nccl" if ctx.device.type == "cuda" else "gloo"
        kwargs: dict[str, Any] = {"device_id": ctx.device} if backend == "nccl" else {}
        dist.init_process_group(backend=backend, timeout=COLLECTIVE_TIMEOUT, **kwargs)


def barrier(ctx: DistContext) -> None:
    """Wait for every rank (no-op for a single process)."""
    if ctx.distributed:
        dist.barrier()


def mean_over_ranks(values: dict[str, float], ctx: DistContext) -> dict[str, float]:
    """Each value averaged over the ranks (every rank must call this with the same keys)."""
    if not ctx.distributed or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t)
    return dict(zip(keys, (t / ctx.world_size).tolist()))


def gather_to_all(obj: Any, ctx: DistContext) -> list[Any]:
    """Every rank's ``obj`` (a picklable in-memory value), in rank order, on every rank."""
    if not ctx.distributed:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def end_rank(code: int) -> NoReturn:
    """Leave a torchrun rank with exit ``code``: destroy the process group, flush, ``os._exit``."""
    if dist.is_initialized():
        dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
