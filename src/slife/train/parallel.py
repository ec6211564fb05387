"""Several single-life trainings at once on one machine, the cores split between them.

Small models do not use 2+ cores well (2 threads run a step ~1.3x faster than 1 here), so two
1-thread trainings side by side finish a set of lives ~1.5x sooner than one 2-thread training after
the other. Each job runs in its own (spawned) process with ``threads = cores // jobs`` unless its
config sets ``threads``, so the processes never oversubscribe the cores, and their OpenMP threads wait
passively instead of spinning (slife.train.threads).

Stopping: SIGINT / SIGTERM to the parent (Ctrl-C, ``kill``) is handed on to every worker as SIGTERM;
each running training saves ``last.pt`` and stops (slife.train.signals), no queued job starts, and
``train_many`` raises ``TrainingStopped`` once every worker is done, so no training is left orphaned.
Idle workers ignore these signals (the pool stays whole while the running trainings save).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from slife.train.config import TrainConfig
from slife.train.signals import STOP_SIGNALS, TrainingStopped
from slife.train.threads import usable_cores, wait_quietly
from slife.workers import ignore_in_worker, starting_workers

if TYPE_CHECKING:
    from slife.train.loop import TrainResult

_worker_stop: Any = None  # in a worker process only: the pool's stop event (set by _init_worker)


@dataclass(frozen=True)
class TrainJob:
    life_dir: Path
    run_dir: Path
    cfg: TrainConfig


def _init_worker(stop: Any) -> None:
    """A pool worker: OpenMP threads that wait passively (before torch loads: slife.train.threads), and
    stop signals ignored between jobs (training installs its own handlers)."""
    global _worker_stop
    wait_quietly()
    _worker_stop = stop
    ignore_in_worker(STOP_SIGNALS)


def _run(job: TrainJob) -> TrainResult:
    if _worker_stop is not None and _worker_stop.is_set():
        raise TrainingStopped(f"{job.run_dir}: not started (the study was stopped)", signal.SIGTERM)
    from slife.train.loop import train  # after _init_worker: torch loads with the passive waits

    result = train(job.life_dir, job.run_dir, job.cfg, progress=False)
    return dataclasses.replace(result, model=None)  # the weights are in the run's checkpoints


@contextlib.contextmanager
def _hand_on_stop_signals(pool: ProcessPoolExecutor, stop: Any) -> Iterator[list[int]]:
    """While the block runs, a stop signal sets ``stop`` and sends SIGTERM to the pool's workers;
    yields a list that holds the first signal's number once one arrived."""
    arrived: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield arrived
        return

    def handle(signum: int, frame: object) -> None:
        if arrived and signum == signal.SIGINT:
            raise KeyboardInterrupt  # Ctrl-C twice: do not wait for the saves
        if not arrived:
            arrived.append(signum)
        stop.set()
        for pid in list(getattr(pool, "_processes", None) or {}):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)

    previous = {s: signal.signal(s, handle) for s in STOP_SIGNALS}
    try:
        yield arrived
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


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
        from slife.train.loop import train

        results = []
        for job in jobs:
            results.append(dataclasses.replace(train(job.life_dir, job.run_dir, job.cfg, progress=progress), model=None))
            if on_done is not None:
                on_done(job, results[-1])
        return results
    share = max(1, usable_cores() // parallel)
    jobs = [j if j.cfg.threads else dataclasses.replace(j, cfg=dataclasses.replace(j.cfg, threads=share)) for j in jobs]
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    results: list[TrainResult] = []
    stopped: list[TrainingStopped] = []
    with ProcessPoolExecutor(parallel, mp_context=ctx, initializer=_init_worker, initargs=(stop,)) as pool, \
            _hand_on_stop_signals(pool, stop) as arrived:  # fmt: skip
        with starting_workers(STOP_SIGNALS):  # the workers start with these blocked (slife.workers)
            futures = [pool.submit(_run, job) for job in jobs]
        for job, future in zip(jobs, futures):
            try:
                results.append(future.result())
            except TrainingStopped as exc:
                stopped.append(exc)
                continue
            if on_done is not None:
                on_done(job, results[-1])
    if arrived or stopped:
        signum = arrived[0] if arrived else stopped[0].signum
        saved = [str(e).split(":", 1)[0] for e in stopped if "not started" not in str(e)]
        raise TrainingStopped(
            f"stopped by {signal.Signals(signum).name}: {len(results)} of {len(jobs)} trainings finished"
            + (f", last.pt saved in {', '.join(saved)}" if saved else "") + "; run the same command again to resume",
            signum,
        )
    return results
