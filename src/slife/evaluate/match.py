"""Zero-shot dense correspondence from CroCo cross-attention, and the SIFT baseline on the same pairs.

For a pair (target, source) both images are ``resize_center_crop``-ed to the model's ``img_size``;
the decoder's cross-attention (target rows, source columns, no masking) is averaged over layers and
heads, turned into a source position per target patch (:func:`slife.evaluate.flow.soft_argmax`),
and the displacement is interpolated bilinearly to every target pixel. Predictions are mapped back
with the crops' ``CropMap`` so errors are in the original source image's pixels. Scored points:
target pixels inside the target crop whose ground-truth source position is inside the source crop
(the model cannot see anything else) [ours]; ``coverage`` reports that fraction of all valid points.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from slife.align.matchers import ReadProtocol, read_attention
from slife.errors import SlifeError
from slife.evaluate.datasets import MatchPair, apply_homography
from slife.evaluate.flow import flow_field, round_trip, sample_field, soft_argmax
from slife.evaluate.metrics import flow_metrics, mean_metrics, pck_key
from slife.evaluate.sift import coverage, ransac_homography, sift_match
from slife.geometry import inside
from slife.imaging import CropMap, resize_center_crop, to_tensor


@dataclass
class MatchEvalConfig:
    """Options of ``slife eval match`` (set with ``--set key=value``)."""

    format: str = "auto"  # auto | hpatches | life
    window: int = 2  # soft-argmax window radius in patches around the argmax; -1 = whole grid
    reciprocity: bool = True  # also run source -> target; report metrics on round-trip-consistent patches
    round_trip_patches: float = 1.0  # consistent when the round trip returns within this many patches
    eval_stride: int = 1  # score every k-th target pixel (per axis)
    thresholds: list[float] = (1.0, 3.0, 5.0)  # type: ignore[assignment]
    max_pairs: int = 0  # evenly spaced subset of the pairs (0 = all)
    hpatches_subset: str = "all"  # all | i | v
    life_pairs: int = 50
    life_gap_seconds: float = 1.0
    life_min_overlap: float = 0.3
    sift: bool = True
    sift_ratio: float = 0.8
    sift_coverage_radius: float = 16.0  # px: a valid target point is "covered" by a match this close
    sift_ransac_threshold: float = 3.0  # px; dense SIFT+RANSAC homography flow on homography pairs
    device: str = "auto"
    protocol: str = "masked"  # cross-attention reading: masked | unmasked (slife.align.matchers.ReadProtocol)
    read_masks: int = 8  # masks averaged by the masked protocol

    def __post_init__(self) -> None:
        ReadProtocol(self.protocol, self.read_masks)  # validates
        self.thresholds = [float(t) for t in self.thresholds]
        if self.format not in ("auto", "hpatches", "life"):
            raise SlifeError(f"match config: format must be auto, hpatches or life; got {self.format!r}")
        if self.eval_stride <= 0:
            raise SlifeError(f"match config: eval_stride must be positive, got {self.eval_stride}")
        if not 0.0 < self.sift_ratio <= 1.0:
            raise SlifeError(f"match config: sift_ratio must be in (0, 1], got {self.sift_ratio}")


@dataclass
class ModelFlow:
    """A model's flow for one pair, in crop pixels."""

    positions: np.ndarray  # (N_tgt, 2) soft-argmax source positions of the target patch centres
    field: np.ndarray  # (gh, gw, 2) displacement at target patch centres
    round_trip: np.ndarray | None  # (N_tgt,) round-trip distance in pixels (None without reciprocity)
    map_target: CropMap
    map_source: CropMap


def average_attention(model: torch.nn.Module, src: torch.Tensor, tgt: torch.Tensor, protocol: ReadProtocol) -> np.ndarray:
    """(B, Nt, Ns) cross-attention averaged over layers and heads, read with ``protocol``."""
    return read_attention(model, src, tgt, protocol).mean(dim=0).cpu().numpy()


@torch.no_grad()
def model_flow(model: torch.nn.Module, target: np.ndarray, source: np.ndarray, cfg: MatchEvalConfig) -> ModelFlow:
    """Cross-attention flow of one pair (both directions in one batch when ``reciprocity``)."""
    size, patch = model.cfg.img_size, model.cfg.patch_size
    grid = tuple(model.patch_grid)
    crop_t, map_t = resize_center_crop(target, size)
    crop_s, map_s = resize_center_crop(source, size)
    device = next(model.parameters()).device
    t, s = to_tensor(crop_t)[None].to(device), to_tensor(crop_s)[None].to(device)
    window = cfg.window if cfg.window >= 0 else None
    protocol = ReadProtocol(cfg.protocol, cfg.read_masks)
    if cfg.reciprocity:
        attn = average_attention(model, torch.cat([s, t]), torch.cat([t, s]), protocol)
        fwd = soft_argmax(attn[0], grid, patch, window)
        bwd = soft_argmax(attn[1], grid, patch, window)
        rt = round_trip(fwd, bwd, grid, grid, patch)
    else:
        fwd = soft_argmax(average_attention(model, s, t, protocol)[0], grid, patch, window)
        rt = None
    return ModelFlow(fwd, flow_field(fwd, grid, patch), rt, map_t, map_s)


def score_model_flow(flow: ModelFlow, pair: MatchPair, size: int, patch: int, cfg: MatchEvalConfig) -> dict[str, float]:
    """Dense metrics of a model's flow on one pair, in original source pixels."""
    xy_t_crop = flow.map_target.apply(pair.xy_target)
    gt_s_crop = flow.map_source.apply(np.nan_to_num(pair.xy_source, nan=-1e9))
    scored = pair.valid & inside(xy_t_crop, size, size) & inside(gt_s_crop, size, size)
    pred_crop = xy_t_crop + sample_field(flow.field, xy_t_crop, patch)
    pred = flow.map_source.invert(pred_crop)
    row = flow_metrics(pred, pair.xy_source, scored, cfg.thresholds)
    n_valid = int(pair.valid.sum())
    row["coverage"] = row["points"] / n_valid if n_valid else float("nan")
    if flow.round_trip is not None:
        grid_w = flow.field.shape[1]
        cols = np.clip((xy_t_crop[:, 0] // patch).astype(np.int64), 0, grid_w - 1)
        rows = np.clip((xy_t_crop[:, 1] // patch).astype(np.int64), 0, flow.field.shape[0] - 1)
        ok = flow.round_trip[rows * grid_w + cols] <= cfg.round_trip_patches * patch
        sub = flow_metrics(pred, pair.xy_source, scored & ok, cfg.thresholds)
        row["rt_fraction"] = sub["points"] / row["points"] if row["points"] else float("nan")
        row["rt_aepe"] = sub["aepe"]
        row.update({f"rt_{pck_key(t)}": sub[pck_key(t)] for t in cfg.thresholds})
    return row


def score_sift(pair: MatchPair, cfg: MatchEvalConfig) -> dict[str, float]:
    """SIFT + ratio test on the original images: sparse metrics at the matches (ground truth sampled
    at the match's target keypoint), match count, coverage; dense metrics from a RANSAC homography on
    homography pairs (all valid points)."""
    matches = sift_match(pair.target, pair.source, cfg.sift_ratio)
    gt_xy, gt_valid = ground_truth_at(pair, matches.xy_target)
    row = flow_metrics(matches.xy_source, gt_xy, gt_valid, cfg.thresholds)
    row["matches"] = len(matches.xy_target)
    row["coverage"] = coverage(matches.xy_target[gt_valid], pair.xy_target[pair.valid], cfg.sift_coverage_radius)
    if pair.homography is not None:
        H = ransac_homography(matches, cfg.sift_ransac_threshold)
        # no homography (< 4 matches or RANSAC failed): predict zero flow, counted in ``ransac_failed``
        pred = pair.xy_target if H is None else apply_homography(H, pair.xy_target)
        dense = flow_metrics(np.nan_to_num(pred, nan=1e9), pair.xy_source, pair.valid, cfg.thresholds)
        row["ransac_failed"] = float(H is None)
        row["dense_aepe"] = dense["aepe"]
        row.update({f"dense_{pck_key(t)}": dense[pck_key(t)] for t in cfg.thresholds})
    return row


def ground_truth_at(pair: MatchPair, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ground-truth source positions at arbitrary target points: exact for homography pairs, else the
    nearest ground-truth grid point within one grid step."""
    if len(xy) == 0:
        return np.zeros((0, 2)), np.zeros(0, dtype=bool)
    if pair.homography is not None:
        gt = apply_homography(pair.homography, xy)
        valid = np.isfinite(gt).all(axis=1) & inside(np.nan_to_num(gt, nan=-1.0), *pair.source.shape[:2])
        return gt, valid
    from scipy.spatial import cKDTree

    step = float(np.min(np.diff(np.unique(pair.xy_target[:, 0])))) if len(np.unique(pair.xy_target[:, 0])) > 1 else 1.0
    dist, idx = cKDTree(pair.xy_target).query(xy, k=1)
    valid = (dist <= 0.75 * step) & pair.valid[idx]
    return pair.xy_source[idx], valid


def run_match_eval(model: torch.nn.Module | None, dataset: Sequence[MatchPair], cfg: MatchEvalConfig, sift: bool,
                   progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Score ``model`` (if given) and the SIFT baseline (if ``sift``) on every pair.

    Aggregates are means over pairs of per-pair metrics, overall and per group (HPatches i / v).
    """
    from slife.devices import resolve_device

    if model is not None:
        model = model.to(resolve_device(cfg.device)).eval()
    per_pair: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for i in range(len(dataset)):
        pair = dataset[i]
        entry: dict[str, Any] = {"name": pair.name, "group": pair.group}
        if model is not None:
            flow = model_flow(model, pair.target, pair.source, cfg)
            entry["model"] = score_model_flow(flow, pair, model.cfg.img_size, model.cfg.patch_size, cfg)
        if sift:
            entry["sift"] = score_sift(pair, cfg)
        per_pair.append(entry)
        if progress:
            progress(i + 1, len(dataset))
    if not per_pair:
        raise SlifeError("match evaluation: no pairs to evaluate")
    out: dict[str, Any] = {"pairs": len(per_pair), "seconds": time.perf_counter() - t0}
    groups = sorted({p["group"] for p in per_pair})
    for method in ("model", "sift"):
        rows = [p[method] for p in per_pair if method in p]
        if not rows:
            continue
        out[method] = mean_metrics(rows)
        if len(groups) > 1:
            out[f"{method}_by_group"] = {
                g: mean_metrics([p[method] for p in per_pair if p["group"] == g]) for g in groups
            }
    out["per_pair"] = per_pair
    return out
