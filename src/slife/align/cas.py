"""The Correspondence Alignment Score (CAS) as pure functions on attention tensors.

An attention map has shape (P, N_tgt, N_src): for each of P test pairs, each target patch (row) holds
scores over the source patches (columns). Per-layer maps add a leading L axis: (L, P, N_tgt, N_src).

For target patch p, TopK(p) is the set of the k source patches with the highest scores, and

    CAS(a, b) = mean over pairs, mean over target patches, of |TopK_a(p) ∩ TopK_b(p)| / k.

Ties [ours]: scores are ranked with a *stable* descending sort, so among equal scores the lower source
index ranks first. The result is deterministic and independent of the device or of torch.topk's
(unspecified) tie order. CAS depends only on the ranking of each row, so it is invariant to positive
scaling and to any strictly increasing transform of the maps (softmax temperature, log, ...).

Chance level: two independent uniformly random k-sets out of N_src share k*k/N_src elements on
average, i.e. CAS = k / N_src (``chance_cas``).
"""

from __future__ import annotations

import numpy as np
import torch

from slife.errors import SlifeError


def _as_tensor(attn: torch.Tensor | np.ndarray, what: str) -> torch.Tensor:
    t = torch.as_tensor(attn)
    if t.dim() < 2:
        raise SlifeError(f"{what}: attention must have shape (..., N_tgt, N_src), got {tuple(t.shape)}")
    if not torch.is_floating_point(t):
        t = t.float()
    if not bool(torch.isfinite(t).all()):
        raise SlifeError(f"{what}: attention contains NaN or infinite values")
    return t


def topk_sets(attn: torch.Tensor | np.ndarray, k: int = 5) -> torch.Tensor:
    """Indices (..., N_tgt, k) of the k highest-scoring source patches of every row, best first.

    Ties go to the lower source index (stable descending sort). ``attn`` may be (P, Nt, Ns),
    (L, P, Nt, Ns) or any (..., Nt, Ns).
    """
    t = _as_tensor(attn, "topk_sets")
    n_src = t.shape[-1]
    if not 1 <= k <= n_src:
        raise SlifeError(f"topk_sets: k must be in [1, N_src={n_src}], got {k}")
    return _stable_topk(t, k)


def _stable_topk(t: torch.Tensor, k: int) -> torch.Tensor:
    """Same result as ``sort(t, descending=True, stable=True).indices[..., :k]``, ~4x faster.

    ``torch.topk`` finds the k-th largest value; a row's set is exact unless more than k entries reach
    that value (a tie at the boundary), and only those rows take the lowest-index tied entries.
    The k indices are then ordered by value (descending), ties by index.
    """
    vals, idx = torch.topk(t, k, dim=-1)
    thr = vals[..., -1:]
    tied = (t >= thr).sum(dim=-1) > k
    if bool(tied.any()):
        rows, row_thr = t[tied], thr[tied]
        greater = rows > row_thr
        equal = rows == row_thr
        need = k - greater.sum(dim=-1, keepdim=True)
        chosen = greater | (equal & (equal.cumsum(dim=-1) <= need))  # exactly k per row
        idx[tied] = chosen.nonzero()[:, 1].reshape(-1, k)
    idx = idx.sort(dim=-1).values
    order = torch.sort(t.gather(-1, idx), dim=-1, descending=True, stable=True).indices
    return idx.gather(-1, order)


def overlap_fraction(sets_a: torch.Tensor, sets_b: torch.Tensor) -> torch.Tensor:
    """|A ∩ B| / k for every row of two top-k index tensors (..., N_tgt, k) -> (..., N_tgt) float64."""
    if sets_a.shape != sets_b.shape:
        raise SlifeError(f"CAS: top-k sets have different shapes {tuple(sets_a.shape)} vs {tuple(sets_b.shape)}")
    k = sets_a.shape[-1]
    # indices within one set are distinct, so the number of equal (i, j) entries is the intersection size
    hits = (sets_a.unsqueeze(-1) == sets_b.unsqueeze(-2)).sum(dim=(-1, -2))
    return hits.double() / k


def _masked_mean(values: torch.Tensor, mask: torch.Tensor | np.ndarray | None) -> torch.Tensor:
    """Mean over the last axis (target patches), optionally only over ``mask`` entries -> (...,)."""
    if mask is None:
        return values.mean(dim=-1)
    m = torch.as_tensor(mask, dtype=torch.bool, device=values.device)
    if m.shape != values.shape[-m.dim() :]:
        raise SlifeError(f"CAS: mask shape {tuple(m.shape)} does not match patches {tuple(values.shape)}")
    m = m.expand_as(values).to(values.dtype)
    count = m.sum(dim=-1)
    return torch.where(count > 0, (values * m).sum(dim=-1) / count.clamp(min=1), torch.nan)


def cas_from_sets(
    sets_a: torch.Tensor, sets_b: torch.Tensor, mask: torch.Tensor | np.ndarray | None = None
) -> torch.Tensor:
    """Per-pair CAS from precomputed top-k sets (..., P, N_tgt, k) -> (..., P).

    ``mask`` (P, N_tgt) restricts the mean to some target patches (pairs with none give NaN).
    """
    return _masked_mean(overlap_fraction(sets_a, sets_b), mask)


def _check_pair(attn_a: torch.Tensor, attn_b: torch.Tensor) -> None:
    if attn_a.shape != attn_b.shape:
        raise SlifeError(
            f"CAS: attention maps have different shapes {tuple(attn_a.shape)} vs {tuple(attn_b.shape)} "
            "(same test set and patch grid needed)"
        )


def cas_per_pair(
    attn_a: torch.Tensor | np.ndarray,
    attn_b: torch.Tensor | np.ndarray,
    k: int = 5,
    mask: torch.Tensor | np.ndarray | None = None,
) -> np.ndarray:
    """CAS of every test pair: maps (P, Nt, Ns) -> (P,) float64 (a single (Nt, Ns) map -> (1,))."""
    a, b = _as_tensor(attn_a, "CAS"), _as_tensor(attn_b, "CAS")
    _check_pair(a, b)
    if a.dim() == 2:
        a, b = a.unsqueeze(0), b.unsqueeze(0)
    if a.dim() != 3:
        raise SlifeError(f"CAS: expected maps (P, N_tgt, N_src), got {tuple(a.shape)} (use cas_per_layer for 4D)")
    return cas_from_sets(topk_sets(a, k), topk_sets(b, k), mask).double().numpy()


def cas(
    attn_a: torch.Tensor | np.ndarray,
    attn_b: torch.Tensor | np.ndarray,
    k: int = 5,
    mask: torch.Tensor | np.ndarray | None = None,
) -> float:
    """CAS of two models' maps (P, Nt, Ns): mean over pairs of the mean over target patches.

    Every pair has the same number of target patches, so without a mask this equals the mean over all
    (pair, patch) entries. With a mask, each pair's masked mean is averaged over pairs that have any.
    """
    per_pair = cas_per_pair(attn_a, attn_b, k, mask)
    return float(np.nanmean(per_pair)) if np.isfinite(per_pair).any() else float("nan")


def cas_per_layer(
    attn_a: torch.Tensor | np.ndarray,
    attn_b: torch.Tensor | np.ndarray,
    k: int = 5,
    mask: torch.Tensor | np.ndarray | None = None,
) -> np.ndarray:
    """CAS per decoder layer: per-layer maps (L, P, Nt, Ns) (head-averaged) -> (L,) float64."""
    a, b = _as_tensor(attn_a, "CAS"), _as_tensor(attn_b, "CAS")
    _check_pair(a, b)
    if a.dim() != 4:
        raise SlifeError(f"cas_per_layer: expected maps (L, P, N_tgt, N_src), got {tuple(a.shape)}")
    per_pair = cas_from_sets(topk_sets(a, k), topk_sets(b, k), mask).double().numpy()  # (L, P)
    return np.nanmean(per_pair, axis=1)


def chance_cas(k: int, n_src: int) -> float:
    """Expected CAS of two independent uniformly random top-k sets out of ``n_src`` patches."""
    return k / n_src
