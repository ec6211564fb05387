"""Stop training cleanly on a signal: SIGINT (Ctrl-C), SIGTERM, SIGUSR1/SIGUSR2 (SLURM's warning before
preemption or the time limit). The handler only records the signal; the step loop finishes the step
it is in, saves ``last.pt`` and stops, so running the same command again resumes exactly. A second
SIGINT while saving interrupts at once (KeyboardInterrupt), as Ctrl-C twice is expected to.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

from slife.errors import SlifeError

STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGUSR1", "SIGUSR2") if hasattr(signal, n))


class TrainingStopped(SlifeError):
    """Training stopped on a signal after saving ``last.pt``; ``signum`` is the signal."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum

    def __reduce__(self) -> tuple:  # pickled across processes (slife.train.parallel): rebuild with signum
        return (type(self), (str(self), self.signum))


class StopRequest:
    """Which stop signal arrived first (None = none yet)."""

    def __init__(self) -> None:
        self.signum: int | None = None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else "-"

    def _handle(self, signum: int, frame: object) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # Ctrl-C twice: do not wait for the save
        if self.signum is None:
            self.signum = signum


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """Install the handlers for the block (main thread only; elsewhere signals keep their handlers)."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = {s: signal.signal(s, request._handle) for s in STOP_SIGNALS}
    try:
        yield request
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
