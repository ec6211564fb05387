"""Patch features of every encoder and decoder layer on a test set, for the similarity metrics.

Samples are target patches of the test pairs: (pair, patch) cells, flattened pair-major. Kernel
metrics cost O(n^2), so a seeded subset of ``max_samples`` cells (the same for every model on a test
set) is used [ours: 1024 by default, the sample count of Huh et al. 2024]. For every model: the
target through the encoder (``enc0`` ... after each block) and the decoder with the target unmasked
and the pair's source as second view (``dec0`` ...), read by hooks (slife.model.record.block_outputs).
The pixel baseline's one "layer" is the raw RGB patch vector.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch

from slife.align.similarity import Kernels, best_layer_pair, null_level, prepare
from slife.align.matchers import image_patches
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
                      k: int = 10, baselines: tuple[str, ...] = ()) -> dict[str, Any]:  # fmt: skip
    """Every metric between every two representations (name -> layer -> (n, dim) features), each at
    its best-aligned layer pair (searched over all encoder and decoder layers of both):

    {``names``, ``baselines``, ``metrics``, ``k``, ``samples``, ``null`` (metric -> level or None),
    metric -> {``value``: M x M (1 on the diagonal), ``layers``: M x M of [layer_a, layer_b] (None on
    the diagonal), ``grids``: ``"a | b"`` (a listed before b) -> {``rows``, ``cols``, ``values``}: every
    layer of a against every layer of b}}.
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
    return report


def pairwise(report: Mapping[str, Any], a: str, b: str, metric: str) -> tuple[float, list[Any] | None]:
    """(value, [layer of a, layer of b]) of one cell of a :func:`similarity_report`."""
    names = report["names"]
    i, j = names.index(a), names.index(b)
    return report[metric]["value"][i][j], report[metric]["layers"][i][j]

