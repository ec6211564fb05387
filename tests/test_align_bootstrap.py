"""Percentile-bootstrap intervals (slife.align.bootstrap)."""

import numpy as np
import pytest

from slife.align.bootstrap import (bootstrap, contrast_interval, format_interval, mean_interval, percentile_interval,
                                   ratio_interval, resample_indices)
from slife.errors import SlifeError


def test_interval_covers_the_mean_and_matches_the_normal_approximation() -> None:
    x = np.random.default_rng(0).normal(0.4, 0.1, 400)
    ci = mean_interval(x, n=2000, seed=0)
    assert ci.value == pytest.approx(x.mean()) and ci.low < x.mean() < ci.high
    half = 1.96 * x.std(ddof=1) / np.sqrt(len(x))  # the percentile bootstrap of a mean ~ the CLT interval
    assert (ci.high - ci.low) / 2 == pytest.approx(half, rel=0.1)


def test_width_shrinks_with_the_number_of_pairs() -> None:
    rng = np.random.default_rng(1)
    widths = []
    for pairs in (16, 64, 256, 1024):
        ci = mean_interval(rng.uniform(0, 1, pairs), n=1000, seed=0)
        widths.append(ci.high - ci.low)
    assert widths == sorted(widths, reverse=True)
    assert widths[0] / widths[-1] == pytest.approx(8.0, rel=0.25)  # ~ 1 / sqrt(pairs)


def test_deterministic_for_a_seed_and_different_for_another() -> None:
    x = np.random.default_rng(2).uniform(0, 1, 50)
    a, b, c = mean_interval(x, seed=3), mean_interval(x, seed=3), mean_interval(x, seed=4)
    assert a == b and (a.low, a.high) != (c.low, c.high)
    assert np.array_equal(resample_indices(5, 3, 7), resample_indices(5, 3, 7))


def test_generic_statistic_equals_the_vectorised_mean() -> None:
    x = np.random.default_rng(3).uniform(0, 1, 30)
    fast = mean_interval(x, n=300, seed=5)
    slow_pairs = resample_indices(30, 300, 6)  # mean_interval draws pairs from seed + 1
    reps = x[slow_pairs].mean(axis=1)
    slow = percentile_interval(float(x.mean()), reps)
    assert fast.low == pytest.approx(slow.low) and fast.high == pytest.approx(slow.high)
    generic = bootstrap(lambda idx: float(x[idx].mean()), 30, n=300, seed=6)
    assert generic.low == pytest.approx(slow.low) and generic.high == pytest.approx(slow.high)


def test_seeds_add_their_spread() -> None:
    rng = np.random.default_rng(4)
    pairs = rng.normal(0, 0.05, 64)
    same = np.stack([pairs + 0.5] * 4)  # four seeds that agree: the seed factor adds nothing
    differ = np.stack([pairs + m for m in (0.3, 0.4, 0.6, 0.7)])  # seeds that disagree widen it
    w_same = mean_interval(same, seed=0)
    w_pairs = mean_interval(pairs + 0.5, seed=0)
    w_differ = mean_interval(differ, seed=0)
    assert w_same.high - w_same.low == pytest.approx(w_pairs.high - w_pairs.low, rel=0.15)
    assert w_differ.high - w_differ.low > 3 * (w_same.high - w_same.low)
    assert w_differ.low < 0.5 < w_differ.high


def test_pooled_ratio_nan_items_and_errors() -> None:
    hits, total = np.array([3.0, 0.0, 5.0, 2.0]), np.array([4.0, 0.0, 10.0, 2.0])
    ci = ratio_interval(hits, total, n=500, seed=0)
    assert ci.value == pytest.approx(10 / 16) and ci.low <= ci.value <= ci.high
    with_nan = mean_interval([0.2, np.nan, 0.4], n=200)
    assert with_nan.value == pytest.approx(0.3) and 0.2 - 1e-12 <= with_nan.low <= with_nan.high <= 0.4 + 1e-12
    none = mean_interval([np.nan, np.nan], n=10)
    assert np.isnan(none.value) and np.isnan(none.low)
    assert np.isnan(mean_interval([0.5, 0.6], n=0).low)
    with pytest.raises(SlifeError, match="infinite"):
        mean_interval([0.1, np.inf])
    with pytest.raises(SlifeError, match="confidence"):
        mean_interval([0.1], confidence=1.0)
    with pytest.raises(SlifeError, match="resamples"):
        mean_interval([0.1], n=-1)
    assert format_interval(0.4123, 0.391, 0.4349) == "0.412 [0.39, 0.43]"
    assert format_interval(0.4123, float("nan"), float("nan")) == "0.412"


def test_contrast_of_two_groups_on_the_same_pairs() -> None:
    rng = np.random.default_rng(5)
    pair_effect = rng.normal(0, 0.2, 64)  # hard and easy pairs, shared by every model pair
    within = np.stack([0.50 + pair_effect + rng.normal(0, 0.02, 64) for _ in range(2)])
    across = np.stack([0.40 + pair_effect + rng.normal(0, 0.02, 64) for _ in range(3)])
    ci = contrast_interval(within, across, n=1000, seed=0)
    assert ci.value == pytest.approx(within.mean() - across.mean())
    assert ci.low < 0.1 < ci.high and ci.low > 0.05  # the shared pair effect cancels: a tight interval
    unpaired = mean_interval(within, seed=0)
    assert ci.high - ci.low < 0.5 * (unpaired.high - unpaired.low)
    same = contrast_interval(within, within, n=200, seed=1)
    assert same.value == 0.0 and same.low <= 0.0 <= same.high
    assert contrast_interval(within, across, seed=2) == contrast_interval(within, across, seed=2)
    with pytest.raises(SlifeError, match="same pairs"):
        contrast_interval(within, across[:, :10])


def test_half_sample_interval_of_a_mean_is_the_normal_interval() -> None:
    from slife.align.bootstrap import half_sample_interval, half_samples

    v = np.random.default_rng(5).normal(2.0, 1.5, size=201)
    reps = [v[h].mean() for h in half_samples(len(v), 4000, seed=1)]
    iv = half_sample_interval(v.mean(), reps, len(v), 0.95)
    half_width = 1.96 * v.std(ddof=1) / np.sqrt(len(v))
    assert iv.value == v.mean()
    assert iv.low == pytest.approx(v.mean() - half_width, abs=0.06 * half_width)
    assert iv.high == pytest.approx(v.mean() + half_width, abs=0.06 * half_width)
    assert all(len(set(h)) == len(h) == 100 for h in half_samples(201, 5))
    assert np.isnan(half_sample_interval(float("nan"), reps, len(v)).low)
