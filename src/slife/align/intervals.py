"""Bootstrap intervals of the alignment numbers: CAS of two ranked matchers and GT alignment, over the
test pairs (slife.align.bootstrap). Pairs are the resampled unit; CAS is a mean of per-pair values,
GT alignment a ratio pooled over patches (hits / patches with ground truth), as the point estimates are."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from slife.align.analysis import Ranked, gt_hits, moving_patches, ranked_cas_per_pair
from slife.align.bootstrap import Interval, mean_interval, ratio_interval
from slife.align.testset import TestSet


def cas_interval(a: Ranked, b: Ranked, n: int = 1000, confidence: float = 0.95, seed: int = 0,
                 where: np.ndarray | None = None) -> Interval:  # fmt: skip
    """CAS of two ranked matchers (their direction's rows; ``where`` restricts to target patches) with
    its percentile-bootstrap interval over test pairs."""
    return mean_interval(ranked_cas_per_pair(a, b, where), n, confidence, seed)


def gt_counts(ranked: Ranked, testset: TestSet, r: int, where: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per pair (P,): target patches whose top-1 is within ``r`` of the truth, and patches with GT
    (within ``where`` when given): the numerator and denominator of GT alignment."""
    valid = testset.gt >= 0
    if where is not None:
        valid = valid & np.asarray(where, dtype=bool)
    hits = gt_hits(ranked, testset, r) & valid
    return hits.sum(axis=1).astype(np.float64), valid.sum(axis=1).astype(np.float64)


def gt_interval(ranked: Ranked, testset: TestSet, r: int, n: int = 1000, confidence: float = 0.95, seed: int = 0,
                where: np.ndarray | None = None) -> Interval:  # fmt: skip
    """GT alignment at radius ``r`` (pooled over patches) with its bootstrap interval over pairs."""
    return ratio_interval(*gt_counts(ranked, testset, r, where), n, confidence, seed)


def gt_intervals(ranked: Ranked, testset: TestSet, radii: tuple[int, ...], n: int = 1000, confidence: float = 0.95,
                 seed: int = 0) -> dict[str, list[float]]:  # fmt: skip
    """[low, high] for every key of :func:`slife.align.analysis.gt_scores` (``r0``, ``moving_r0``, ...)."""
    moving = moving_patches(testset)
    out = {}
    for r in radii:
        for key, where in ((f"r{r}", None), (f"moving_r{r}", moving)):
            ci = gt_interval(ranked, testset, r, n, confidence, seed, where)
            out[key] = [ci.low, ci.high]
    return out


def matrix_intervals(ranked: Mapping[str, Ranked], n: int = 1000, confidence: float = 0.95, seed: int = 0,
                     where: np.ndarray | None = None) -> list[list[list[float]]]:  # fmt: skip
    """M x M of [low, high] CAS intervals for the named ranked matchers ([1, 1] on the diagonal)."""
    names = list(ranked)
    out: list[list[Any]] = [[[1.0, 1.0] for _ in names] for _ in names]
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            ci = cas_interval(ranked[a], ranked[names[j]], n, confidence, seed, where)
            out[i][j] = out[j][i] = [ci.low, ci.high]
    return out
