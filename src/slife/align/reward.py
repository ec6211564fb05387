"""How much can copying the right source patch lower CroCo's loss? The copy reward of a test set.

CroCo's loss is the MSE on hidden target patches of the per-patch-normalised target
(``CroCo.loss`` with ``norm_pix_loss``). A decoder can lower it from two places: the target's own
visible neighbours (in-view completion) and the source view (cross-view completion). Correspondence
pays only as far as the source adds something the neighbours do not give. :func:`copy_reward`
measures that on a test set with ground truth, for a decoder that copies one source patch on the
patch grid:

- every target patch with ground truth whose 4 grid neighbours all exist (interior patches; border
  patches are left out so every patch has the same in-view context) is normalised as the loss
  normalises it (:func:`normalised_patches`);
- the best linear predictor of it (one scalar coefficient per feature plus an intercept, fitted by
  least squares over all pooled entries) is fitted from the features ``nb`` (the mean of its 4
  neighbours' normalised target patches; the neighbours are taken as visible, whether or not they
  have ground truth), ``grid`` (the normalised source patch at the ground-truth grid position) and
  ``random`` (a uniformly random source patch, seeded: the null);
- R² = 1 - residual SS / total SS, entries pooled, for ``nb``, ``nb + grid``, ``nb + random`` and
  ``grid`` alone. ``grid_gain = r2_nb_grid - r2_nb`` is the share of the normalised target's variance
  that attending to the right source patch explains beyond the neighbours: the most a one-patch copy
  can lower the (unit-variance) loss below in-view completion, relative to predicting 0.

On shifted pairs (:func:`shifted_testset`: the same window moved by whole patches) the right source
patch is an exact copy, so ``r2_nb_grid`` = 1 and ``grid_gain`` = 1 - ``r2_nb``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from slife.align.testset import TestSet, TestSetError
from slife.errors import SlifeError

def normalised_patches(images: np.ndarray, patch_size: int) -> np.ndarray:
    """(P, S, S, 3) uint8 -> (P, N, p*p*3) float64: CroCo's training target of every patch.

    The loss's own steps in float64: ImageNet-normalised pixels (slife.imaging.to_tensor), row-major
    patches (slife.model.croco.patchify), each normalised by its own mean and unbiased variance
    (slife.model.croco.normalise_patches).
    """
    import torch

    from slife.imaging import to_tensor
    from slife.model.croco import normalise_patches, patchify

    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise SlifeError(f"normalised_patches: images must be (P, S, S, 3), got {images.shape}")
    x = torch.stack([to_tensor(im) for im in images]).double()
    return normalise_patches(patchify(x, patch_size)).numpy()


def neighbour_mean(patches: np.ndarray, grid: int) -> tuple[np.ndarray, np.ndarray]:
    """(P, N, D) patches on a ``grid`` x ``grid`` row-major grid -> the mean of each patch's 4 grid
    neighbours (P, N, D), zero on the border, and (N,) bool: patches with all 4 neighbours."""
    p, n, d = patches.shape
    x = patches.reshape(p, grid, grid, d)
    out = np.zeros_like(x)
    out[:, 1:-1, 1:-1] = (x[:, :-2, 1:-1] + x[:, 2:, 1:-1] + x[:, 1:-1, :-2] + x[:, 1:-1, 2:]) / 4.0
    interior = np.zeros((grid, grid), bool)
    interior[1:-1, 1:-1] = True
    return out.reshape(p, n, d), interior.reshape(n)


def r2(y: np.ndarray, features: list[np.ndarray]) -> float:
    """R² of the least-squares fit of ``y`` by an intercept plus one scalar coefficient per feature
    (all arrays the same shape; entries pooled)."""
    y = y.reshape(-1)
    if y.size == 0:
        return float("nan")
    tot = float(np.square(y - y.mean()).sum())
    if tot == 0.0:
        return float("nan")
    a = np.stack([np.ones_like(y), *(f.reshape(-1) for f in features)], axis=1)
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    res = float(np.square(y - a @ coef).sum())
    return 1.0 - res / tot


def _scores(y: np.ndarray, nb: np.ndarray, grid: np.ndarray, rand: np.ndarray) -> dict[str, Any]:
    out = {
        "r2_nb": r2(y, [nb]),
        "r2_nb_grid": r2(y, [nb, grid]),
        "r2_nb_random": r2(y, [nb, rand]),
        "r2_grid": r2(y, [grid]),
    }
    out["grid_gain"] = out["r2_nb_grid"] - out["r2_nb"]
    out["patches"] = int(len(y))
    return out


def copy_reward(
    testset: TestSet, seed: int = 0, where: np.ndarray | None = None, where_name: str = "moving"
) -> dict[str, Any]:
    """R² of the normalised target from its neighbours, the ground-truth source patch, both, and a
    random source patch (module docstring), pooled over interior target patches with ground truth.

    ``where`` (P, N) bool (e.g. slife.align.analysis.moving_patches) adds the same numbers on those
    patches only, under ``where_name``. Raises TestSetError without ground truth.
    """
    if testset.gt is None:
        raise TestSetError(f"{testset.path or 'test set'}: copy reward needs ground truth (lives with depth + poses)")
    g, n = testset.grid, testset.num_patches
    if g < 3:
        raise TestSetError(f"{testset.path or 'test set'}: copy reward needs a grid of >= 3 x 3 patches, got {g} x {g}")
    tgt = normalised_patches(testset.tgt, testset.patch_size)
    src = normalised_patches(testset.src, testset.patch_size)
    nb, interior = neighbour_mean(tgt, g)
    gt = testset.gt
    rng = np.random.default_rng(seed)
    rand_idx = rng.integers(0, n, size=gt.shape)
    pair = np.arange(len(gt))[:, None]
    grid_src = src[pair, np.maximum(gt, 0)]  # (P, N, D); only used where gt >= 0
    rand_src = src[pair, rand_idx]
    keep = (gt >= 0) & interior[None, :]

    def score(sel: np.ndarray) -> dict[str, Any]:
        return _scores(tgt[sel], nb[sel], grid_src[sel], rand_src[sel])

    out = score(keep)
    if where is not None:
        where = np.asarray(where, dtype=bool)
        if where.shape != gt.shape:
            raise SlifeError(f"copy_reward: patch selection {where.shape} does not match the test set {gt.shape}")
        out[where_name] = score(keep & where)
    return out


def shifted_testset(
    images: np.ndarray, n: int, img_size: int, patch_size: int, max_shift: int, seed: int = 0
) -> TestSet:
    """``n`` whole-patch shifted pairs (shift uniform in ``[-max_shift, max_shift]`` patches per axis)
    cut from ``images`` (list or (K, H, W, 3) uint8), with exact ground truth: the pairs of the shift
    mechanism test (slife.pairs.photos.PhotoPairs, one scale). Each image is resized so its short
    side is ``img_size + 2 * max_shift * patch_size`` (the room the largest shift needs): images of
    ``img_size`` pixels are upsampled by that factor."""
    from slife.pairs.photos import PhotoPairs, PhotoPairsConfig

    photos = [np.asarray(im, dtype=np.uint8) for im in images]
    if not photos:
        raise SlifeError("shifted_testset: no images")
    pairs = PhotoPairs(photos, img_size, patch_size, PhotoPairsConfig(max_shift=max_shift, scales=[1.0]))
    return pairs.testset(n, seed)


def reward_report(testset: Any, max_shift: int | None = None, seed: int = 0) -> dict[str, Any]:
    """:func:`copy_reward` of a test set (all and moving patches) and, with ``max_shift``, of as many
    whole-patch shifted pairs cut from its own frames (what the shift trick's pairs would pay on the
    same images): ``{"testset": ..., "shifted_<max_shift>": ...}``."""
    from slife.align.analysis import moving_patches

    result: dict[str, Any] = {"testset": copy_reward(testset, seed, where=moving_patches(testset))}
    if max_shift is not None:
        frames = list(testset.tgt) + list(testset.src)
        shifted = shifted_testset(frames, len(testset), testset.img_size, testset.patch_size, max_shift, seed)
        result[f"shifted_{max_shift}"] = copy_reward(shifted, seed, where=moving_patches(shifted))
    return result
