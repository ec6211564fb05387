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
