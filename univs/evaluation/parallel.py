"""Run per-sequence evaluation jobs in a process pool, in order, with an optional progress bar."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from typing import Callable, Sequence, TypeVar

from tqdm import tqdm

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    """The CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def map_jobs(fn: Callable[[T], R], jobs: Sequence[T], workers: int | None = None,
             quiet: bool = True, desc: str = "evaluating", initializer: Callable[..., None] | None = None,
             initargs: tuple = (), start_method: str | None = None) -> list[R]:
    """``[fn(j) for j in jobs]``, over ``workers`` processes (inline for one), results in job order.

    ``initializer(*initargs)`` runs once in each pool worker before its first job (not when the
    jobs run inline); ``start_method`` is the multiprocessing one (None: the platform's).
    The first error raised by a job is re-raised here and the pending jobs are cancelled.
    """
    workers = min(workers or default_workers(), len(jobs))
    context = multiprocessing.get_context(start_method) if workers > 1 else None
    # the pool forks before the progress bar starts its monitor thread
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=initializer,
                             initargs=initargs) if workers > 1 else contextlib.nullcontext() as pool, \
            tqdm(total=len(jobs), desc=desc, unit="seq", disable=quiet, leave=False) as bar:
        if pool is None:
            out = []
            for job in jobs:
                out.append(fn(job))
                bar.update()
            return out
        futures = [pool.submit(fn, job) for job in jobs]
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            bar.update(len(done))
            failed = next((f for f in done if f.exception() is not None), None)
            if failed is not None:
                for other in pending:
                    other.cancel()
                raise failed.exception()
        return [f.result() for f in futures]
