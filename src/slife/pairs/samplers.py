"""Pair samplers over a life: each draws (source, target) global frame indices.

Every sampler has ``sample(n, rng, end=None) -> (n, 2) int64`` and ``min_end``: with ``end`` given,
both frames lie in the prefix ``[0, end)`` of the life (frames are stored in chronological order,
so a prefix is "the video seen so far"; see slife.train's streaming). ``min_end`` is the shortest
prefix in which the sampler can draw at all. Samplers hold no random state: the same ``rng`` state
gives the same pairs.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

from slife.errors import SlifeError

_EPS = 1e-9


class Sampler(Protocol):
    name: str
    min_end: int

    def sample(self, n: int, rng: np.random.Generator, end: int | None = None) -> np.ndarray: ...


def _check_end(sampler: Sampler, end: int | None, total: int) -> int:
    end = total if end is None else min(int(end), total)
    if end < sampler.min_end:
        raise SlifeError(
            f"{sampler.name} sampler: no valid pair within the first {end} frames (needs at least {sampler.min_end})"
        )
    return end


class TemporalSampler:
    """Target = the frame of the same video nearest to t(source) +- D, D ~ U[min_gap, max_gap] seconds.

    "Video" is any contiguous group of frames given as ``video_index``; :meth:`for_life` passes the
    life's segments (continuous takes), so pairs never cross a cut.

    The sign is random [ours]: CroCo pairs carry no temporal order, so the masked target is as likely
    to precede the source as to follow it (when only one direction fits in the video or the window,
    that one is used). The target is chosen among frames whose gap lies in [min_gap, max_gap], so
    every realised gap honours the bounds even at low frame rates.
    """

    name = "temporal"

    def __init__(self, timestamps: np.ndarray, video_index: np.ndarray, min_gap: float = 0.5, max_gap: float = 5.0):
        if not 0 <= min_gap <= max_gap:
            raise SlifeError(f"temporal sampler: need 0 <= min_gap <= max_gap, got [{min_gap}, {max_gap}]")
        self.min_gap, self.max_gap = float(min_gap), float(max_gap)
        t = np.asarray(timestamps, dtype=np.float64)
        vid = np.asarray(video_index, dtype=np.int64)
        self.t = t
        n = len(t)
        # valid target ranges [lo, hi) per frame, forward (later) and backward (earlier), same video
        self.lo_f, self.hi_f = np.zeros(n, np.int64), np.zeros(n, np.int64)
        self.lo_b, self.hi_b = np.zeros(n, np.int64), np.zeros(n, np.int64)
        for v in np.unique(vid):
            idx = np.flatnonzero(vid == v)
            a, b = int(idx[0]), int(idx[-1]) + 1
            if b - a != len(idx):
                raise SlifeError("temporal sampler: frames of a video must be contiguous")
            tv = t[a:b]
            self.lo_f[a:b] = a + np.searchsorted(tv, tv + min_gap - _EPS, "left")
            self.hi_f[a:b] = a + np.searchsorted(tv, tv + max_gap + _EPS, "right")
            self.lo_b[a:b] = a + np.searchsorted(tv, tv - max_gap - _EPS, "left")
            self.hi_b[a:b] = a + np.searchsorted(tv, tv - min_gap + _EPS, "right")
        if min_gap == 0:  # a frame is not its own temporal partner
            self.lo_f = np.maximum(self.lo_f, np.arange(n) + 1)
            self.hi_b = np.minimum(self.hi_b, np.arange(n))
        ok_b = self.hi_b > self.lo_b
        ok_f = self.hi_f > self.lo_f
        # earliest prefix length in which frame i has a partner
        need = np.full(n, np.iinfo(np.int64).max)
        need[ok_f] = self.lo_f[ok_f] + 1
        need[ok_b] = np.arange(n)[ok_b] + 1
        self._need = need
        self.min_end = int(need.min()) if n and (ok_b | ok_f).any() else np.iinfo(np.int64).max
        self._cache: tuple[int, np.ndarray] | None = None
        steps = np.diff(t)[np.diff(vid) == 0] if n > 1 else np.zeros(0)
        self._tol = 0.5 * float(np.median(steps)) + _EPS if len(steps) else _EPS  # half a frame interval
        if self.min_end == np.iinfo(np.int64).max:
            raise SlifeError(
                f"temporal sampler: no two frames of the same video are {min_gap}-{max_gap} s apart "
                "(videos too short? lower data.temporal.min_gap)"
            )

    @classmethod
    def for_life(cls, life, min_gap: float = 0.5, max_gap: float = 5.0) -> "TemporalSampler":
        """Temporal pairs within each segment of ``life`` (``Life.segment_index``: a video, or a clip or
        camera of the controls): a pair never straddles a hard cut."""
        return cls(life.timestamps, life.segment_index, min_gap, max_gap)

    def _nearest(self, when: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Frame in [lo, hi) nearest in time to ``when`` (lo for empty ranges, then unused)."""
        last = len(self.t) - 1
        lo = np.minimum(lo, last)
        top = np.minimum(np.maximum(hi - 1, lo), last)
        j = np.clip(np.searchsorted(self.t, when), lo, top)
        prev = np.clip(j - 1, lo, top)
        return np.where(np.abs(self.t[prev] - when) <= np.abs(self.t[j] - when), prev, j)

    def _sources(self, end: int) -> np.ndarray:
        if self._cache is None or self._cache[0] != end:
            self._cache = (end, np.flatnonzero(self._need[:end] <= end))
        return self._cache[1]

    def sample(self, n: int, rng: np.random.Generator, end: int | None = None) -> np.ndarray:
        end = _check_end(self, end, len(self.t))
        sources = self._sources(end)
        src = sources[rng.integers(0, len(sources), size=n)]
        gap = rng.uniform(self.min_gap, self.max_gap, size=n)
        want_forward = rng.random(n) < 0.5
        hi_f = np.minimum(self.hi_f[src], end)
        can_f = hi_f > self.lo_f[src]
        can_b = self.hi_b[src] > self.lo_b[src]
        tgt_f = self._nearest(self.t[src] + gap, self.lo_f[src], hi_f)
        tgt_b = self._nearest(self.t[src] - gap, self.lo_b[src], self.hi_b[src])
        err_f = np.where(can_f, np.abs(self.t[tgt_f] - self.t[src] - gap), np.inf)
        err_b = np.where(can_b, np.abs(self.t[src] - self.t[tgt_b] - gap), np.inf)
        # take the drawn direction if the drawn gap fits there (up to frame quantisation), else the
        # other one if it fits, else the closer of the two
        fit_f, fit_b = err_f <= self._tol, err_b <= self._tol
        forward = np.where(want_forward, fit_f | (~fit_b & (err_f <= err_b)), ~(fit_b | (~fit_f & (err_b <= err_f))))
        tgt = np.where(forward, tgt_f, tgt_b)
        return np.stack([src, tgt], axis=1).astype(np.int64)


class RandomSampler:
    """Two distinct frames drawn uniformly from the (visible part of the) life."""

    name = "random"

    def __init__(self, num_frames: int):
        self.num_frames = int(num_frames)
        self.min_end = 2
        if self.num_frames < 2:
            raise SlifeError("random sampler: the life needs at least 2 frames")

    def sample(self, n: int, rng: np.random.Generator, end: int | None = None) -> np.ndarray:
        end = _check_end(self, end, self.num_frames)
        a = rng.integers(0, end, size=n)
        b = (a + rng.integers(1, end, size=n)) % end  # uniform over the other end - 1 frames
        return np.stack([a, b], axis=1).astype(np.int64)


class AugmentedSampler:
    """The same frame twice (only the augmentations differ): the weakest baseline."""

    name = "augmented"

    def __init__(self, num_frames: int):
        self.num_frames = int(num_frames)
        self.min_end = 1
        if self.num_frames < 1:
            raise SlifeError("augmented sampler: the life has no frames")

    def sample(self, n: int, rng: np.random.Generator, end: int | None = None) -> np.ndarray:
        end = _check_end(self, end, self.num_frames)
        a = rng.integers(0, end, size=n)
        return np.stack([a, a], axis=1).astype(np.int64)


class IndexSampler:
    """Draws from a precomputed list of unordered pairs (e.g. the spatial index).

    Pairs are weighted so that every frame is about equally likely to take part [ours]: pair (i, j) has
    weight (1/deg(i) + 1/deg(j)) / 2, deg = the frame's number of partners in the index. Uniform draws over
    pairs would let pauses (where every frame overlaps every other, so pairs grow quadratically) and
    close-ups dominate. Each pair is returned in a random orientation [ours].
    """

    def __init__(self, pairs: np.ndarray, name: str = "spatial"):
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        if len(pairs) == 0:
            raise SlifeError(f"{name} sampler: the pair index is empty")
        order = np.argsort(pairs.max(axis=1), kind="stable")
        self.pairs = pairs[order]
        self._ends = self.pairs.max(axis=1) + 1  # sorted: pairs[:k] are those inside a prefix
        degree = np.bincount(self.pairs.ravel(), minlength=int(self._ends[-1])).astype(np.float64)
        weights = 0.5 * (1.0 / degree[self.pairs[:, 0]] + 1.0 / degree[self.pairs[:, 1]])
        self._cum_weights = np.cumsum(weights)
        self.min_end = int(self._ends[0])
        self.name = name

    def sample(self, n: int, rng: np.random.Generator, end: int | None = None) -> np.ndarray:
        end = _check_end(self, end, int(self._ends[-1]))
        count = int(np.searchsorted(self._ends, end, "right"))
        u = rng.random(n) * self._cum_weights[count - 1]
        picked = np.minimum(np.searchsorted(self._cum_weights, u, "right"), count - 1)
        chosen = self.pairs[picked]
        swap = rng.random(n) < 0.5
        return np.where(swap[:, None], chosen[:, ::-1], chosen).astype(np.int64)


class MixSampler:
    """A weighted mixture: each pair comes from one component, chosen with probability ~ weight.

    Components that cannot draw inside the current prefix (``end``) are left out and the others'
    weights renormalised, so e.g. temporal pairs start at once and spatial ones join when the first
    overlapping views have been seen.
    """

    name = "mix"

    def __init__(self, samplers: Sequence[Sampler], weights: Sequence[float]):
        if len(samplers) != len(weights) or not samplers:
            raise SlifeError("mix sampler: need one weight per sampler and at least one sampler")
        w = np.asarray(weights, dtype=np.float64)
        if (w < 0).any() or w.sum() <= 0:
            raise SlifeError(f"mix sampler: weights must be >= 0 with a positive sum, got {list(weights)}")
        keep = w > 0
        self.samplers = [s for s, k in zip(samplers, keep) if k]
        self.weights = w[keep] / w[keep].sum()
        self.min_end = min(s.min_end for s in self.samplers)
        self.name = "+".join(s.name for s in self.samplers)

    def sample(self, n: int, rng: np.random.Generator, end: int | None = None) -> np.ndarray:
        ends = [s.min_end for s in self.samplers]
        if end is None:
            end = np.iinfo(np.int64).max
        if end < self.min_end:
            raise SlifeError(f"mix sampler: no valid pair within the first {end} frames (needs {self.min_end})")
        w = np.where(np.asarray(ends) <= end, self.weights, 0.0)
        which = rng.choice(len(self.samplers), size=n, p=w / w.sum())
        out = np.empty((n, 2), dtype=np.int64)
        for k, sampler in enumerate(self.samplers):
            sel = np.flatnonzero(which == k)
            if len(sel):
                out[sel] = sampler.sample(len(sel), rng, None if end == np.iinfo(np.int64).max else end)
        return out
