"""Representation-similarity metrics of two sets of features of the same samples, in torch.

``x`` (n, p) and ``y`` (n, q): row i of both describes the same sample (here: the same target patch
of the same test pair, seen by two models or two layers). All return a float in [-1, 1] (1 = the
same representation up to the metric's invariances).

- :func:`linear_cka` (Kornblith et al. 2019): ||Y_c^T X_c||_F^2 / (||X_c^T X_c||_F ||Y_c^T Y_c||_F)
  with column-centred features. Invariant to orthogonal maps and isotropic scaling of either side.
  Biased upward for few samples or wide features: independent random features score above 0.
- :func:`unbiased_cka`: the same ratio of HSIC values, each from the unbiased estimator of Song et
  al. 2012 (:func:`hsic_unbiased`) on linear kernels; independent features score ~0 (may go < 0).
- :func:`mutual_knn` (Huh et al. 2024, "platonic representation"): for every sample, the overlap of
  its k nearest neighbours (cosine similarity, itself excluded) in x and in y, divided by k, averaged.
  Independent features score ~ k / (n - 1).
- :func:`cknna` (Huh et al. 2024): CKA restricted to mutual neighbours: unbiased HSIC of the cosine
  kernels keeping only entries (i, j) where j is among the k nearest neighbours of i in both, over
  the square root of the same for (x, x) and (y, y) [ours: the unbiased estimator on the masked
  kernels]. With k = n - 1 it equals the unbiased CKA of the l2-normalised features (tested).

Ties in neighbour ranking go to the lower index (the stable top-k of slife.align.cas).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import torch

from slife.align.cas import overlap_fraction, topk_sets
from slife.errors import SlifeError

METRICS = ("mutual_knn", "cka", "unbiased_cka", "cknna")


def _features(x: Any, what: str) -> torch.Tensor:
    t = torch.as_tensor(x).double()
    if t.dim() != 2 or t.shape[0] < 4:
        raise SlifeError(f"similarity: {what} must be (n >= 4 samples, features), got {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise SlifeError(f"similarity: {what} contains NaN or infinite values")
    return t


def _pair(x: Any, y: Any) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = _features(x, "x"), _features(y, "y")
    if a.shape[0] != b.shape[0]:
        raise SlifeError(f"similarity: x and y describe different numbers of samples ({a.shape[0]} vs {b.shape[0]})")
    return a, b


def _ratio(num: torch.Tensor, den: torch.Tensor) -> float:
    num, den = float(num), float(den)
    return num / den if den > 0 and math.isfinite(num) else float("nan")


def linear_cka(x: Any, y: Any) -> float:
    """Linear CKA of (n, p) and (n, q) features (biased HSIC, column-centred)."""
    a, b = _pair(x, y)
    a, b = a - a.mean(dim=0), b - b.mean(dim=0)
    cross = (b.T @ a).square().sum()
    return _ratio(cross, torch.linalg.matrix_norm(a.T @ a) * torch.linalg.matrix_norm(b.T @ b))


def hsic_unbiased(k: torch.Tensor, l: torch.Tensor) -> torch.Tensor:
    """Unbiased HSIC estimator (Song et al. 2012, eq. 5) of two (n, n) kernel matrices, n >= 4:
    [tr(K~ L~) + 1'K~1 1'L~1 / ((n-1)(n-2)) - 2/(n-2) 1'K~ L~1] / (n (n-3)), K~ = K with zero diagonal."""
    n = k.shape[0]
    if k.shape != (n, n) or l.shape != (n, n) or n < 4:
        raise SlifeError(f"hsic_unbiased: need two (n, n) kernels with n >= 4, got {tuple(k.shape)}, {tuple(l.shape)}")
    eye = torch.eye(n, dtype=torch.bool, device=k.device)
    kt, lt = k.masked_fill(eye, 0.0), l.masked_fill(eye, 0.0)
    trace = (kt * lt.T).sum()
    sums = kt.sum() * lt.sum() / ((n - 1) * (n - 2))
    cross = kt.sum(dim=0) @ lt.sum(dim=1)
    return (trace + sums - 2.0 * cross / (n - 2)) / (n * (n - 3))


def unbiased_cka(x: Any, y: Any) -> float:
    """CKA of linear kernels with :func:`hsic_unbiased` (~0 for independent features)."""
    a, b = _pair(x, y)
    k, l = a @ a.T, b @ b.T
    return _ratio(hsic_unbiased(k, l), torch.sqrt(hsic_unbiased(k, k).clamp(min=0) * hsic_unbiased(l, l).clamp(min=0)))


def _cosine_kernel(x: torch.Tensor) -> torch.Tensor:
    xn = x / x.norm(dim=1, keepdim=True).clamp(min=1e-12)
    return xn @ xn.T


def knn_sets(x: Any, k: int) -> torch.Tensor:
    """(n, k) indices of every sample's k nearest neighbours by cosine similarity, itself excluded."""
    kern = _cosine_kernel(_features(x, "x"))
    return _knn_from_kernel(kern, k)


def _knn_from_kernel(kern: torch.Tensor, k: int) -> torch.Tensor:
    n = kern.shape[0]
    if not 1 <= k <= n - 1:
        raise SlifeError(f"similarity: k must be in [1, n - 1 = {n - 1}], got {k}")
    eye = torch.eye(n, dtype=torch.bool, device=kern.device)
    return topk_sets(kern.masked_fill(eye, float(kern.min()) - 1.0), k)


def mutual_knn(x: Any, y: Any, k: int = 10) -> float:
    """Mean over samples of |kNN_x(i) ∩ kNN_y(i)| / k (cosine neighbours, self excluded)."""
    a, b = _pair(x, y)
    return float(overlap_fraction(knn_sets(a, k), knn_sets(b, k)).mean())


def _knn_mask(sets: torch.Tensor, n: int) -> torch.Tensor:
    return torch.zeros(n, n, dtype=torch.bool, device=sets.device).scatter_(1, sets, True)


def cknna(x: Any, y: Any, k: int = 10) -> float:
    """CKA on the mutual k-nearest-neighbour entries of the cosine kernels (Huh et al. 2024)."""
    a, b = _pair(x, y)
    n = a.shape[0]
    ka, kb = _cosine_kernel(a), _cosine_kernel(b)
    ma, mb = _knn_mask(_knn_from_kernel(ka, k), n), _knn_mask(_knn_from_kernel(kb, k), n)
    both = ma & mb
    num = hsic_unbiased(ka * both, kb * both)
    den = hsic_unbiased(ka * ma, ka * ma).clamp(min=0) * hsic_unbiased(kb * mb, kb * mb).clamp(min=0)
    return _ratio(num, torch.sqrt(den))


def metric_function(name: str, k: int = 10) -> Callable[[Any, Any], float]:
    """The metric called ``name`` (:data:`METRICS`) as f(x, y) -> float."""
    table: dict[str, Callable[[Any, Any], float]] = {
        "mutual_knn": lambda x, y: mutual_knn(x, y, k), "cka": linear_cka, "unbiased_cka": unbiased_cka,
        "cknna": lambda x, y: cknna(x, y, k),
    }  # fmt: skip
    if name not in table:
        raise SlifeError(f"similarity: metric must be one of {list(METRICS)}, got {name!r}")
    return table[name]


def null_level(name: str, n: int, k: int = 10) -> float | None:
    """What independent features score (the metric's null): k / (n - 1) for mutual k-NN, 0 for the
    unbiased CKA and CKNNA; None for linear CKA (its bias depends on n and the feature widths)."""
    return {"mutual_knn": k / (n - 1), "unbiased_cka": 0.0, "cknna": 0.0}.get(name)


def best_layer_pair(
    layers_a: Mapping[str, Any], layers_b: Mapping[str, Any], metric: str, k: int = 10
) -> dict[str, Any]:
    """The metric between every layer of one representation and every layer of another, and the
    best-aligned pair: {``value``, ``layers`` [name_a, name_b], ``grid`` (La x Lb list), ``names_a``,
    ``names_b``}. NaN cells (a degenerate layer) are skipped by the search."""
    f = metric_function(metric, k)
    na, nb = list(layers_a), list(layers_b)
    if not na or not nb:
        raise SlifeError("similarity: each representation needs at least one layer")
    grid = [[f(layers_a[a], layers_b[b]) for b in nb] for a in na]
    best, where = float("nan"), [None, None]
    for i, row in enumerate(grid):
        for j, v in enumerate(row):
            if math.isfinite(v) and not (best >= v):
                best, where = v, [na[i], nb[j]]
    return {"value": best, "layers": where, "grid": grid, "names_a": na, "names_b": nb}
