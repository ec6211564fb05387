"""Several single-life trainings at once on one machine, the cores split between them.

Small models do not use 2+ cores well (2 threads run a step ~1.3x faster than 1 here), so two
1-thread trainings side by side finish a set of lives ~1.5x sooner than one 2-thread training after
the other. Each job runs in its own (spawned) process with ``threads = cores // jobs`` unless its
config sets ``threads``, so the processes never oversubscribe the cores, and their OpenMP threads wait
passively instead of spinning (slife.train.threads).
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from slife.train.config import TrainConfig
from slife.train.loop import TrainResult, train
from slife.train.threads import usable_cores, wait_quietly


@dataclass(frozen=True)
class TrainJob:
    life_dir: Path
    run_dir: Path
    cfg: TrainConfig


def _run(job: TrainJob) -> TrainResult:
    result = train(job.life_dir, job.run_dir, job.cfg, progress=False)
    return dataclasses.replace(result, model=None)  # the weights are in the run's checkpoints


def train_many(
    jobs: Sequence[TrainJob],
    parallel: int = 0,
    on_done: Callable[[TrainJob, TrainResult], None] | None = None,
    progress: bool = True,
) -> list[TrainResult]:
    """Run ``jobs`` (``parallel`` at once; 0 = one per usable core, at most one per job); results in
    job order. ``parallel == 1`` trains in this process, one after the other (with progress bars if
    ``progress``); parallel jobs show none."""
    parallel = min(len(jobs), parallel or usable_cores()) if jobs else 1
    if parallel <= 1:
        results = []
        for job in jobs:
            results.append(dataclasses.replace(train(job.life_dir, job.run_dir, job.cfg, progress=progress), model=None))
            if on_done is not None:
                on_done(job, results[-1])
        return results
    share = max(1, usable_cores() // parallel)
    jobs = [j if j.cfg.threads else dataclasses.replace(j, cfg=dataclasses.replace(j.cfg, threads=share)) for j in jobs]
    import multiprocessing

    # the workers' OpenMP threads wait passively (set before they import torch: slife.train.threads)
    with ProcessPoolExecutor(parallel, mp_context=multiprocessing.get_context("spawn"), initializer=wait_quietly) as pool:
        futures = [pool.submit(_run, job) for job in jobs]
        results = []
        for job, future in zip(jobs, futures):
            results.append(future.result())
            if on_done is not None:
                on_done(job, results[-1])
    return results
