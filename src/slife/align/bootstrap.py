"""Percentile-bootstrap intervals over test pairs (and over training seeds where a study has several).

A statistic is computed on the full sample (the point estimate) and on ``n`` resamples drawn with
replacement from a seeded generator; the interval is the (1 - c)/2 and (1 + c)/2 percentiles of the
resampled values (the percentile bootstrap, Efron & Tibshirani 1993, ch. 13). With several seeds the
two factors are crossed (every seed is scored on the same test pairs), so each resample draws seeds
and pairs independently, both with replacement, and averages over the drawn (seed, pair) cells.

Resamples whose statistic is not finite (e.g. none of the drawn pairs has a moving patch) are left
out; when fewer than half are finite the interval is NaN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

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
    filled = np.where(ok, v, 0.0)
    seeds = resample_indices(s, n, seed) if s > 1 else np.zeros((n, 1), dtype=np.int64)
    pairs = resample_indices(p, n, seed + 1)
    # sums over the drawn (seed, pair) cells without materialising them: weight of each seed and pair
    ws = np.stack([np.bincount(r, minlength=s) for r in seeds]).astype(np.float64)  # (n, S)
    wp = np.stack([np.bincount(r, minlength=p) for r in pairs]).astype(np.float64)  # (n, P)
    total = np.einsum("ns,sp,np->n", ws, filled, wp)
    count = np.einsum("ns,sp,np->n", ws, ok.astype(np.float64), wp)
    with np.errstate(invalid="ignore", divide="ignore"):
        reps = np.where(count > 0, total / np.maximum(count, 1), np.nan)
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
    ws = np.stack([np.bincount(r, minlength=s) for r in seeds]).astype(np.float64)
    wp = np.stack([np.bincount(r, minlength=p) for r in pairs]).astype(np.float64)
    top, bottom = np.einsum("ns,sp,np->n", ws, num, wp), np.einsum("ns,sp,np->n", ws, den, wp)
    with np.errstate(invalid="ignore", divide="ignore"):
        reps = np.where(bottom > 0, top / np.maximum(bottom, 1e-300), np.nan)
    return percentile_interval(value, reps, confidence)
