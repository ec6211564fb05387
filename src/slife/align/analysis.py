"""Alignment analyses over many models: CAS matrices, emergence curves, ground-truth alignment.

Every analysis computes each source's maps once per command (:class:`AttentionCache`), reduces them to
ranked top-k source patches right away (so memory stays small for large test sets) and reports the
chance level k / N_src and the baselines next to the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from slife.align.cas import cas_from_sets, chance_cas, topk_sets
from slife.align.sources import AttentionSource, IdentitySource, checkpoint_source, random_init_source
from slife.align.testset import TestSet, TestSetError
from slife.errors import SlifeError


@dataclass
class Ranked:
    """A source's top-k source patches on a test set, best first."""

    sets: torch.Tensor  # (P, Nt, k), from the layer-and-head-averaged map
    layer_sets: torch.Tensor | None = None  # (L, P, Nt, k), per layer (head-averaged)

    @property
    def top1(self) -> torch.Tensor:
        return self.sets[..., 0]


def rank(attn: torch.Tensor, k: int, per_layer_attn: torch.Tensor | None = None) -> Ranked:
    """Top-k sets of an averaged map (and of per-layer maps)."""
    return Ranked(topk_sets(attn, k), None if per_layer_attn is None else topk_sets(per_layer_attn, k))


class AttentionCache:
    """Computes each named source's ranked attention once for a test set and keeps only the top-k."""

    def __init__(self, testset: TestSet, k: int = 5, per_layer: bool = False):
        if not 1 <= k <= testset.num_patches:
            raise SlifeError(f"--k: must be in [1, {testset.num_patches}] (patches per image), got {k}")
        self.testset, self.k, self.per_layer = testset, k, per_layer
        self._ranked: dict[str, Ranked] = {}

    def get(self, name: str, source: AttentionSource) -> Ranked:
        if name not in self._ranked:
            if self.per_layer:
                layers = source.attention(self.testset, per_layer=True)  # (L, P, Nt, Ns)
                self._ranked[name] = rank(layers.mean(dim=0), self.k, layers)
            else:
                self._ranked[name] = rank(source.attention(self.testset), self.k)
        return self._ranked[name]

    def __contains__(self, name: str) -> bool:
        return name in self._ranked


# ---- scores ---------------------------------------------------------------------------------------
def _mean_sem(per_pair: np.ndarray) -> tuple[float, float]:
    v = per_pair[np.isfinite(per_pair)]
    if len(v) == 0:
        return float("nan"), float("nan")
    sem = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0
    return float(v.mean()), sem


def ranked_cas(a: Ranked, b: Ranked) -> tuple[float, float]:
    """(CAS, standard error over pairs) of two ranked sources."""
    return _mean_sem(cas_from_sets(a.sets, b.sets).double().numpy())


def ranked_cas_per_layer(a: Ranked, b: Ranked) -> np.ndarray:
    """(L,) CAS per decoder layer; a one-layer baseline is compared with every layer of the other."""
    if a.layer_sets is None or b.layer_sets is None:
        raise SlifeError("per-layer CAS needs per-layer attention (compute with per_layer=True)")
    la, lb = a.layer_sets, b.layer_sets
    if la.shape[0] != lb.shape[0]:
        if la.shape[0] == 1:
            la = la.expand_as(lb)
        elif lb.shape[0] == 1:
            lb = lb.expand_as(la)
        else:
            raise SlifeError(f"per-layer CAS: models have {la.shape[0]} and {lb.shape[0]} decoder layers")
    return np.nanmean(cas_from_sets(la, lb).double().numpy(), axis=1)


def _top1(attn_or_top1: torch.Tensor | np.ndarray | Ranked) -> np.ndarray:
    if isinstance(attn_or_top1, Ranked):
        return attn_or_top1.top1.numpy()
    t = torch.as_tensor(attn_or_top1)
    if torch.is_floating_point(t):
        return topk_sets(t, 1)[..., 0].numpy()
    return t.numpy()


def gt_alignment(attn_or_top1: torch.Tensor | np.ndarray | Ranked, testset: TestSet, r: int = 1) -> float:
    """Fraction of target patches with visible ground truth whose top-1 source patch lies within
    Chebyshev distance ``r`` (in patches) of the true one, pooled over all pairs.

    Accepts averaged maps (P, Nt, Ns), top-1 indices (P, Nt) or a :class:`Ranked`.
    """
    if testset.gt is None:
        raise TestSetError(f"{testset.path or 'test set'}: has no ground truth (lives without depth + poses)")
    top1 = _top1(attn_or_top1)
    if top1.shape != testset.gt.shape:
        raise SlifeError(f"gt_alignment: top-1 shape {top1.shape} does not match the test set {testset.gt.shape}")
    valid = testset.gt >= 0
    if not valid.any():
        return float("nan")
    g = testset.grid
    pr, pc = np.divmod(top1[valid], g)
    tr, tc = np.divmod(testset.gt[valid], g)
    return float((np.maximum(np.abs(pr - tr), np.abs(pc - tc)) <= r).mean())


def gt_alignment_chance(testset: TestSet, r: int = 1) -> float:
    """Expected :func:`gt_alignment` of a top-1 drawn uniformly over the source patches."""
    if testset.gt is None:
        raise TestSetError(f"{testset.path or 'test set'}: has no ground truth")
    g, n = testset.grid, testset.num_patches
    tr, tc = np.divmod(testset.gt[testset.gt >= 0], g)
    if len(tr) == 0:
        return float("nan")
    rows = np.minimum(tr + r, g - 1) - np.maximum(tr - r, 0) + 1
    cols = np.minimum(tc + r, g - 1) - np.maximum(tc - r, 0) + 1
    return float((rows * cols / n).mean())


# ---- matrices -------------------------------------------------------------------------------------
def alignment_matrix(
    sources: Mapping[str, AttentionSource],
    testset: TestSet,
    k: int = 5,
    cache: AttentionCache | None = None,
) -> tuple[list[str], np.ndarray]:
    """(names, M) with M[i, j] = CAS of sources i and j (symmetric, 1 on the diagonal)."""
    names, matrix, _ = _matrix(sources, testset, k, cache)
    return names, matrix


def _matrix(
    sources: Mapping[str, AttentionSource], testset: TestSet, k: int, cache: AttentionCache | None
) -> tuple[list[str], np.ndarray, np.ndarray]:
    cache = cache or AttentionCache(testset, k)
    if cache.k != k or cache.testset is not testset:
        raise SlifeError("alignment_matrix: the cache was made for another test set or k")
    names = list(sources)
    ranked = [cache.get(n, sources[n]) for n in names]
    m = np.ones((len(names), len(names)))
    sem = np.zeros_like(m)
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            m[i, j], sem[i, j] = ranked_cas(ranked[i], ranked[j])
            m[j, i], sem[j, i] = m[i, j], sem[i, j]
    return names, m, sem


def alignment_report(
    sources: Mapping[str, AttentionSource],
    testset: TestSet,
    k: int = 5,
    radii: tuple[int, ...] = (0, 1),
    per_layer: bool = False,
    baselines: tuple[str, ...] = (),
    cache: AttentionCache | None = None,
) -> dict[str, Any]:
    """CAS matrix (+ standard errors, per-layer matrices), chance, and GT alignment when available."""
    cache = cache or AttentionCache(testset, k, per_layer)
    if per_layer and not cache.per_layer:
        raise SlifeError("alignment_report: per_layer=True needs an AttentionCache made with per_layer=True")
    names, matrix, sem = _matrix(sources, testset, k, cache)
    report: dict[str, Any] = {
        "k": k,
        "num_patches": testset.num_patches,
        "chance": chance_cas(k, testset.num_patches),
        "names": names,
        "baselines": [n for n in names if n in baselines],
        "cas": matrix.tolist(),
        "cas_sem": sem.tolist(),
        "testset": testset.summary(),
    }
    if per_layer:
        ranked = {n: cache.get(n, sources[n]) for n in names}
        per = {}
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                la, lb = ranked[a].layer_sets.shape[0], ranked[b].layer_sets.shape[0]
                comparable = la == lb or 1 in (la, lb)  # else: different decoder depths -> None
                per[f"{a} | {b}"] = ranked_cas_per_layer(ranked[a], ranked[b]).tolist() if comparable else None
        report["cas_per_layer"] = per
    if testset.has_gt:
        report["gt_alignment"] = {
            n: {f"r{r}": gt_alignment(cache.get(n, sources[n]), testset, r) for r in radii} for n in names
        }
        report["gt_alignment_chance"] = {f"r{r}": gt_alignment_chance(testset, r) for r in radii}
    return report


def standard_baselines(
    model_config: Any, seed: int = 0, batch_size: int = 16, device: str | None = None
) -> dict[str, AttentionSource]:
    """The random-init model (of ``model_config``) and the identity map."""
    return {
        "random-init": random_init_source(model_config, seed, "random-init", batch_size, device),
        "identity": IdentitySource(),
    }


def model_config_of(source: Any) -> Any:
    """The ModelConfig behind a checkpoint or model source."""
    from slife.config import from_dict
    from slife.model.config import ModelConfig

    if hasattr(source, "model"):
        return source.model.cfg
    return from_dict(ModelConfig, source.meta["model_config"], f"{source.meta.get('path')}:model_config")


# ---- emergence ------------------------------------------------------------------------------------
def emergence_report(
    run_dir: str | Path,
    reference: str | Path | AttentionSource,
    testset: TestSet,
    k: int = 5,
    radii: tuple[int, ...] = (0, 1),
    include_last: bool = False,
    seed: int = 0,
    batch_size: int = 16,
    device: str | None = None,
    cache: AttentionCache | None = None,
) -> dict[str, Any]:
    """CAS with ``reference`` of every milestone checkpoint of ``run_dir`` against hours of video seen,
    plus baselines (random init vs reference, identity vs reference, chance) and GT alignment."""
    from slife.model.checkpoint import list_checkpoints

    ckpts = list_checkpoints(run_dir, include_last=include_last)
    if not ckpts:
        raise SlifeError(f"{run_dir}: run has no milestone checkpoints (checkpoints/hours_<h>.pt)")
    cache = cache or AttentionCache(testset, k)
    if isinstance(reference, (str, Path)):
        ref_name = f"reference:{Path(reference).name}"
        ref_source: AttentionSource = checkpoint_source(reference, ref_name, batch_size, device)
    else:
        ref_source, ref_name = reference, f"reference:{reference.name}"
    ref = cache.get(ref_name, ref_source)
    points = []
    for info in ckpts:
        src = checkpoint_source(info.path, f"{Path(run_dir).name}/{info.name}", batch_size, device)
        ranked = cache.get(src.name, src)
        value, sem = ranked_cas(ranked, ref)
        point = {"name": info.name, "hours": info.hours_seen, "step": info.step, "cas": value, "cas_sem": sem}
        if testset.has_gt:
            point["gt_alignment"] = {f"r{r}": gt_alignment(ranked, testset, r) for r in radii}
        points.append(point)
    base = standard_baselines(model_config_of(checkpoint_source(ckpts[0].path)), seed, batch_size, device)
    baselines = {f"{n} vs reference": ranked_cas(cache.get(n, s), ref)[0] for n, s in base.items()}
    report: dict[str, Any] = {
        "run": str(run_dir),
        "reference": str(getattr(ref_source, "path", ref_name)),
        "k": k,
        "num_patches": testset.num_patches,
        "chance": chance_cas(k, testset.num_patches),
        "points": points,
        "baselines": baselines,
        "testset": testset.summary(),
    }
    if testset.has_gt:
        report["reference_gt_alignment"] = {f"r{r}": gt_alignment(ref, testset, r) for r in radii}
        report["random_init_gt_alignment"] = {
            f"r{r}": gt_alignment(cache.get("random-init", base["random-init"]), testset, r) for r in radii
        }
        report["gt_alignment_chance"] = {f"r{r}": gt_alignment_chance(testset, r) for r in radii}
    return report


def emergence_curve(
    run_dir: str | Path, reference: str | Path | AttentionSource, testset: TestSet, k: int = 5, **kwargs: Any
) -> list[tuple[float, float]]:
    """[(hours of video seen, CAS with the reference)] over the run's milestone checkpoints."""
    report = emergence_report(run_dir, reference, testset, k, **kwargs)
    return [(p["hours"], p["cas"]) for p in report["points"]]
