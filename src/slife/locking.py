"""One writer at a time per life or run directory: an advisory ``fcntl.flock`` on ``<dir>/.slife.lock``.

The kernel drops a flock when its holder exits, however it exits, so a lock left by a dead process is
simply taken over; the file's text (pid, start time, what holds it) is only there for the message a
second writer gets. Readers never take the lock.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from slife.errors import SlifeError

LOCK_FILE = ".slife.lock"


class LockedError(SlifeError):
    """Another process is writing into the directory."""


class DirLock:
    """Exclusive, non-blocking lock on a directory, held until :meth:`release` (or the process ends)."""

    def __init__(self, directory: str | Path, purpose: str) -> None:
        self.directory = Path(directory)
        self.purpose = purpose
        self._fd: int | None = None

    @property
    def path(self) -> Path:
        return self.directory / LOCK_FILE

    def acquire(self) -> "DirLock":
        if self._fd is not None:
            return self
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise SlifeError(f"{self.path}: cannot create the writer's lock file: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode("utf-8", "replace").strip().split(maxsplit=2)
            os.close(fd)
            pid, since, what = (holder + ["?", "?", "?"])[:3]
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(since))) if _is_float(since) else since
            raise LockedError(
                f"{self.directory}: locked by pid {pid} ({what}) since {when}; another slife process is writing "
                "here. Wait for it to finish or stop it, or use another directory"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {time.time():.0f} {self.purpose}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the descriptor drops the flock

    def __enter__(self) -> "DirLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:
        try:
            self.release()
        except Exception:  # interpreter shutdown: the kernel drops the lock with the process anyway
            pass


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
