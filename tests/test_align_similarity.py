"""Representation-similarity metrics on known values (slife.align.similarity)."""

import itertools

import numpy as np
import pytest
import torch

from slife.align.similarity import (METRICS, best_layer_pair, cknna, hsic_unbiased, knn_sets, linear_cka,
                                    metric_function, mutual_knn, null_level, prepare,
                                    unbiased_cka)
from slife.errors import SlifeError


def _gauss(n: int, p: int, seed: int) -> torch.Tensor:
    return torch.randn(n, p, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _orthogonal(p: int, seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(_gauss(p, p, seed))
    return q


@pytest.mark.parametrize("metric", METRICS)
def test_a_representation_with_itself_is_one(metric: str) -> None:
    x = _gauss(80, 12, 0)
    assert metric_function(metric, k=5)(x, x) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("metric", METRICS)
def test_invariant_to_orthogonal_maps_and_isotropic_scaling(metric: str) -> None:
    x, y = _gauss(80, 12, 1), _gauss(80, 12, 2)
    y = y + 0.8 * x  # related, so the value is not trivially 0
    f = metric_function(metric, k=5)
    base = f(x, y)
    assert 0.1 < base < 0.99
    moved = 3.7 * x @ _orthogonal(12, 3)
    assert f(moved, y) == pytest.approx(base, abs=1e-9)
    assert f(x, moved) == pytest.approx(1.0, abs=1e-9)


def test_independent_random_features_are_near_their_null() -> None:
    n, k = 400, 10
    x, y = _gauss(n, 32, 4), _gauss(n, 32, 5)
    assert abs(unbiased_cka(x, y)) < 0.03 and null_level("unbiased_cka", n) == 0.0
    assert abs(cknna(x, y, k)) < 0.1 and null_level("cknna", n) == 0.0
    assert mutual_knn(x, y, k) == pytest.approx(k / (n - 1), abs=0.02) and null_level("mutual_knn", n, k) == k / (n - 1)
    biased = linear_cka(x, y)
    assert 0.03 < biased < 0.2 and null_level("cka", n) is None  # linear CKA is biased up by 32-wide features


def test_linear_cka_hand_computed() -> None:
    # centred x = (-1, 0, 1, 0)... a 1-D case: CKA = corr(x, y)^2
    x = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    y = torch.tensor([[1.0], [3.0], [2.0], [4.0]])
    # centred: x = (-1.5, -.5, .5, 1.5), y = (-1.5, .5, -.5, 1.5): x.y = 2.25 - .25 - .25 + 2.25 = 4, |x|^2 = |y|^2 = 5
    assert linear_cka(x, y) == pytest.approx((4 / 5) ** 2)
    assert linear_cka(x, -y) == pytest.approx((4 / 5) ** 2)


def test_unbiased_hsic_is_the_u_statistic() -> None:
    x, y = _gauss(6, 3, 6), _gauss(6, 2, 7)
    k, l = x @ x.T, y @ y.T
    terms = [k[i, j] * l[i, j] + k[i, j] * l[q, r] - 2 * k[i, j] * l[i, q]
             for i, j, q, r in itertools.permutations(range(6), 4)]  # fmt: skip
    assert float(hsic_unbiased(k, l)) == pytest.approx(float(sum(terms) / len(terms)), rel=1e-12)


def test_knn_and_mutual_knn_by_hand() -> None:
    # directions at 0, 9, 20, 90, 100 degrees: each one's nearest neighbour by cosine similarity
    deg = torch.tensor([0.0, 9.0, 20.0, 90.0, 100.0]) * torch.pi / 180
    x = torch.stack([deg.cos(), deg.sin()], dim=1)
    assert knn_sets(x, 1)[:, 0].tolist() == [1, 0, 1, 4, 3]
    # in y, 1 is nearer 2 than 0, and 3 sits next to 2: samples 0 and 4 keep their neighbour
    deg_y = torch.tensor([0.0, 12.0, 20.0, 25.0, 100.0]) * torch.pi / 180
    y = torch.stack([deg_y.cos(), deg_y.sin()], dim=1)
    assert knn_sets(y, 1)[:, 0].tolist() == [1, 2, 3, 2, 3]
    assert mutual_knn(x, y, k=1) == pytest.approx(2 / 5)
    # exact ties go to the lower index: (0, 1) is at 90 degrees from both (1, 0) and (-1, 0)
    tied = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    assert knn_sets(tied, 2).tolist() == [[1, 3], [0, 2], [1, 3], [0, 2]]


def test_cknna_with_every_neighbour_is_the_unbiased_cka_of_normalised_features() -> None:
    x, y = _gauss(30, 6, 8), _gauss(30, 5, 9)
    y[:, :5] += x[:, :5]
    norm = lambda t: t / t.norm(dim=1, keepdim=True)  # noqa: E731
    assert cknna(x, y, k=29) == pytest.approx(unbiased_cka(norm(x), norm(y)), abs=1e-12)
    assert cknna(x, y, k=5) != pytest.approx(cknna(x, y, k=29), abs=1e-3)


def test_best_layer_pair_search_and_errors() -> None:
    x = _gauss(50, 8, 10)
    a = {"enc0": prepare(_gauss(50, 8, 11)), "enc1": prepare(x)}
    b = {"dec0": prepare(2.0 * x), "dec1": prepare(_gauss(50, 8, 12))}
    found = best_layer_pair(a, b, "cka")
    assert found["layers"] == ["enc1", "dec0"] and found["value"] == pytest.approx(1.0)
    assert np.array(found["grid"]).shape == (2, 2)
    with pytest.raises(SlifeError, match="NaN"):
        linear_cka(torch.full((5, 2), float("nan")), x[:5])
    with pytest.raises(SlifeError, match="different numbers"):
        linear_cka(x, x[:10])
    with pytest.raises(SlifeError, match="k must be"):
        mutual_knn(x, x, k=50)
    with pytest.raises(SlifeError, match="metric"):
        metric_function("rsa")
    assert np.isnan(linear_cka(torch.ones(5, 2, dtype=torch.float64), x[:5]))  # a constant representation


# ---- bootstrap resamples -----------------------------------------------------------------------
def _grouped(n_units: int, per_unit: int, p: int, seed: int) -> torch.Tensor:
    """Features of n_units x per_unit samples, samples of one unit correlated (like patches of one pair)."""
    g = torch.Generator().manual_seed(seed)
    unit = torch.randn(n_units, 1, p, generator=g, dtype=torch.float64)
    return (unit + 0.7 * torch.randn(n_units, per_unit, p, generator=g, dtype=torch.float64)).reshape(-1, p)


@pytest.mark.parametrize("metric", METRICS)
def test_a_subset_is_the_metric_of_those_samples(metric: str) -> None:
    from slife.align.similarity import compare, subset

    x, y = _gauss(90, 8, 20), _gauss(90, 8, 21)
    y = y + 0.6 * x
    idx = np.sort(np.random.default_rng(0).permutation(90)[:70])
    a, b = subset(prepare(x, 5), idx), subset(prepare(y, 5), idx)
    assert compare(a, b, metric) == pytest.approx(metric_function(metric, k=5)(x[idx], y[idx]), abs=1e-9)
    with pytest.raises(SlifeError, match="distinct"):
        subset(prepare(x, 5), [0, 0, 1, 2, 3])


def test_half_sample_intervals_cover_and_bootstrapping_neighbours_does_not() -> None:
    """Over many draws of a test set (units of correlated samples, two related representations), the
    half-sample interval of mutual k-NN covers the metric's mean over draws about as often as it
    says; resampling units with replacement makes every repeated unit's patches each other's
    neighbours in both representations, so the bootstrap's values sit above the estimate."""
    from slife.align.bootstrap import half_sample_interval, half_samples
    from slife.align.similarity import compare, subset

    n_units, per, k, draws = 24, 6, 4, 40
    units = np.repeat(np.arange(n_units), per)
    members = [np.flatnonzero(units == u) for u in range(n_units)]
    estimates, intervals, inflation = [], [], []
    for d in range(draws):
        x = _grouped(n_units, per, 10, 100 + d)
        y = 0.8 * x @ _orthogonal(10, 7) + _gauss(len(x), 10, 200 + d)
        px, py = prepare(x, k), prepare(y, k)
        value = compare(px, py, "mutual_knn")
        reps = [compare(subset(px, i), subset(py, i), "mutual_knn")
                for i in (np.concatenate([members[u] for u in h]) for h in half_samples(n_units, 40, d))]
        intervals.append(half_sample_interval(value, reps, n_units, 0.9))
        estimates.append(value)
        if d < 5:
            boot = np.random.default_rng(d).integers(0, n_units, size=(10, n_units))
            inflation += [mutual_knn(x[np.concatenate([members[u] for u in b])], y[np.concatenate([members[u] for u in b])], k)
                          - value for b in boot]  # fmt: skip
    target = float(np.mean(estimates))
    covered = np.mean([iv.low <= target <= iv.high for iv in intervals])
    assert 0.75 <= covered <= 1.0, covered  # 90 % intervals
    spread = np.std(estimates)
    widths = np.mean([iv.high - iv.low for iv in intervals])
    assert 0.6 < widths / (2 * 1.645 * spread) < 1.6  # the width matches the draw-to-draw spread
    assert np.mean(inflation) > 2 * spread  # bootstrapped neighbour overlaps are biased up


def test_similarity_report_intervals_groups_and_contrasts() -> None:
    from slife.align.features import similarity_report

    n_units, per = 30, 8
    units = np.repeat(np.arange(n_units), per)
    x = _grouped(n_units, per, 12, 25)
    reps = {"a": {"l0": x.float(), "l1": _gauss(len(x), 12, 26).float()},
            "b": {"l0": (2.5 * x @ _orthogonal(12, 27)).float()},  # a rotated and scaled: the same representation
            "c": {"l0": _grouped(n_units, per, 12, 28).float()}}  # independent
    rep = similarity_report(reps, ("mutual_knn", "unbiased_cka"), k=5, units=units, bootstrap=60, seed=3,
                            groups={"same": [("a", "b")], "other": [("a", "c"), ("b", "c")]},
                            contrasts=[("same", "other")])  # fmt: skip
    assert rep["bootstrap"] == {"resamples": 60, "confidence": 0.95, "unit": "test pair", "units": n_units,
                                "method": "half-samples"}  # fmt: skip
    for metric in ("mutual_knn", "unbiased_cka"):
        block = rep[metric]
        assert block["layers"][0][1] == ["l0", "l0"]
        assert block["interval"][0][1] == pytest.approx([1.0, 1.0], abs=1e-6)  # a and b agree in every half-sample
        low, high = block["interval"][0][2]
        assert low <= block["value"][0][2] <= high and high < 0.5
        same, other = block["groups"]["same"], block["groups"]["other"]
        assert same[0] == pytest.approx(1.0, abs=1e-6) and other[1] <= other[0] <= other[2]
        diff = block["contrasts"]["same - other"]
        assert diff[0] == pytest.approx(same[0] - other[0]) and diff[1] > 0.4  # established, from the intervals
    with pytest.raises(SlifeError, match="unit of each"):
        similarity_report(reps, ("cka",), k=5, bootstrap=5)


def test_too_few_test_pairs_give_no_metric_intervals_rather_than_an_error() -> None:
    from slife.align.features import similarity_report

    x = _grouped(3, 8, 6, 30)
    reps = {"a": {"l0": x.float()}, "b": {"l0": (x + 0.1 * _gauss(len(x), 6, 31)).float()}}
    rep = similarity_report(reps, ("mutual_knn",), k=5, units=np.repeat(np.arange(3), 8), bootstrap=20)
    assert rep["bootstrap"]["resamples"] == 0 and "interval" not in rep["mutual_knn"]
    # 6 pairs of 4 cells: a half-sample has 12 cells, too few for k = 12 neighbours: no interval, no error
    small = similarity_report(reps, ("mutual_knn",), k=12, units=np.repeat(np.arange(6), 4), bootstrap=20)
    assert np.isfinite(small["mutual_knn"]["value"][0][1]) and np.isnan(small["mutual_knn"]["interval"][0][1]).all()
