"""Which decoded frames a life keeps: nearest presentation timestamp to a fixed-rate time grid.

Rule (documented in docs/ingest.md): with local times ``t_j`` (seconds since the stream started,
non-decreasing) and a video of duration ``D``, the targets are ``k / fps`` for ``k = 0, 1, ...``
with ``k / fps < D``. Each target takes the frame whose time is nearest; a tie (distances within
1 microsecond) goes to the earlier frame. A frame that is nearest to several targets (source slower
than ``fps``, or a gap in a variable-frame-rate stream) is kept once. Kept frames keep their true
timestamps.
"""

from __future__ import annotations

import math
from typing import Any, Generic, NamedTuple, Sequence, TypeVar

import numpy as np

T = TypeVar("T")
TIE_EPS = 1e-6  # distances within a microsecond count as a tie (timestamps are rationals seen as floats)


def target_times(fps: float, duration: float) -> np.ndarray:
    """The sampling grid ``k / fps`` for ``k / fps < duration``."""
    from slife.ingest.config import MAX_FPS

    if not 0 < fps <= MAX_FPS or not math.isfinite(duration):
        raise ValueError(f"fps must be in (0, {MAX_FPS:g}] and the duration finite, got {fps}, {duration}")
    n = max(0, math.ceil(duration * fps) + 1)
    k = np.arange(n, dtype=np.float64)
    grid = k / fps
    return grid[grid < duration]


def select_frames(times: Sequence[float], fps: float, duration: float) -> list[int]:
    """Indices of the frames kept for ``times`` (sorted, non-decreasing) at ``fps`` (reference rule)."""
    times_arr = np.asarray(times, dtype=np.float64)
    if len(times_arr) == 0:
        return []
    kept: list[int] = []
    for t in target_times(fps, duration):
        j = int(np.searchsorted(times_arr, t, side="left"))  # first frame with time >= t
        if j == 0:
            best = 0
        elif j == len(times_arr):
            best = j - 1
        else:  # between frame j-1 (earlier) and j; tie -> earlier
            best = j - 1 if t - times_arr[j - 1] <= times_arr[j] - t + TIE_EPS else j
        if not kept or kept[-1] != best:
            kept.append(best)
    return kept


class Candidate(NamedTuple):
    index: int  # n-th decoded frame of the stream
    time: float  # local presentation time (seconds)
    payload: Any


class NearestSelector(Generic[T]):
    """Streaming form of :func:`select_frames`: push frames in presentation order, get kept ones.

    Holds at most one previous frame, so a decoder can feed it without buffering the video.
    """

    def __init__(self, fps: float):
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.fps = float(fps)
        self._k = 0
        self._prev: Candidate | None = None
        self._last_kept = -1

    def _target(self) -> float:
        return self._k / self.fps

    def _keep(self, cand: Candidate, out: list[Candidate]) -> None:
        if cand.index != self._last_kept:
            out.append(cand)
            self._last_kept = cand.index

    def push(self, index: int, time: float, payload: T) -> list[Candidate]:
        """Add the next decoded frame; returns the frames that are now known to be kept (in order)."""
        if self._prev is not None and time < self._prev.time:
            time = self._prev.time  # out-of-order timestamps: treat as simultaneous with the previous
        cur = Candidate(index, time, payload)
        out: list[Candidate] = []
        while self._target() <= time:
            t = self._target()
            prev = self._prev
            self._keep(prev if prev is not None and t - prev.time <= time - t + TIE_EPS else cur, out)
            self._k += 1
        self._prev = cur
        return out

    def finish(self, duration: float) -> list[Candidate]:
        """The last frame, if a target before ``duration`` is still waiting for it."""
        out: list[Candidate] = []
        if self._prev is not None and self._target() < duration:
            self._keep(self._prev, out)
        self._prev = None
        return out

    @property
    def last_time(self) -> float | None:
        return None if self._prev is None else self._prev.time
