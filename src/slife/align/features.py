"""Patch features of every encoder and decoder layer on a test set, for the similarity metrics.

Samples are target patches of the test pairs: (pair, patch) cells, flattened pair-major. Kernel
metrics cost O(n^2), so a seeded subset of ``max_samples`` cells (the same for every model on a test
set) is used [ours: 1024 by default, the sample count of Huh et al. 2024]. For every model: the
target through the encoder (``enc0`` ... after each block) and the decoder with the target unmasked
and the pair's source as second view (``dec0`` ...), read by hooks (slife.model.record.block_outputs).
The pixel baseline's one "layer" is the raw RGB patch vector.

Intervals (``bootstrap`` > 0): test pairs are the unit, as for CAS, but the metrics are scored on
half-samples of the pairs drawn without replacement (slife.align.bootstrap.half_sample_interval), not
on bootstrap resamples: a repeated pair would double the density of its patches, which the
neighbour metrics count as agreement. Each half-sample scores every cell at the layer pair the
search chose on all pairs (the search is not repeated: the interval is conditional on that choice);
every cell and group mean is scored on the same half-samples, so contrasts of groups are paired, and
a group's model pairs are also drawn with replacement in each replicate (the members of a group vary
too, as in slife.align.bootstrap.contrast_interval).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from slife.align.bootstrap import half_sample_interval, half_samples
from slife.align.matchers import image_patches
from slife.align.similarity import Kernels, best_layer_pair, compare, null_level, prepare, subset
from slife.align.testset import TestSet
from slife.devices import resolve_device
from slife.errors import SlifeError

PIXELS = "pixels"  # the features baseline: raw patches, no model


def sample_cells(testset: TestSet, max_samples: int = 1024, seed: int = 0) -> np.ndarray:
    """Sorted flat indices pair * N + patch of the cells scored (all when there are at most ``max_samples``)."""
    total = len(testset) * testset.num_patches
    if max_samples < 4:
        raise SlifeError(f"similarity: max_samples must be >= 4, got {max_samples}")
    if total <= max_samples:
        return np.arange(total)
    return np.sort(np.random.default_rng(seed).choice(total, size=max_samples, replace=False))


def model_features(model: torch.nn.Module, testset: TestSet, cells: np.ndarray, batch_size: int = 16,
                   device: str | None = None) -> dict[str, torch.Tensor]:  # fmt: skip
    """Layer name -> (len(cells), dim) float32 CPU features of the cells (eval mode, no gradients)."""
    from slife.imaging import to_tensors
    from slife.model.record import block_outputs

    testset.check_model(model.cfg.img_size, model.cfg.patch_size, "model")
    dev = resolve_device(device)
    n = testset.num_patches
    pair_of = cells // n
    out: dict[str, list[torch.Tensor]] = {}
    was_training = model.training
    model.to(dev).eval()
    try:
        with torch.no_grad():
            for start in range(0, len(testset), batch_size):
                stop = min(start + batch_size, len(testset))
                chosen = cells[(pair_of >= start) & (pair_of < stop)]
                if len(chosen) == 0:
                    continue
                src, tgt = to_tensors(testset.src[start:stop]).to(dev), to_tensors(testset.tgt[start:stop]).to(dev)
                rows = torch.as_tensor(chosen // n - start)
                cols = torch.as_tensor(chosen % n)
                for name, feats in block_outputs(model, src, tgt).items():
                    out.setdefault(name, []).append(feats.cpu()[rows, cols])
    finally:
        model.train(was_training)
    return {name: torch.cat(parts) for name, parts in out.items()}


def pixel_features(testset: TestSet, cells: np.ndarray) -> dict[str, torch.Tensor]:
    """The raw target patches (RGB in [0, 1]) of the cells: the baseline representation."""
    patches = image_patches(testset.tgt, testset.patch_size) / 255.0  # (P, N, p*p*3)
    flat = patches.reshape(-1, patches.shape[-1])[cells]
    return {PIXELS: torch.as_tensor(flat, dtype=torch.float32)}


def matcher_features(matcher: Any, testset: TestSet, cells: np.ndarray, batch_size: int = 16,
                     device: str | None = None) -> dict[str, torch.Tensor] | None:  # fmt: skip
    """Features of a matcher that is a model (in memory or a checkpoint); None otherwise."""
    if hasattr(matcher, "model"):
        return model_features(matcher.model, testset, cells, batch_size, device)
    if hasattr(matcher, "load"):
        model, _ = matcher.load()
        return model_features(model, testset, cells, batch_size, device)
    return None


def prepare_layers(features: Mapping[str, torch.Tensor], k: int) -> dict[str, Kernels]:
    """:func:`~slife.align.similarity.prepare` of every layer (float32 kernels, to save memory)."""
    return {name: prepare(x, k, torch.float32) for name, x in features.items()}


def similarity_report(representations: Mapping[str, Mapping[str, torch.Tensor]], metrics: tuple[str, ...],
                      k: int = 10, baselines: tuple[str, ...] = (), units: np.ndarray | None = None,
                      bootstrap: int = 0, confidence: float = 0.95, seed: int = 0,
                      groups: Mapping[str, Sequence[tuple[str, str]]] | None = None,
                      contrasts: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:  # fmt: skip
    """Every metric between every two representations (name -> layer -> (n, dim) features), each at
    its best-aligned layer pair (searched over all encoder and decoder layers of both):

    {``names``, ``baselines``, ``metrics``, ``k``, ``samples``, ``null`` (metric -> level or None),
    metric -> {``value``: M x M (1 on the diagonal), ``layers``: M x M of [layer_a, layer_b] (None on
    the diagonal), ``grids``: ``"a | b"`` (a listed before b) -> {``rows``, ``cols``, ``values``}: every
    layer of a against every layer of b}}.

    With ``bootstrap`` half-samples of the ``units`` (the test pair of every sample) each metric also has
    ``interval`` (M x M of [low, high]), ``groups`` (label -> [mean, low, high] over the named model
    pairs of ``groups``) and ``contrasts`` (``"g1 - g2"`` -> [difference, low, high] of two groups).
    """
    names = list(representations)
    if not names:
        raise SlifeError("similarity: no representations")
    prepared = {n: prepare_layers(representations[n], k) for n in names}
    n_samples = next(iter(next(iter(prepared.values())).values())).n
    report: dict[str, Any] = {"names": names, "baselines": [n for n in names if n in baselines],
                              "metrics": list(metrics), "k": k, "samples": n_samples,
                              "null": {m: null_level(m, n_samples, k) for m in metrics}}  # fmt: skip
    for metric in metrics:
        value = np.eye(len(names))
        layers: list[list[Any]] = [[None] * len(names) for _ in names]
        grids = {}
        for i, a in enumerate(names):
            for j in range(i + 1, len(names)):
                found = best_layer_pair(prepared[a], prepared[names[j]], metric)
                value[i, j] = value[j, i] = found["value"]
                layers[i][j] = found["layers"]
                layers[j][i] = found["layers"][::-1]
                grids[f"{a} | {names[j]}"] = {"rows": found["names_a"], "cols": found["names_b"], "values": found["grid"]}
        report[metric] = {"value": value.tolist(), "layers": layers, "grids": grids}
    if bootstrap > 0:
        if units is None or len(units) != n_samples:
            raise SlifeError(f"similarity: bootstrap needs the unit of each of the {n_samples} samples")
        _add_intervals(report, prepared, np.asarray(units), bootstrap, confidence, seed, groups or {}, contrasts)
    return report


def group_cells(report: Mapping[str, Any], pairs: Sequence[tuple[str, str]]) -> list[tuple[int, int]]:
    """Matrix cells (i, j) of the named model pairs (those present and distinct)."""
    idx = {n: i for i, n in enumerate(report["names"])}
    return [(idx[a], idx[b]) for a, b in pairs if a in idx and b in idx and a != b]


def _add_intervals(report: dict[str, Any], prepared: Mapping[str, Mapping[str, Kernels]], units: np.ndarray,
                   n: int, confidence: float, seed: int, groups: Mapping[str, Sequence[tuple[str, str]]],
                   contrasts: Sequence[tuple[str, str]]) -> None:  # fmt: skip
    """Score the metrics on ``n`` half-samples of the ``units`` (module docstring); add the intervals to ``report``."""
    names, metrics = report["names"], report["metrics"]
    m = len(names)
    upper = [(i, j) for i in range(m) for j in range(i + 1, m)]
    cells = {g: group_cells(report, pairs) for g, pairs in groups.items()}
    members = _members(units)
    if len(members) < 4:  # too few test pairs to half-sample: no intervals
        report["bootstrap"] = {"resamples": 0, "confidence": confidence, "unit": "test pair", "units": len(members),
                               "method": "half-samples"}  # fmt: skip
        return
    # the model pairs of each group are drawn with replacement in every replicate (as CAS's contrasts
    # draw them, slife.align.bootstrap.contrast_interval): a group mean varies with its members too
    pick = np.random.default_rng(seed + 1)
    draws = {g: pick.integers(0, len(c), size=(n, len(c))) for g, c in cells.items() if c}
    reps = {metric: np.full((n, m, m), np.nan) for metric in metrics}
    for r, chosen in enumerate(half_samples(len(members), n, seed)):
        idx = np.concatenate([members[u] for u in chosen])
        cache: dict[tuple[str, str], Kernels] = {}

        def kern(name: str, layer: str) -> Kernels:
            if (name, layer) not in cache:
                cache[name, layer] = subset(prepared[name][layer], idx)
            return cache[name, layer]

        for metric in metrics:
            for i, j in upper:
                la, lb = report[metric]["layers"][i][j]
                if la is None:  # every layer pair was degenerate
                    continue
                reps[metric][r, i, j] = _compare_or_nan(lambda: kern(names[i], la), lambda: kern(names[j], lb), metric)
    for metric in metrics:
        value = np.asarray(report[metric]["value"], dtype=float)
        interval = [[[1.0, 1.0] for _ in names] for _ in names]
        for i, j in upper:
            ci = half_sample_interval(value[i, j], reps[metric][:, i, j], len(members), confidence)
            interval[i][j] = interval[j][i] = [ci.low, ci.high]
        report[metric]["interval"] = interval
        means = {g: (_cells_mean(value[None], c)[0], _cells_mean(reps[metric], c, draws[g])) for g, c in cells.items() if c}
        n_units = len(members)
        report[metric]["groups"] = {g: _entry(v, rep, n_units, confidence) for g, (v, rep) in means.items()}
        report[metric]["contrasts"] = {f"{a} - {b}": _entry(means[a][0] - means[b][0], means[a][1] - means[b][1], n_units,
                                                            confidence) for a, b in contrasts if a in means and b in means}  # fmt: skip
    report["bootstrap"] = {"resamples": n, "confidence": confidence, "unit": "test pair", "units": len(members),
                           "method": "half-samples"}  # fmt: skip


def _compare_or_nan(a: Callable[[], Kernels], b: Callable[[], Kernels], metric: str) -> float:
    """The metric between the kernels ``a()`` and ``b()`` of one half-sample; NaN where the half-sample
    is too small for it (fewer samples than k + 1)."""
    try:
        return compare(a(), b(), metric)
    except SlifeError:
        return float("nan")


def _cells_mean(v: np.ndarray, cells: list[tuple[int, int]], draws: np.ndarray | None = None) -> np.ndarray:
    """Mean over the (i, j) cells (either triangle) of every (r, M, M) slice; ``draws`` (r, len(cells)):
    which cells each slice averages (a resample of the cells), default all."""
    ii, jj = np.array([min(c) for c in cells]), np.array([max(c) for c in cells])
    values = v[:, ii, jj]
    if draws is None:
        return values.mean(axis=1)
    return np.take_along_axis(values, draws, axis=1).mean(axis=1)


def _entry(value: float, replicates: np.ndarray, units: int, confidence: float) -> list[float]:
    ci = half_sample_interval(float(value), replicates, units, confidence)
    return [ci.value, ci.low, ci.high]


def similarity_with(reference: Mapping[str, Kernels], features: Mapping[str, torch.Tensor], metrics: Sequence[str],
                    k: int = 10, units: np.ndarray | None = None, bootstrap: int = 0, confidence: float = 0.95,
                    seed: int = 0) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Each metric between a representation's layer ``features`` and a prepared ``reference`` (the same
    cells), at their best-aligned layer pair: metric -> {``value``, ``layers`` [layer, reference layer]},
    and ``interval`` [low, high] from ``bootstrap`` half-samples of the ``units`` (module docstring)."""
    prepared = prepare_layers(features, k)
    out = {}
    for metric in metrics:
        found = best_layer_pair(prepared, reference, metric)
        out[metric] = {"value": found["value"], "layers": found["layers"]}
    members = _members(units) if bootstrap > 0 and units is not None else []
    if len(members) >= 4:
        halves = [np.concatenate([members[u] for u in h]) for h in half_samples(len(members), bootstrap, seed)]
        for metric, entry in out.items():
            la, lb = entry["layers"]
            if la is None:
                continue
            reps = [_compare_or_nan(lambda: subset(prepared[la], i), lambda: subset(reference[lb], i), metric)
                    for i in halves]  # fmt: skip
            ci = half_sample_interval(entry["value"], reps, len(members), confidence)
            entry["interval"] = [ci.low, ci.high]
    return out


def _members(units: np.ndarray) -> list[np.ndarray]:
    """The sample positions of every distinct unit (in sorted unit order)."""
    _, where = np.unique(np.asarray(units), return_inverse=True)
    return [np.flatnonzero(where == u) for u in range(int(where.max()) + 1)]


class SimilarityTo:
    """The similarity metrics of any model matcher with one reference model on fixed seeded cells, with
    half-sample intervals over test pairs when ``bootstrap`` > 0; falsy when no metric is asked for or
    the reference is not a model."""

    def __init__(self, reference: Any, testset: TestSet, metrics: tuple[str, ...], k: int, samples: int, seed: int,
                 batch_size: int, device: str | None, bootstrap: int = 0, confidence: float = 0.95) -> None:  # fmt: skip
        self.metrics, self.k, self.testset, self.batch_size, self.device = metrics, k, testset, batch_size, device
        self.bootstrap, self.confidence, self.seed = bootstrap, confidence, seed
        self.reference = None
        if metrics:
            self.cells = sample_cells(testset, samples, seed)
            feats = matcher_features(reference, testset, self.cells, batch_size, device)
            self.reference = None if feats is None else prepare_layers(feats, k)
        self.samples = 0 if self.reference is None else len(self.cells)

    def __bool__(self) -> bool:
        return self.reference is not None

    def __call__(self, matcher: Any) -> dict[str, Any] | None:
        feats = matcher_features(matcher, self.testset, self.cells, self.batch_size, self.device)
        return None if feats is None else self._with(feats)

    def pixels(self) -> dict[str, Any]:
        return self._with(pixel_features(self.testset, self.cells))

    def _with(self, feats: Mapping[str, torch.Tensor]) -> dict[str, Any]:
        assert self.reference is not None
        return similarity_with(self.reference, feats, self.metrics, self.k, self.cells // self.testset.num_patches,
                               self.bootstrap, self.confidence, self.seed)  # fmt: skip


def pairwise(report: Mapping[str, Any], a: str, b: str, metric: str) -> tuple[float, list[Any] | None]:
    """(value, [layer of a, layer of b]) of one cell of a :func:`similarity_report`."""
    names = report["names"]
    i, j = names.index(a), names.index(b)
    return report[metric]["value"][i][j], report[metric]["layers"][i][j]

