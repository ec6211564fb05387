"""Standard metrics of monocular depth and dense correspondence, as pure numpy functions.

Depth (Eigen et al. 2014): AbsRel, RMSE, log10, and the threshold accuracies d1/d2/d3
(fraction of pixels with max(pred/gt, gt/pred) < 1.25^k). Flow: average end-point error (AEPE)
and the percentage of correct keypoints within t pixels (PCK@t).
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np

DEPTH_METRICS = ("abs_rel", "rmse", "log10", "d1", "d2", "d3")

# NYU-Depth-v2 evaluation crop of Eigen et al. (rows 45:471, cols 41:601 of the 480 x 640 image).
EIGEN_CROP = (45, 471, 41, 601)
NYU_SHAPE = (480, 640)


def eigen_crop_mask(shape: tuple[int, int] = NYU_SHAPE) -> np.ndarray:
    """Boolean mask of the Eigen crop for a 480 x 640 image."""
    if tuple(shape) != NYU_SHAPE:
        raise ValueError(f"the Eigen crop is defined for {NYU_SHAPE} images, got {tuple(shape)}")
    mask = np.zeros(shape, dtype=bool)
    r0, r1, c0, c1 = EIGEN_CROP
    mask[r0:r1, c0:c1] = True
    return mask


def depth_valid_mask(gt: np.ndarray, min_depth: float = 1e-3, max_depth: float | None = None) -> np.ndarray:
    """Pixels with finite ground truth inside the caps ``(min_depth, max_depth]``."""
    gt = np.asarray(gt, dtype=np.float64)
    valid = np.isfinite(gt) & (gt > min_depth)
    if max_depth is not None:
        valid &= gt <= max_depth
    return valid


def median_scale(pred: np.ndarray, gt: np.ndarray) -> float:
    """Per-image scale s = median(gt) / median(pred) over the given (valid) pixels."""
    return float(np.median(gt) / max(np.median(pred), 1e-12))


def depth_metrics(
    pred: np.ndarray,
    gt: np.ndarray,
    valid: np.ndarray | None = None,
    *,
    min_depth: float = 1e-3,
    max_depth: float | None = None,
    median_scaling: bool = False,
) -> dict[str, float]:
    """AbsRel, RMSE (metres), log10, d1/d2/d3 of one image over ``valid`` pixels.

    Predictions are (optionally median-scaled, then) clipped to ``[min_depth, max_depth]`` as in the
    standard protocol. Pixels: ``valid`` (default: all) and GT inside the caps.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f"pred {pred.shape} and gt {gt.shape} differ in shape")
    mask = depth_valid_mask(gt, min_depth, max_depth)
    if valid is not None:
        mask &= np.asarray(valid, dtype=bool)
    if not mask.any():
        return {k: float("nan") for k in DEPTH_METRICS} | {"pixels": 0}
    p, g = pred[mask], gt[mask]
    if median_scaling:
        p = p * median_scale(p, g)
    p = np.clip(p, min_depth, max_depth if max_depth is not None else np.inf)
    ratio = np.maximum(p / g, g / p)
    return {
        "abs_rel": float(np.mean(np.abs(p - g) / g)),
        "rmse": float(np.sqrt(np.mean((p - g) ** 2))),
        "log10": float(np.mean(np.abs(np.log10(p) - np.log10(g)))),
        "d1": float(np.mean(ratio < 1.25)),
        "d2": float(np.mean(ratio < 1.25**2)),
        "d3": float(np.mean(ratio < 1.25**3)),
        "pixels": int(mask.sum()),
    }


def flow_metrics(
    pred_xy: np.ndarray, gt_xy: np.ndarray, valid: np.ndarray | None = None, thresholds: Sequence[float] = (1, 3, 5)
) -> dict[str, float]:
    """AEPE and PCK@t (fraction of points with end-point error <= t pixels) over ``valid`` points.

    ``pred_xy`` and ``gt_xy`` are (..., 2) positions (or displacements) in the same pixel frame.
    """
    pred_xy = np.asarray(pred_xy, dtype=np.float64).reshape(-1, 2)
    gt_xy = np.asarray(gt_xy, dtype=np.float64).reshape(-1, 2)
    if pred_xy.shape != gt_xy.shape:
        raise ValueError(f"pred {pred_xy.shape} and gt {gt_xy.shape} differ in shape")
    mask = np.ones(len(gt_xy), dtype=bool) if valid is None else np.asarray(valid, dtype=bool).reshape(-1)
    mask &= np.isfinite(gt_xy).all(axis=1)
    out: dict[str, float] = {"points": int(mask.sum())}
    if not mask.any():
        out["aepe"] = float("nan")
        out.update({pck_key(t): float("nan") for t in thresholds})
        return out
    epe = np.linalg.norm(pred_xy[mask] - gt_xy[mask], axis=1)
    epe[~np.isfinite(epe)] = np.inf
    out["aepe"] = float(np.mean(epe)) if np.isfinite(epe).all() else float("inf")
    out.update({pck_key(t): float(np.mean(epe <= t)) for t in thresholds})
    return out


def pck_key(t: float) -> str:
    """Result key of PCK at ``t`` pixels: ``pck@1``, ``pck@0.5``."""
    return f"pck@{t:g}"


def mean_metrics(rows: Iterable[Mapping[str, float]], keys: Sequence[str] | None = None) -> dict[str, float]:
    """Per-key mean over rows, ignoring NaN (the counts ``pixels`` and ``points`` are summed)."""
    rows = list(rows)
    if not rows:
        return {}
    if keys is None:
        keys = list(dict.fromkeys(k for r in rows for k, v in r.items() if isinstance(v, (int, float))))
    out: dict[str, float] = {}
    for key in keys:
        values = np.array([float(r[key]) for r in rows if key in r], dtype=np.float64)
        if key in ("pixels", "points"):
            out[key] = int(values.sum())
            continue
        finite = values[~np.isnan(values)]
        out[key] = float(finite.mean()) if len(finite) else float("nan")
    return out
