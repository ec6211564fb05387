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

Intervals come from subsets of the samples (:func:`subset`, half-samples of test pairs:
slife.align.features), not from resampling with replacement: a repeated sample would be its own
nearest neighbour in both representations and a perfectly matched kernel entry, and even with copies
excluded, a repeated *pair* doubles the density of its patches, which neighbour statistics count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
import torch

from slife.align.cas import overlap_fraction, topk_sets
from slife.errors import SlifeError

METRICS = ("mutual_knn", "cka", "unbiased_cka", "cknna")


def _features(x: Any, what: str, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    t = torch.as_tensor(x).to(dtype)
    if t.dim() != 2 or t.shape[0] < 4:
        raise SlifeError(f"similarity: {what} must be (n >= 4 samples, features), got {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise SlifeError(f"similarity: {what} contains NaN or infinite values")
    return t


def _ratio(num: torch.Tensor | float, den: torch.Tensor | float) -> float:
    num, den = float(num), float(den)
    return num / den if den > 0 and math.isfinite(num) else float("nan")


def hsic_unbiased(k: torch.Tensor, l: torch.Tensor) -> torch.Tensor:
    """Unbiased HSIC estimator (Song et al. 2012, eq. 5) of two (n, n) kernel matrices, n >= 4:
    [tr(K~ L~) + 1'K~1 1'L~1 / ((n-1)(n-2)) - 2/(n-2) 1'K~ L~1] / (n (n-3)), K~ = K with zero diagonal.
    Invariant to centring the features of a linear kernel."""
    n = k.shape[0]
    if k.shape != (n, n) or l.shape != (n, n) or n < 4:
        raise SlifeError(f"hsic_unbiased: need two (n, n) kernels with n >= 4, got {tuple(k.shape)}, {tuple(l.shape)}")
    eye = torch.eye(n, dtype=torch.bool, device=k.device)
    kt, lt = k.masked_fill(eye, 0.0), l.masked_fill(eye, 0.0)
    trace = (kt * lt.T).sum()
    sums = kt.sum() * lt.sum() / ((n - 1) * (n - 2))
    cross = kt.sum(dim=0) @ lt.sum(dim=1)
    return (trace + sums - 2.0 * cross / (n - 2)) / (n * (n - 3))


def _cosine_kernel(x: torch.Tensor) -> torch.Tensor:
    xn = x / x.norm(dim=1, keepdim=True).clamp(min=1e-12)
    return xn @ xn.T


def _knn_from_kernel(kern: torch.Tensor, k: int) -> torch.Tensor:
    n = kern.shape[0]
    if not 1 <= k <= n - 1:
        raise SlifeError(f"similarity: k must be in [1, n - 1 = {n - 1}], got {k}")
    eye = torch.eye(n, dtype=torch.bool, device=kern.device)
    return topk_sets(kern.masked_fill(eye, float(kern.min()) - 1.0), k)


@dataclass
class Kernels:
    """What the metrics need of one representation, computed once (:func:`prepare`) and compared with
    many others (:func:`compare`): the centred linear kernel, the cosine kernel, the kNN sets."""

    linear: torch.Tensor  # (n, n) X_c X_c^T
    cosine: torch.Tensor  # (n, n) cosine similarities
    knn: torch.Tensor | None  # (n, k) neighbour indices (self excluded), None without k
    knn_mask: torch.Tensor | None  # (n, n) bool
    linear_norm: float  # ||X_c X_c^T||_F
    linear_hsic: float  # hsic_unbiased(linear, linear)
    knn_hsic: float  # hsic_unbiased of the cosine kernel masked by its own kNN, with itself

    @property
    def n(self) -> int:
        return int(self.linear.shape[0])

    @property
    def k(self) -> int | None:
        return None if self.knn is None else int(self.knn.shape[1])


def prepare(x: Any, k: int | None = 10, dtype: torch.dtype = torch.float64) -> Kernels:
    """:class:`Kernels` of (n, p) features (``k`` neighbours for mutual k-NN and CKNNA; None: CKA only)."""
    t = _features(x, "features", dtype)
    c = t - t.mean(dim=0)
    return _kernels(c @ c.T, _cosine_kernel(t), k)


def subset(kern: Kernels, idx: Any) -> Kernels:
    """The :class:`Kernels` of the samples ``idx`` (distinct indices) of a prepared representation, as
    :func:`prepare` of those samples' features would give them (the linear kernel re-centred)."""
    i = torch.as_tensor(np.asarray(idx), dtype=torch.long)
    if i.dim() != 1 or len(i) < 4 or int(i.min()) < 0 or int(i.max()) >= kern.n or len(torch.unique(i)) != len(i):
        raise SlifeError(f"similarity: a subset needs >= 4 distinct indices in [0, {kern.n}), got shape {tuple(i.shape)}")
    lin = kern.linear[i][:, i]
    lin = lin - lin.mean(dim=0, keepdim=True) - lin.mean(dim=1, keepdim=True) + lin.mean()  # H K H: centred anew
    return _kernels(lin, kern.cosine[i][:, i], kern.k)


def _kernels(lin: torch.Tensor, cos: torch.Tensor, k: int | None) -> Kernels:
    """:class:`Kernels` from a centred linear kernel and a cosine kernel."""
    knn = mask = None
    knn_hsic = float("nan")
    if k is not None:
        knn = _knn_from_kernel(cos, k)
        mask = torch.zeros_like(cos, dtype=torch.bool).scatter_(1, knn, True)
        masked = cos * mask
        knn_hsic = float(hsic_unbiased(masked, masked))
    return Kernels(lin, cos, knn, mask, float(torch.linalg.matrix_norm(lin)), float(hsic_unbiased(lin, lin)), knn_hsic)


def compare(a: Kernels, b: Kernels, metric: str) -> float:
    """``metric`` (:data:`METRICS`) between two prepared representations of the same n samples."""
    if a.n != b.n:
        raise SlifeError(f"similarity: x and y describe different numbers of samples ({a.n} vs {b.n})")
    if metric == "cka":
        return _ratio((a.linear * b.linear).sum(), a.linear_norm * b.linear_norm)
    if metric == "unbiased_cka":
        return _ratio(hsic_unbiased(a.linear, b.linear), math.sqrt(max(a.linear_hsic, 0.0) * max(b.linear_hsic, 0.0)))
    if metric not in ("mutual_knn", "cknna"):
        raise SlifeError(f"similarity: metric must be one of {list(METRICS)}, got {metric!r}")
    if a.knn is None or b.knn is None or a.knn.shape != b.knn.shape:
        raise SlifeError(f"similarity: {metric} needs both sides prepared with the same k")
    if metric == "mutual_knn":
        return float(overlap_fraction(a.knn, b.knn).mean())
    both = a.knn_mask & b.knn_mask
    num = hsic_unbiased(a.cosine * both, b.cosine * both)
    return _ratio(num, math.sqrt(max(a.knn_hsic, 0.0) * max(b.knn_hsic, 0.0)))


def _metric(x: Any, y: Any, metric: str, k: int | None) -> float:
    a, b = _features(x, "x"), _features(y, "y")
    if a.shape[0] != b.shape[0]:
        raise SlifeError(f"similarity: x and y describe different numbers of samples ({a.shape[0]} vs {b.shape[0]})")
    return compare(prepare(a, k), prepare(b, k), metric)


def linear_cka(x: Any, y: Any) -> float:
    """Linear CKA of (n, p) and (n, q) features (biased HSIC, column-centred)."""
    return _metric(x, y, "cka", None)


def unbiased_cka(x: Any, y: Any) -> float:
    """CKA of linear kernels with :func:`hsic_unbiased` (~0 for independent features)."""
    return _metric(x, y, "unbiased_cka", None)


def knn_sets(x: Any, k: int) -> torch.Tensor:
    """(n, k) indices of every sample's k nearest neighbours by cosine similarity, itself excluded."""
    return _knn_from_kernel(_cosine_kernel(_features(x, "x")), k)


def mutual_knn(x: Any, y: Any, k: int = 10) -> float:
    """Mean over samples of |kNN_x(i) ∩ kNN_y(i)| / k (cosine neighbours, self excluded)."""
    return _metric(x, y, "mutual_knn", k)


def cknna(x: Any, y: Any, k: int = 10) -> float:
    """CKA on the mutual k-nearest-neighbour entries of the cosine kernels (Huh et al. 2024)."""
    return _metric(x, y, "cknna", k)


def metric_function(name: str, k: int = 10) -> Callable[[Any, Any], float]:
    """The metric called ``name`` (:data:`METRICS`) as f(x, y) -> float."""
    if name not in METRICS:
        raise SlifeError(f"similarity: metric must be one of {list(METRICS)}, got {name!r}")
    return lambda x, y: _metric(x, y, name, k if name in ("mutual_knn", "cknna") else None)


def null_level(name: str, n: int, k: int = 10) -> float | None:
    """What independent features score (the metric's null): k / (n - 1) for mutual k-NN, 0 for the
    unbiased CKA and CKNNA; None for linear CKA (its bias depends on n and the feature widths)."""
    return {"mutual_knn": k / (n - 1), "unbiased_cka": 0.0, "cknna": 0.0}.get(name)


def best_layer_pair(layers_a: Mapping[str, Kernels], layers_b: Mapping[str, Kernels], metric: str) -> dict[str, Any]:
    """The metric between every layer of one representation and every layer of another (prepared with
    :func:`prepare`), and the best-aligned pair: {``value``, ``layers`` [name_a, name_b], ``grid``
    (La x Lb list), ``names_a``, ``names_b``}. NaN cells (a degenerate layer) are skipped by the search."""
    na, nb = list(layers_a), list(layers_b)
    if not na or not nb:
        raise SlifeError("similarity: each representation needs at least one layer")
    grid = [[compare(layers_a[a], layers_b[b], metric) for b in nb] for a in na]
    best, where = float("nan"), [None, None]
    for i, row in enumerate(grid):
        for j, v in enumerate(row):
            if math.isfinite(v) and not (best >= v):
                best, where = v, [na[i], nb[j]]
    return {"value": best, "layers": where, "grid": grid, "names_a": na, "names_b": nb}
