"""How many CPU threads torch uses for a training or diagnostic run.

Two torch processes that each use every core of a small machine slow each other down by up to ~30x
(OpenMP threads spin while they wait for cores the other process holds). ``threads: 0`` (auto) gives
each process of a run its share of the cores this process may run on: all of them for a single
process, ``cores // LOCAL_WORLD_SIZE`` (else ``// WORLD_SIZE``) for each of several DDP processes,
unless ``OMP_NUM_THREADS`` is set, which it then follows. Side-by-side
runs (a sweep, a study with ``--jobs N``) should set ``threads`` explicitly so that their sum does
not exceed the cores (``slife study``/:func:`slife.train.parallel.train_many` give each of N jobs
``cores // N``).

Waiting threads: GNU OpenMP (torch's CPU threads) spins for a while at every barrier before it sleeps,
which steals the cores a concurrent training needs. The study's worker processes, which run side by
side by design, wait passively (:func:`quiet_wait_env`: ``OMP_WAIT_POLICY=PASSIVE``, ``KMP_BLOCKTIME=0``
for Intel's runtime), set as they start, before they import torch (the OpenMP runtime reads them
once, when torch loads it). A lone command keeps OpenMP's default: passive waits cost a 2-thread
process ~2x on a quiet machine (docs/training.md). A variable the user set is never overridden.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Iterator, Mapping

QUIET_WAIT = {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}


def quiet_wait_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The wait-policy variables of :data:`QUIET_WAIT` that ``environ`` (default: this process's) does not set."""
    env = os.environ if environ is None else environ
    return {k: v for k, v in QUIET_WAIT.items() if not env.get(k)}


def wait_quietly() -> bool:
    """Set :func:`quiet_wait_env` in this process's environment if torch is not imported yet (then
    its OpenMP threads will wait passively); True if it took effect. Called by the command line and
    as the initializer of the study's worker processes."""
    if "torch" in sys.modules:
        return False
    os.environ.update(quiet_wait_env())
    return True


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def resolve_threads(threads: int) -> int:
    """``threads`` if positive; else ``OMP_NUM_THREADS`` if the environment sets it; else this process's
    share of the usable cores."""
    if threads > 0:
        return threads
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    # torchrun sets LOCAL_WORLD_SIZE; processes started by hand may only set WORLD_SIZE (assume one machine)
    local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE") or os.environ.get("WORLD_SIZE") or 1))
    return max(1, usable_cores() // local)


@contextmanager
def torch_threads(threads: int) -> Iterator[int]:
    """Run a block with torch's intra-op threads set by :func:`resolve_threads` (restored after)."""
    import torch

    before = torch.get_num_threads()
    n = resolve_threads(threads)
    if n != before:
        torch.set_num_threads(n)
    try:
        yield n
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
