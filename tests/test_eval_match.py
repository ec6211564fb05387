"""Flow from attention (oracle attention maps), soft-argmax details, and the SIFT baseline on synthetic
homography warps of real photographs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from slife.evaluate.datasets import HPatchesPairs, apply_homography
from slife.evaluate.flow import flow_field, patch_centers, round_trip, sample_field, soft_argmax
from slife.evaluate.match import MatchEvalConfig, ModelFlow, model_flow, score_model_flow, score_sift
from slife.imaging import resize_center_crop
from test_eval_datasets import write_hpatches

SIZE, PATCH = 128, 16
GRID = (SIZE // PATCH, SIZE // PATCH)


def test_soft_argmax_one_hot_midpoint_and_window() -> None:
    n = GRID[0] * GRID[1]
    centers = patch_centers(GRID, PATCH)
    attn = np.zeros((3, n))
    attn[0, 10] = 1.0
    attn[1, [10, 11]] = 0.5  # two horizontal neighbours -> their midpoint
    attn[2, 0], attn[2, n - 1] = 0.6, 0.4  # far second mode: ignored with a window, averaged without
    pos = soft_argmax(attn, GRID, PATCH, window=2)
    np.testing.assert_allclose(pos[0], centers[10])
    np.testing.assert_allclose(pos[1], (centers[10] + centers[11]) / 2)
    np.testing.assert_allclose(pos[2], centers[0])
    np.testing.assert_allclose(soft_argmax(attn, GRID, PATCH, window=None)[2], 0.6 * centers[0] + 0.4 * centers[n - 1])


def test_sample_field_is_exact_for_affine_fields_and_round_trip_of_a_shift_is_zero() -> None:
    centers = patch_centers(GRID, PATCH)
    affine = centers @ np.array([[0.1, 0.02], [-0.03, 0.2]]) + np.array([3.0, -1.0])
    field = affine.reshape(*GRID, 2)
    rng = np.random.default_rng(0)
    xy = rng.uniform(PATCH / 2, SIZE - PATCH / 2, size=(50, 2))  # between the outermost centres
    np.testing.assert_allclose(sample_field(field, xy, PATCH), xy @ np.array([[0.1, 0.02], [-0.03, 0.2]]) + [3.0, -1.0], atol=1e-9)
    fwd = centers + [PATCH, 0.0]  # one patch to the right
    bwd = centers - [PATCH, 0.0]
    rt = round_trip(fwd, bwd, GRID, GRID, PATCH)
    inner = centers[:, 0] < SIZE - PATCH  # the last column leaves the grid (clamped field)
    np.testing.assert_allclose(rt[inner], 0.0, atol=1e-9)
    np.testing.assert_allclose(flow_field(fwd, GRID, PATCH)[..., 0], PATCH)


def true_source_positions(pair):
    """True source-crop positions of the target patch centres, and the crop maps."""
    _, map_t = resize_center_crop(pair.target, SIZE)
    _, map_s = resize_center_crop(pair.source, SIZE)
    centers = patch_centers(GRID, PATCH)
    return map_s.apply(apply_homography(pair.homography, map_t.invert(centers))), map_t, map_s


def splat_attention(xy: np.ndarray) -> np.ndarray:
    """Attention rows whose mass sits on the 4 source patch centres around each point, with bilinear
    weights: their soft-argmax is the point itself wherever it lies between patch centres."""
    gh, gw = GRID
    u = np.clip(xy[:, 0] / PATCH - 0.5, 0, gw - 1)
    v = np.clip(xy[:, 1] / PATCH - 0.5, 0, gh - 1)
    u0, v0 = np.minimum(np.floor(u).astype(int), gw - 2), np.minimum(np.floor(v).astype(int), gh - 2)
    fu, fv = u - u0, v - v0
    attn = np.zeros((len(xy), gh * gw))
    rows = np.arange(len(xy))
    for dv, du, w in ((0, 0, (1 - fu) * (1 - fv)), (0, 1, fu * (1 - fv)), (1, 0, (1 - fu) * fv), (1, 1, fu * fv)):
        attn[rows, (v0 + dv) * gw + (u0 + du)] += w
    return attn


def oracle_flow(pair, sigma_patches: float = 0.6, noise: float = 0.0, seed: int = 0) -> ModelFlow:
    """A hand-built Gaussian attention map peaked at the true correspondences of the target patches."""
    true_src, map_t, map_s = true_source_positions(pair)
    centers = patch_centers(GRID, PATCH)
    d2 = ((true_src[:, None, :] - centers[None, :, :]) ** 2).sum(-1)
    attn = np.exp(-d2 / (2 * (sigma_patches * PATCH) ** 2))
    attn += noise * np.random.default_rng(seed).uniform(size=attn.shape)
    attn /= attn.sum(axis=1, keepdims=True)
    pos = soft_argmax(attn, GRID, PATCH, window=2)
    return ModelFlow(pos, flow_field(pos, GRID, PATCH), None, map_t, map_s)


@pytest.fixture(scope="module")
def hpatches(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hpatches")
    write_hpatches(root, {"v_astro": "astronaut", "i_coffee": "coffee", "v_cat": "chelsea"}, ks=(2, 3))
    return root


def test_oracle_attention_recovers_homography_flow(hpatches: Path) -> None:
    cfg = MatchEvalConfig(thresholds=[1.0, 3.0, 5.0])
    pairs = HPatchesPairs(hpatches, stride=2)
    for i in range(len(pairs)):
        pair = pairs[i]
        true_src, map_t, map_s = true_source_positions(pair)
        pos = soft_argmax(splat_attention(true_src), GRID, PATCH, window=2)
        flow = ModelFlow(pos, flow_field(pos, GRID, PATCH), None, map_t, map_s)
        row = score_model_flow(flow, pair, SIZE, PATCH, cfg)
        assert 0.5 < row["coverage"] <= 1.0
        # one crop pixel is 240 / 128 ~ 1.9 original pixels. Soft-argmax cannot leave the hull of the
        # source patch centres, so points whose truth lies in the outer half-patch band are clamped:
        assert row["aepe"] < 3.0 and row["pck@5"] > 0.8, (pair.name, row)
        # ... and away from that band (so that the neighbouring target patches are not clamped either)
        # the recovered flow is exact up to interpolating the homography between patch centres.
        gt_crop = map_s.apply(pair.xy_source)
        hull = ((gt_crop > 1.5 * PATCH) & (gt_crop < SIZE - 1.5 * PATCH)).all(axis=1)
        pair.valid = pair.valid & hull
        inner = score_model_flow(flow, pair, SIZE, PATCH, cfg)
        assert inner["aepe"] < 1.0 and inner["pck@3"] > 0.95 and inner["pck@5"] > 0.98, (pair.name, inner)


def test_oracle_with_noise_and_identity_baseline(hpatches: Path) -> None:
    cfg = MatchEvalConfig()
    pair = HPatchesPairs(hpatches, subset="v", stride=2)[1]
    good = oracle_flow(pair, noise=0.02)
    bad = ModelFlow(good.positions, np.zeros_like(good.field), None, good.map_target, good.map_source)
    r_good = score_model_flow(good, pair, SIZE, PATCH, cfg)
    r_bad = score_model_flow(bad, pair, SIZE, PATCH, cfg)
    assert r_good["aepe"] < 4.0 and r_bad["aepe"] > 2 * r_good["aepe"]
    assert r_good["pck@5"] > r_bad["pck@5"] + 0.3


def test_sift_baseline_recovers_the_homography(hpatches: Path) -> None:
    cfg = MatchEvalConfig()
    pairs = HPatchesPairs(hpatches, stride=4)
    for i in range(len(pairs)):
        row = score_sift(pairs[i], cfg)
        assert row["matches"] >= 20, row
        assert row["pck@3"] > 0.8, row
        assert row["dense_aepe"] < 1.5 and row["dense_pck@3"] > 0.95, row
        assert row["ransac_failed"] == 0.0
        assert 0.05 < row["coverage"] < 1.0  # sparse: only points near a match are covered


class OracleModel(torch.nn.Module):
    """Stands in for CroCo: ``cross_attention`` returns splatted true correspondences (forward for the
    pair's (source, target) order, reverse for (target, source)), identical in 2 layers x 2 heads."""

    def __init__(self, forward_attn: np.ndarray, reverse_attn: np.ndarray):
        super().__init__()
        self.cfg = type("Cfg", (), {"img_size": SIZE, "patch_size": PATCH})()
        self.patch_grid = GRID
        self.dummy = torch.nn.Parameter(torch.zeros(1))
        self.fwd, self.rev = torch.tensor(forward_attn), torch.tensor(reverse_attn)
        self.calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def cross_attention(self, src: torch.Tensor, tgt: torch.Tensor, mask=None, logits=False, layers=None) -> torch.Tensor:
        assert mask is None and not logits and layers is None  # the unmasked softmax reading
        self.calls.append((src, tgt))
        maps = [self.fwd if i == 0 else self.rev for i in range(src.shape[0])]
        return torch.stack(maps)[None, :, None].expand(2, -1, 2, -1, -1).float()


def test_model_flow_orientation_and_reciprocity_with_an_oracle_model(hpatches: Path) -> None:
    pair = HPatchesPairs(hpatches, subset="v", stride=2)[0]
    true_src, map_t, map_s = true_source_positions(pair)
    centers = patch_centers(GRID, PATCH)
    true_tgt = map_t.apply(apply_homography(np.linalg.inv(pair.homography), map_s.invert(centers)))
    model = OracleModel(splat_attention(true_src), splat_attention(true_tgt))
    cfg = MatchEvalConfig(reciprocity=True, protocol="unmasked")  # the oracle stands in for the unmasked reading
    flow = model_flow(model, pair.target, pair.source, cfg)
    src, tgt = model.calls[0]
    assert src.shape == tgt.shape == (2, 3, SIZE, SIZE) and torch.equal(src[0], tgt[1])  # both directions, one batch
    row = score_model_flow(flow, pair, SIZE, PATCH, cfg)
    assert row["aepe"] < 3.0 and row["pck@5"] > 0.8
    assert row["rt_fraction"] > 0.8 and row["rt_aepe"] <= row["aepe"] + 1e-9
    # a reverse map that disagrees (every source patch -> target patch 0) makes nothing round-trip consistent
    bad = OracleModel(splat_attention(true_src), np.eye(GRID[0] * GRID[1])[np.zeros(GRID[0] * GRID[1], int)])
    row_bad = score_model_flow(model_flow(bad, pair.target, pair.source, cfg), pair, SIZE, PATCH, cfg)
    assert row_bad["aepe"] == pytest.approx(row["aepe"]) and row_bad["rt_fraction"] < 0.05
