"""Percentile-bootstrap intervals over test pairs (and over training seeds where a study has several).

A statistic is computed on the full sample (the point estimate) and on ``n`` resamples drawn with
replacement from a seeded generator; the interval is the (1 - c)/2 and (1 + c)/2 percentiles of the
resampled values (the percentile bootstrap, Efron & Tibshirani 1993, ch. 13). With several seeds the
two factors are crossed (every seed is scored on the same test pairs), so each resample draws seeds
and pairs independently, both with replacement, and averages over the drawn (seed, pair) cells.

Resamples whose statistic is not finite (e.g. none of the drawn pairs has a moving patch) are left
out; when fewer than half are finite the interval is NaN.

Statistics that are not smooth in the sample's weights, like nearest-neighbour overlaps, are not
bootstrapped: a repeated item changes what its neighbours are. :func:`half_sample_interval` takes
their interval from subsets of half the items drawn without replacement instead (the delete-d
jackknife with d = n/2, Shao & Wu 1989): the spread of the half-sample values around their mean,
scaled by sqrt(m / (n - m)), estimates the spread of the full-sample value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from slife.errors import SlifeError


@dataclass(frozen=True)
class Interval:
    """A point estimate with its percentile-bootstrap interval."""

    value: float
    low: float
    high: float
    confidence: float = 0.95
    resamples: int = 0

    def __str__(self) -> str:
        return format_interval(self.value, self.low, self.high)

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "low": self.low, "high": self.high, "confidence": self.confidence,
                "resamples": self.resamples}  # fmt: skip


def format_interval(value: float, low: float, high: float) -> str:
    """``0.412 [0.39, 0.43]`` (the interval at one decimal less); ``-`` parts for NaN."""

    def f(v: float, digits: int) -> str:
        return "-" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"

    if low is None or not (np.isfinite(low) and np.isfinite(high)):
        return f(value, 3)
    return f"{f(value, 3)} [{f(low, 2)}, {f(high, 2)}]"


def _check(n: int, confidence: float) -> None:
    if n < 0:
        raise SlifeError(f"bootstrap: the number of resamples must be >= 0, got {n}")
    if not 0.0 < confidence < 1.0:
        raise SlifeError(f"bootstrap: confidence must be in (0, 1), got {confidence}")


def resample_indices(n_items: int, n: int, seed: int = 0) -> np.ndarray:
    """(n, n_items) int64 indices drawn with replacement, from ``seed``."""
    if n_items < 1:
        raise SlifeError("bootstrap: nothing to resample (no items)")
    return np.random.default_rng(seed).integers(0, n_items, size=(n, n_items))


def percentile_interval(value: float, replicates: np.ndarray, confidence: float = 0.95) -> Interval:
    """The interval of already computed bootstrap ``replicates`` around ``value``."""
    reps = np.asarray(replicates, dtype=np.float64).ravel()
    finite = reps[np.isfinite(reps)]
    if not np.isfinite(value) or len(finite) == 0 or len(finite) < len(reps) / 2:
        return Interval(float(value), float("nan"), float("nan"), confidence, len(reps))
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(finite, [alpha, 1.0 - alpha])
    return Interval(float(value), float(low), float(high), confidence, len(reps))


def bootstrap(statistic: Callable[[np.ndarray], float], n_items: int, n: int = 1000, confidence: float = 0.95,
              seed: int = 0) -> Interval:  # fmt: skip
    """Interval of any ``statistic(indices)`` of a sample of ``n_items`` items (e.g. test pairs):
    the estimate is ``statistic(arange(n_items))``, the replicates ``statistic`` of resampled indices."""
    _check(n, confidence)
    value = float(statistic(np.arange(n_items)))
    if n == 0:
        return Interval(value, float("nan"), float("nan"), confidence, 0)
    reps = np.array([statistic(idx) for idx in resample_indices(n_items, n, seed)], dtype=np.float64)
    return percentile_interval(value, reps, confidence)


def half_samples(n_items: int, n: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` sorted subsets of ``n_items // 2`` distinct items, from ``seed``."""
    if n_items < 2:
        raise SlifeError(f"bootstrap: half-samples need at least 2 items, got {n_items}")
    rng = np.random.default_rng(seed)
    return [np.sort(rng.choice(n_items, size=n_items // 2, replace=False)) for _ in range(n)]


def half_sample_interval(value: float, replicates: Any, n_items: int, confidence: float = 0.95) -> Interval:
    """The interval of a full-sample ``value`` from its values on half-samples of ``n_items`` items
    (:func:`half_samples`): value + the percentiles of sqrt(m / (n - m)) (replicate - their mean)."""
    _check(0, confidence)
    reps = np.asarray(replicates, dtype=np.float64).ravel()
    finite = np.isfinite(reps)
    centre = reps[finite].mean() if finite.any() else 0.0
    m = n_items // 2
    return percentile_interval(value, value + np.sqrt(m / (n_items - m)) * (reps - centre), confidence)


def established(entry: Sequence[float] | None) -> bool:
    """True when a [value, low, high] difference has its interval above 0 (a NaN interval is not)."""
    return bool(entry) and entry[1] is not None and bool(np.isfinite(entry[1])) and entry[1] > 0


def _values(values: Any, what: str) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if np.isinf(v).any():
        raise SlifeError(f"bootstrap: {what} contains infinite values")
    return v


def mean_interval(values: Any, n: int = 1000, confidence: float = 0.95, seed: int = 0) -> Interval:
    """Interval of the mean of per-item ``values``: (P,) over pairs, or (S, P) over seeds x pairs
    (crossed: seeds and pairs resampled independently). NaN items (e.g. pairs without any selected
    patch) are left out of every mean, as :func:`numpy.nanmean` does."""
    _check(n, confidence)
    v = _values(values, "values")
    if v.ndim == 1:
        v = v[None]
    if v.ndim != 2 or v.size == 0:
        raise SlifeError(f"bootstrap: values must be (pairs,) or (seeds, pairs), got shape {v.shape}")
    ok = np.isfinite(v)
    if not ok.any():
        return Interval(float("nan"), float("nan"), float("nan"), confidence, n)
    value = float(v[ok].mean())
    if n == 0:
        return Interval(value, float("nan"), float("nan"), confidence, 0)
    s, p = v.shape
    seeds = resample_indices(s, n, seed) if s > 1 else np.zeros((n, 1), dtype=np.int64)
    # sums over the drawn (seed, pair) cells without materialising them: how often each is drawn
    reps = _group_means(v, seeds, _weights(resample_indices(p, n, seed + 1), p))
    return percentile_interval(value, reps, confidence)


def ratio_interval(numerator: Any, denominator: Any, n: int = 1000, confidence: float = 0.95,
                   seed: int = 0) -> Interval:  # fmt: skip
    """Interval of a pooled ratio sum(numerator) / sum(denominator) over pairs (P,) or seeds x pairs
    (S, P), e.g. GT alignment: hits / patches with ground truth, every patch weighing the same."""
    _check(n, confidence)
    num, den = _values(numerator, "numerator"), _values(denominator, "denominator")
    if num.shape != den.shape or num.ndim not in (1, 2) or num.size == 0:
        raise SlifeError(f"bootstrap: numerator {num.shape} and denominator {den.shape} must be equal (P,) or (S, P)")
    if not (np.isfinite(num).all() and np.isfinite(den).all()):
        raise SlifeError("bootstrap: ratio counts must be finite")
    if num.ndim == 1:
        num, den = num[None], den[None]
    value = float(num.sum() / den.sum()) if den.sum() > 0 else float("nan")
    if n == 0:
        return Interval(value, float("nan"), float("nan"), confidence, 0)
    s, p = num.shape
    seeds = resample_indices(s, n, seed) if s > 1 else np.zeros((n, 1), dtype=np.int64)
    pairs = resample_indices(p, n, seed + 1)
    ws, wp = _weights(seeds, s), _weights(pairs, p)
    top, bottom = np.einsum("ns,sp,np->n", ws, num, wp), np.einsum("ns,sp,np->n", ws, den, wp)
    with np.errstate(invalid="ignore", divide="ignore"):
        reps = np.where(bottom > 0, top / np.maximum(bottom, 1e-300), np.nan)
    return percentile_interval(value, reps, confidence)


def _weights(idx: np.ndarray, size: int) -> np.ndarray:
    """(n, size) how often each item is drawn in each resample of ``idx`` (n, draws)."""
    return np.stack([np.bincount(r, minlength=size) for r in idx]).astype(np.float64)


def _group_means(v: np.ndarray, seed_idx: np.ndarray, wp: np.ndarray) -> np.ndarray:
    ok = np.isfinite(v)
    ws = _weights(seed_idx, v.shape[0])
    total = np.einsum("ns,sp,np->n", ws, np.where(ok, v, 0.0), wp)
    count = np.einsum("ns,sp,np->n", ws, ok.astype(np.float64), wp)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def contrast_interval(group_a: Any, group_b: Any, n: int = 1000, confidence: float = 0.95, seed: int = 0) -> Interval:
    """Interval of mean(group_a) - mean(group_b), each (members, pairs) per-pair values on the **same**
    test pairs (e.g. CAS of within-family model pairs vs across-family ones, or several seeds of each):
    every resample draws the pairs once for both groups and each group's members independently, so the
    pair-to-pair variation shared by the two groups cancels as it should. (P,) inputs are one member."""
    _check(n, confidence)
    a, b = (np.atleast_2d(_values(g, "values")) for g in (group_a, group_b))
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or a.size == 0 or b.size == 0:
        raise SlifeError(f"bootstrap: groups must be (members, pairs) on the same pairs, got {a.shape} and {b.shape}")
    fa, fb = np.isfinite(a), np.isfinite(b)
    if not (fa.any() and fb.any()):
        return Interval(float("nan"), float("nan"), float("nan"), confidence, n)
    value = float(a[fa].mean() - b[fb].mean())
    if n == 0:
        return Interval(value, float("nan"), float("nan"), confidence, 0)
    rng = np.random.default_rng(seed)
    pairs = rng.integers(0, a.shape[1], size=(n, a.shape[1]))
    wp = _weights(pairs, a.shape[1])
    ia = rng.integers(0, a.shape[0], size=(n, a.shape[0])) if a.shape[0] > 1 else np.zeros((n, 1), dtype=np.int64)
    ib = rng.integers(0, b.shape[0], size=(n, b.shape[0])) if b.shape[0] > 1 else np.zeros((n, 1), dtype=np.int64)
    return percentile_interval(value, _group_means(a, ia, wp) - _group_means(b, ib, wp), confidence)
