"""Worker processes that leave stop signals to their parent.

A Ctrl-C in a terminal reaches every process of the group; a worker process that answered it itself
would print its own traceback (or die while still importing and break the pool). The parent blocks
the signals while it starts its workers (a child inherits the signal mask, through exec too, so a
spawned worker is never interrupted while it starts) and each worker's initializer ignores them; the
parent alone decides what a stop means for its workers.
"""

from __future__ import annotations

import contextlib
import signal
from typing import Iterable, Iterator


@contextlib.contextmanager
def starting_workers(signals: Iterable[int]) -> Iterator[None]:
    """Block ``signals`` in this thread for the block (start the pool's processes in it); signals that
    arrive meanwhile are delivered when it ends."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, set(signals))
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def ignore_in_worker(signals: Iterable[int]) -> None:
    """In a worker process (its pool's initializer): ignore ``signals`` and unblock them."""
    signals = set(signals)
    for s in signals:
        signal.signal(s, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, signals)
