"""Alignment analyses over many models: CAS matrices, emergence curves, ground-truth alignment.

Every analysis computes each matcher's maps once per command (:class:`AttentionCache`), reduces them to
ranked top-k source patches right away (so memory stays small for large test sets) and reports the
chance level k / N_src and the baselines next to the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from slife.align.cas import cas_from_sets, chance_cas, overlap_fraction, topk_sets
from slife.align.names import BASELINE_NAMES, NULL_BASELINES  # noqa: F401  (re-exported: the report's reserved names)
from slife.align.matchers import UNMASKED, Matcher, IdentityMatcher, OracleMatcher, PixelMatcher, ReadProtocol
from slife.align.matchers import checkpoint_matcher, random_init_matcher
from slife.align.testset import MOVING_MIN_PATCHES, TestSet, TestSetError, gt_displacement
from slife.errors import SlifeError


DIRECTIONS = ("target", "source", "both")  # CAS rows: target queries, the swapped pass's, or both


@dataclass
class Ranked:
    """A matcher's top-k source patches on a test set, best first.

    ``sets`` are the target patches' rows (GT numbers and patch selections always use them); ``swapped``
    the rows of the swapped pass (the source view as target). ``direction`` says which rows CAS compares.
    """

    sets: torch.Tensor | None  # (P, Nt, k), from the layer-and-head-averaged map
    layer_sets: torch.Tensor | None = None  # (L, P, Nt, k), per layer (head-averaged)
    swapped: torch.Tensor | None = None  # (P, Ns, k): the swapped pass
    swapped_layer_sets: torch.Tensor | None = None  # (L, P, Ns, k)
    direction: str = "target"

    @property
    def top1(self) -> torch.Tensor:
        return self.target_sets[..., 0]

    @property
    def target_sets(self) -> torch.Tensor:
        if self.sets is None:
            raise SlifeError("the target rows were not read (direction 'source' on a test set without GT)")
        return self.sets

    @property
    def cas_sets(self) -> torch.Tensor:
        """The rows CAS compares (P, R, k): target, swapped, or both side by side (R = 2 N: each pair's
        CAS is then the mean of the two directions')."""
        return _directional(self.sets, self.swapped, self.direction)

    @property
    def cas_layer_sets(self) -> torch.Tensor | None:
        if self.layer_sets is None and self.swapped_layer_sets is None:
            return None
        return _directional(self.layer_sets, self.swapped_layer_sets, self.direction)


def _directional(target: torch.Tensor | None, swapped: torch.Tensor | None, direction: str) -> torch.Tensor:
    if direction not in DIRECTIONS:
        raise SlifeError(f"direction must be one of {list(DIRECTIONS)}, got {direction!r}")
    need = {"target": (target,), "source": (swapped,), "both": (target, swapped)}[direction]
    if any(t is None for t in need):
        raise SlifeError(f"CAS direction {direction!r}: those rows were not read (use an AttentionCache of that direction)")
    return torch.cat(need, dim=-2) if direction == "both" else need[0]


def rank(attn: torch.Tensor, k: int, per_layer_attn: torch.Tensor | None = None) -> Ranked:
    """Top-k sets of an averaged map (and of per-layer maps)."""
    return Ranked(topk_sets(attn, k), None if per_layer_attn is None else topk_sets(per_layer_attn, k))


class AttentionCache:
    """Computes each named matcher's ranked attention once for a test set and keeps only the top-k.

    ``direction`` (:data:`DIRECTIONS`): ``target`` reads the test pairs as they are; ``source`` also
    reads the swapped pass (:meth:`TestSet.swapped`) and CAS compares its rows; ``both`` compares both.
    The target rows are read whenever the direction needs them or the test set has GT.
    """

    def __init__(self, testset: TestSet, k: int = 5, per_layer: bool = False, direction: str = "target"):
        if not 1 <= k <= testset.num_patches:
            raise SlifeError(f"--k: must be in [1, {testset.num_patches}] (patches per image), got {k}")
        if direction not in DIRECTIONS:
            raise SlifeError(f"direction must be one of {list(DIRECTIONS)}, got {direction!r}")
        self.testset, self.k, self.per_layer, self.direction = testset, k, per_layer, direction
        self._swapped = testset.swapped() if direction != "target" else None
        self._ranked: dict[str, Ranked] = {}

    def _rank(self, matcher: Matcher, testset: TestSet) -> Ranked:
        if self.per_layer:
            layers = matcher.attention(testset, per_layer=True)  # (L, P, Nt, Ns)
            return rank(layers.mean(dim=0), self.k, layers)
        return rank(matcher.attention(testset), self.k)

    def get(self, name: str, matcher: Matcher) -> Ranked:
        if name not in self._ranked:
            ranked = Ranked(None, direction=self.direction)
            if self.direction != "source" or self.testset.has_gt:
                ranked = replace(self._rank(matcher, self.testset), direction=self.direction)
            if self._swapped is not None:
                other = self._rank(matcher, self._swapped)
                ranked = replace(ranked, swapped=other.sets, swapped_layer_sets=other.layer_sets)
            self._ranked[name] = ranked
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


def ranked_cas(a: Ranked, b: Ranked, where: np.ndarray | None = None) -> tuple[float, float]:
    """(CAS, standard error over pairs) of two ranked matchers, on the rows of their direction;
    ``where`` (P, N) bool restricts the mean to some target patches (e.g. :func:`moving_patches`;
    pairs with none are left out), on the target rows whatever the direction."""
    return _mean_sem(ranked_cas_per_pair(a, b, where))


def ranked_cas_per_pair(a: Ranked, b: Ranked, where: np.ndarray | None = None) -> np.ndarray:
    """(P,) CAS of every test pair (see :func:`ranked_cas`); NaN for pairs with no patch in ``where``."""
    if where is None:
        return cas_from_sets(a.cas_sets, b.cas_sets).double().numpy()
    return cas_from_sets(a.target_sets, b.target_sets, where).double().numpy()


def ranked_cas_per_layer(a: Ranked, b: Ranked) -> np.ndarray:
    """(L,) CAS per decoder layer; a one-layer baseline is compared with every layer of the other."""
    la, lb = a.cas_layer_sets, b.cas_layer_sets
    if la is None or lb is None:
        raise SlifeError("per-layer CAS needs per-layer attention (compute with per_layer=True)")
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


def patch_displacement(testset: TestSet) -> np.ndarray:
    """(P, N) Chebyshev distance, in patches, from each target patch to its true source patch; -1 where
    there is no ground truth. The identity map is exact exactly where it is 0."""
    if testset.gt is None:
        raise TestSetError(f"{testset.path or 'test set'}: has no ground truth (lives without depth + poses)")
    return gt_displacement(testset.gt, testset.grid)


def moving_patches(testset: TestSet, min_patches: int = MOVING_MIN_PATCHES) -> np.ndarray:
    """(P, N) bool: target patches whose true source patch is at least ``min_patches`` away."""
    return patch_displacement(testset) >= min_patches


def _select(testset: TestSet, where: np.ndarray | None) -> np.ndarray:
    """Target patches with ground truth (and in ``where`` (P, N) bool, if given)."""
    valid = testset.gt >= 0
    if where is not None:
        where = np.asarray(where, dtype=bool)
        if where.shape != valid.shape:
            raise SlifeError(f"gt_alignment: patch selection {where.shape} does not match the test set {valid.shape}")
        valid = valid & where
    return valid


def gt_hits(attn_or_top1: torch.Tensor | np.ndarray | Ranked, testset: TestSet, r: int = 1) -> np.ndarray:
    """(P, N) bool: the top-1 source patch lies within Chebyshev distance ``r`` (patches) of the true
    one; False where there is no ground truth."""
    if testset.gt is None:
        raise TestSetError(f"{testset.path or 'test set'}: has no ground truth (lives without depth + poses)")
    top1 = _top1(attn_or_top1)
    if top1.shape != testset.gt.shape:
        raise SlifeError(f"gt_alignment: top-1 shape {top1.shape} does not match the test set {testset.gt.shape}")
    g = testset.grid
    pr, pc = np.divmod(top1, g)
    tr, tc = np.divmod(np.maximum(testset.gt, 0), g)
    return (np.maximum(np.abs(pr - tr), np.abs(pc - tc)) <= r) & (testset.gt >= 0)


def gt_alignment(
    attn_or_top1: torch.Tensor | np.ndarray | Ranked, testset: TestSet, r: int = 1, where: np.ndarray | None = None
) -> float:
    """Fraction of target patches with visible ground truth whose top-1 source patch lies within
    Chebyshev distance ``r`` (in patches) of the true one, pooled over all pairs.

    Accepts averaged maps (P, Nt, Ns), top-1 indices (P, Nt) or a :class:`Ranked`. ``where`` (P, N)
    bool restricts the score to some target patches (e.g. :func:`moving_patches`); NaN if none is left.
    """
    hits = gt_hits(attn_or_top1, testset, r)
    valid = _select(testset, where)
    return float(hits[valid].mean()) if valid.any() else float("nan")


CORRECTNESS = ("both", "one", "neither")


def cas_by_correctness(a: Ranked, b: Ranked, testset: TestSet, r: int = 1, where: np.ndarray | None = None
                       ) -> dict[str, dict[str, float]]:  # fmt: skip
    """CAS of two matchers split by whether their top-1 is right (within ``r`` patches of the truth):
    on target patches where both, one or neither is right (restricted to ``where``, e.g. moving
    patches). Each part: its share of the patches and its CAS (pooled over patches). Agreement on
    "neither" is agreement on errors (a shared prior or trick), not on the world."""
    valid = _select(testset, where)
    ha, hb = gt_hits(a, testset, r), gt_hits(b, testset, r)
    right = ha.astype(np.int64) + hb.astype(np.int64)
    overlap = overlap_fraction(a.target_sets, b.target_sets).numpy()
    total = int(valid.sum())
    out = {}
    for name, count in zip(CORRECTNESS, (2, 1, 0)):
        sel = valid & (right == count)
        out[name] = {"share": float(sel.sum() / total) if total else float("nan"),
                     "cas": float(overlap[sel].mean()) if sel.any() else float("nan")}  # fmt: skip
    return out


def gt_alignment_chance(testset: TestSet, r: int = 1, where: np.ndarray | None = None) -> float:
    """Expected :func:`gt_alignment` of a top-1 drawn uniformly over the source patches."""
    if testset.gt is None:
        raise TestSetError(f"{testset.path or 'test set'}: has no ground truth")
    g, n = testset.grid, testset.num_patches
    tr, tc = np.divmod(testset.gt[_select(testset, where)], g)
    if len(tr) == 0:
        return float("nan")
    rows = np.minimum(tr + r, g - 1) - np.maximum(tr - r, 0) + 1
    cols = np.minimum(tc + r, g - 1) - np.maximum(tc - r, 0) + 1
    return float((rows * cols / n).mean())


# ---- matrices -------------------------------------------------------------------------------------
def alignment_matrix(
    matchers: Mapping[str, Matcher],
    testset: TestSet,
    k: int = 5,
    cache: AttentionCache | None = None,
) -> tuple[list[str], np.ndarray]:
    """(names, M) with M[i, j] = CAS of matchers i and j (symmetric, 1 on the diagonal)."""
    names, matrix, _ = _matrix(matchers, testset, k, cache)
    return names, matrix


def _matrix(
    matchers: Mapping[str, Matcher],
    testset: TestSet,
    k: int,
    cache: AttentionCache | None,
    where: np.ndarray | None = None,
) -> tuple[list[str], np.ndarray, np.ndarray]:
    cache = cache or AttentionCache(testset, k)
    if cache.k != k or cache.testset is not testset:
        raise SlifeError("alignment_matrix: the cache was made for another test set or k")
    names = list(matchers)
    ranked = [cache.get(n, matchers[n]) for n in names]
    m = np.ones((len(names), len(names)))
    sem = np.zeros_like(m)
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            m[i, j], sem[i, j] = ranked_cas(ranked[i], ranked[j], where)
            m[j, i], sem[j, i] = m[i, j], sem[i, j]
    return names, m, sem


def alignment_report(
    matchers: Mapping[str, Matcher],
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
    names, matrix, sem = _matrix(matchers, testset, k, cache)
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
        ranked = {n: cache.get(n, matchers[n]) for n in names}
        per = {}
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                la, lb = ranked[a].cas_layer_sets.shape[0], ranked[b].cas_layer_sets.shape[0]
                comparable = la == lb or 1 in (la, lb)  # else: different decoder depths -> None
                per[f"{a} | {b}"] = ranked_cas_per_layer(ranked[a], ranked[b]).tolist() if comparable else None
        report["cas_per_layer"] = per
    if testset.has_gt:
        report["gt_alignment"] = {n: gt_scores(cache.get(n, matchers[n]), testset, radii) for n in names}
        report["gt_alignment_chance"] = gt_chance(testset, radii)
        moving = moving_patches(testset)
        report["cas_moving"] = _matrix(matchers, testset, k, cache, moving)[1].tolist()
        models = [n for n in names if n not in baselines]
        report["cas_moving_by_correctness"] = {
            f"{a} | {b}": cas_by_correctness(cache.get(a, matchers[a]), cache.get(b, matchers[b]), testset, 1, moving)
            for i, a in enumerate(models) for b in models[i + 1 :]
        }  # fmt: skip
    return report




def standard_baselines(
    model_config: Any,
    seed: int = 0,
    batch_size: int = 16,
    device: str | None = None,
    protocol: ReadProtocol = UNMASKED,
    testset: TestSet | None = None,
) -> dict[str, Matcher]:
    """The nulls and the ceiling every number is shown with: the random-init model (of
    ``model_config``, read with ``protocol``), the identity map, pixel matching by absolute difference
    (strong where views differ by a translation) and by normalised correlation (robust to exposure)
    and, when ``testset`` has ground truth, the ground-truth oracle."""
    base: dict[str, Matcher] = {
        "random-init": random_init_matcher(model_config, seed, "random-init", batch_size, device, protocol),
        "identity": IdentityMatcher(),
        "pixel-match": PixelMatcher(),
        "pixel-ncc": PixelMatcher("pixel-ncc", "ncc"),
    }
    if testset is not None and testset.has_gt:
        base["ground-truth"] = OracleMatcher()
    return base


def gt_scores(ranked: Ranked, testset: TestSet, radii: tuple[int, ...]) -> dict[str, float]:
    """GT alignment at each radius on all patches with GT (``r0``, ``r1``, ...) and on moving patches
    (``moving_r0``, ...: true displacement >= 2 patches, where the identity map scores 0)."""
    moving = moving_patches(testset)
    out = {f"r{r}": gt_alignment(ranked, testset, r) for r in radii}
    out.update({f"moving_r{r}": gt_alignment(ranked, testset, r, moving) for r in radii})
    return out


def gt_chance(testset: TestSet, radii: tuple[int, ...]) -> dict[str, float]:
    """:func:`gt_alignment_chance` with the keys of :func:`gt_scores`."""
    moving = moving_patches(testset)
    out = {f"r{r}": gt_alignment_chance(testset, r) for r in radii}
    out.update({f"moving_r{r}": gt_alignment_chance(testset, r, moving) for r in radii})
    return out


def model_config_of(matcher: Any) -> Any:
    """The ModelConfig behind a checkpoint or model matcher."""
    from slife.model.checkpoint import stored_model_config

    if hasattr(matcher, "model"):
        return matcher.model.cfg
    return stored_model_config(matcher.meta["model_config"], str(matcher.meta.get("path")))


# ---- emergence ------------------------------------------------------------------------------------
def nested_checkpoints(run_dirs: list[str | Path]) -> list[Any]:
    """The final milestone of each run (its most hours seen), sorted by hours: the points of the
    nested-subset protocol, where each run was trained on a longer prefix of the same life
    (``data.prefix_hours``) with the same schedule, so data amount and compute are not confounded."""
    from slife.model.checkpoint import list_checkpoints

    points = []
    for run in run_dirs:
        ckpts = list_checkpoints(run)
        if not ckpts:
            raise SlifeError(f"{run}: run has no milestone checkpoints (checkpoints/hours_<h>.pt)")
        points.append((Path(run), ckpts[-1]))
    return sorted(points, key=lambda rc: rc[1].hours_seen)


def emergence_report(
    run_dir: str | Path | list[str | Path],
    reference: str | Path | Matcher,
    testset: TestSet,
    k: int = 5,
    radii: tuple[int, ...] = (0, 1),
    include_last: bool = False,
    seed: int = 0,
    batch_size: int = 16,
    device: str | None = None,
    cache: AttentionCache | None = None,
    protocol: ReadProtocol = UNMASKED,
    extra_baselines: Mapping[str, Matcher] | None = None,
    bootstrap: int = 0,
    confidence: float = 0.95,
    metrics: tuple[str, ...] = (),
    metric_k: int = 10,
    metric_samples: int = 1024,
    metric_bootstrap: int = 0,
) -> dict[str, Any]:
    """CAS with ``reference`` against hours of video seen, plus baselines (random init, identity, pixel
    matching, the oracle and ``extra_baselines``, each vs the reference; chance) and GT alignment.

    ``run_dir`` one run: its milestone checkpoints (the *streaming* protocol: one model, checkpoints
    along the life). A list of runs: each run's final checkpoint (the *nested-subset* protocol, see
    :func:`nested_checkpoints`). ``bootstrap`` > 0 adds each point's ``cas_ci`` [low, high] (and
    ``gt_alignment_ci``): percentile bootstrap over test pairs (slife.align.intervals). ``metrics``
    (slife.align.similarity names) adds each point's and each model baseline's ``similarity`` with the
    reference: metric -> {value, layers, interval} at the best layer pair, on ``metric_samples`` seeded
    cells, the interval from ``metric_bootstrap`` half-samples of the test pairs.
    """
    from slife.align.intervals import cas_interval, gt_intervals
    from slife.model.checkpoint import list_checkpoints

    nested = isinstance(run_dir, (list, tuple))
    if nested:
        entries = [(f"{run.name}/{info.name}", info) for run, info in nested_checkpoints(list(run_dir))]
    else:
        entries = [(f"{Path(run_dir).name}/{info.name}", info) for info in list_checkpoints(run_dir, include_last)]
    if not entries:
        raise SlifeError(f"{run_dir}: run has no milestone checkpoints (checkpoints/hours_<h>.pt)")
    ckpts = [info for _, info in entries]
    cache = cache or AttentionCache(testset, k)
    if isinstance(reference, (str, Path)):
        ref_name = f"reference:{Path(reference).name}"
        ref_matcher: Matcher = checkpoint_matcher(reference, ref_name, batch_size, device, protocol)
    else:
        ref_matcher, ref_name = reference, f"reference:{reference.name}"
    ref = cache.get(ref_name, ref_matcher)
    from slife.align.features import SimilarityTo

    similar = SimilarityTo(ref_matcher, testset, metrics, metric_k, metric_samples, seed, batch_size, device,
                           metric_bootstrap, confidence)  # fmt: skip
    points = []
    for name, info in entries:
        src = checkpoint_matcher(info.path, name, batch_size, device, protocol)
        ranked = cache.get(src.name, src)
        value, sem = ranked_cas(ranked, ref)
        point = {"name": name if nested else info.name, "hours": info.hours_seen, "step": info.step, "cas": value,
                 "cas_sem": sem}  # fmt: skip
        if similar:
            point["similarity"] = similar(src)
        if testset.has_gt:
            point["gt_alignment"] = gt_scores(ranked, testset, radii)
        if bootstrap:
            ci = cas_interval(ranked, ref, bootstrap, confidence, seed)
            point["cas_ci"] = [ci.low, ci.high]
            if testset.has_gt:
                point["gt_alignment_ci"] = gt_intervals(ranked, testset, radii, bootstrap, confidence, seed)
        points.append(point)
    base = standard_baselines(model_config_of(checkpoint_matcher(ckpts[0].path)), seed, batch_size, device, protocol,
                              testset)  # fmt: skip
    base.update(extra_baselines or {})
    baselines = {f"{n} vs reference": ranked_cas(cache.get(n, s), ref)[0] for n, s in base.items()}
    if similar:
        sims = {n: similar(s) for n, s in base.items()}
        sims["pixels"] = similar.pixels()
        similarity = {f"{n} vs reference": v for n, v in sims.items() if v is not None}
    report: dict[str, Any] = {
        "run": [str(r) for r in run_dir] if nested else str(run_dir),
        "emergence_protocol": "nested" if nested else "streaming",
        "reference": str(getattr(ref_matcher, "path", ref_name)),
        "k": k,
        "num_patches": testset.num_patches,
        "chance": chance_cas(k, testset.num_patches),
        "points": points,
        "baselines": baselines,
        "protocol": protocol.label,
        "testset": testset.summary(),
    }
    if similar:
        report["similarity"] = {"metrics": list(metrics), "k": metric_k, "samples": similar.samples,
                                "baselines": similarity}  # fmt: skip
    if testset.has_gt:
        report["reference_gt_alignment"] = gt_scores(ref, testset, radii)
        report["random_init_gt_alignment"] = gt_scores(cache.get("random-init", base["random-init"]), testset, radii)
        report["identity_gt_alignment"] = gt_scores(cache.get("identity", base["identity"]), testset, radii)
        report["pixel_match_gt_alignment"] = gt_scores(cache.get("pixel-match", base["pixel-match"]), testset, radii)
        report["pixel_ncc_gt_alignment"] = gt_scores(cache.get("pixel-ncc", base["pixel-ncc"]), testset, radii)
        report["gt_alignment_chance"] = gt_chance(testset, radii)
    return report


def emergence_curve(
    run_dir: str | Path, reference: str | Path | Matcher, testset: TestSet, k: int = 5, **kwargs: Any
) -> list[tuple[float, float]]:
    """[(hours of video seen, CAS with the reference)] over the run's milestone checkpoints."""
    report = emergence_report(run_dir, reference, testset, k, **kwargs)
    return [(p["hours"], p["cas"]) for p in report["points"]]
