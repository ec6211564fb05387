"""Depth metrics by hand, the SILog loss, and probe training on a tiny random-init model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from slife.evaluate.datasets import DepthSample
from slife.evaluate.depth import AttentiveProbe, DepthEvalConfig, crop_depth, run_depth_eval, silog_loss
from slife.evaluate.metrics import EIGEN_CROP, depth_metrics, eigen_crop_mask, flow_metrics, mean_metrics
from test_eval_datasets import small_photo


def test_depth_metrics_hand_computed() -> None:
    gt = np.array([1.0, 1.0, 4.0, 2.0])
    pred = np.array([1.0, 1.5, 4.0, 1.0])
    m = depth_metrics(pred, gt)
    assert m["abs_rel"] == pytest.approx((0 + 0.5 + 0 + 0.5) / 4)
    assert m["rmse"] == pytest.approx(math.sqrt((0.25 + 1.0) / 4))
    assert m["log10"] == pytest.approx((math.log10(1.5) + math.log10(2.0)) / 4)
    assert (m["d1"], m["d2"], m["d3"]) == (0.5, 0.75, 0.75)  # ratios 1, 1.5, 1, 2 vs 1.25, 1.5625, 1.953
    assert m["pixels"] == 4


def test_depth_metrics_caps_mask_clip_and_median_scaling() -> None:
    gt = np.array([0.0, 2.0, 12.0, 5.0])  # invalid, ok, above cap, ok
    pred = np.array([9.0, 2.0, 1.0, 20.0])  # the last is clipped to the 10 m cap -> 10
    m = depth_metrics(pred, gt, max_depth=10.0)
    assert m["pixels"] == 2 and m["abs_rel"] == pytest.approx((0 + 1.0) / 2)
    m = depth_metrics(pred, gt, np.array([True, True, True, False]), max_depth=10.0)
    assert m["pixels"] == 1 and m["abs_rel"] == 0.0
    scaled = depth_metrics(3.0 * np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0]), median_scaling=True)
    assert scaled["abs_rel"] == pytest.approx(0.0) and scaled["d1"] == 1.0
    assert math.isnan(depth_metrics(pred, np.zeros(4))["abs_rel"])


def test_eigen_crop_and_flow_metrics() -> None:
    mask = eigen_crop_mask((480, 640))
    r0, r1, c0, c1 = EIGEN_CROP
    assert mask.sum() == (471 - 45) * (601 - 41) and mask[r0, c0] and not mask[r0 - 1, c0] and not mask[r1, c1 - 1]
    gt = np.zeros((5, 2))
    pred = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0], [3.6, 4.8], [100.0, 0.0]])  # errors 0, 2, 4, 6, 100
    m = flow_metrics(pred, gt, np.array([1, 1, 1, 1, 0], dtype=bool))
    assert m["aepe"] == pytest.approx(3.0) and (m["pck@1"], m["pck@3"], m["pck@5"]) == (0.25, 0.5, 0.75)
    rows = [{"aepe": 1.0, "points": 3}, {"aepe": float("nan"), "points": 0}, {"aepe": 3.0, "points": 2}]
    assert mean_metrics(rows) == {"aepe": 2.0, "points": 5}


def test_silog_is_scale_invariant_with_lambda_one() -> None:
    gt = torch.rand(2, 1, 8, 8) + 0.5
    log_pred = torch.randn(2, 1, 8, 8)
    valid = (torch.rand(2, 1, 8, 8) > 0.2).float()
    a = silog_loss(log_pred, gt, valid, lam=1.0)
    b = silog_loss(log_pred + math.log(3.0), gt, valid, lam=1.0)
    assert float(a) == pytest.approx(float(b), rel=1e-4)
    assert float(silog_loss(torch.log(gt), gt, valid, lam=0.85)) < 1e-3
    assert float(silog_loss(log_pred, gt, valid, lam=0.85)) > 0.1


def test_probe_output_layout_follows_the_patch_grid() -> None:
    torch.manual_seed(0)
    probe = AttentiveProbe(enc_dim=8, grid=(2, 3), dim=16, heads=2, subpixel=2)
    out = probe(torch.randn(1, 6, 8))
    assert out.shape == (1, 1, 4, 6)
    with torch.no_grad():  # make sub-pixel output k of patch n equal 10 n + k and check where it lands
        for p in probe.parameters():
            p.zero_()
        probe.head[1].bias.copy_(torch.arange(4.0))
        probe.head[0].bias.zero_()
    out = probe(torch.zeros(1, 6, 8))[0, 0]
    assert out[0, 0] == 0 and out[0, 1] == 1 and out[1, 0] == 2 and out[1, 1] == 3 and out[3, 5] == 3


def _samples(n: int, seed: int) -> list[DepthSample]:
    """Photos with a depth that is a smooth function of position and brightness (learnable)."""
    rng = np.random.default_rng(seed)
    names = ["astronaut", "coffee", "chelsea", "rocket"]
    out = []
    for i in range(n):
        img = small_photo(names[i % len(names)], (96, 128))
        img = np.roll(img, int(rng.integers(0, 40)), axis=1)
        rows = np.linspace(1.0, 4.0, 96)[:, None] * np.ones((1, 128))
        depth = (rows + img.mean(axis=2) / 255.0).astype(np.float32)
        depth[:4] = 0.0
        out.append(DepthSample(img, depth, f"s{i}"))
    return out


def test_crop_depth_uses_nearest_values() -> None:
    depth = np.array([[1.0, 2.0], [3.0, 0.0]], dtype=np.float32).repeat(40, 0).repeat(60, 1)
    crop = crop_depth(depth, 32)
    assert crop.shape == (32, 32) and set(np.unique(crop)) <= {0.0, 1.0, 2.0, 3.0}


def test_probe_training_reduces_loss_on_a_tiny_model() -> None:
    from slife.model.config import model_config
    from slife.model.croco import CroCo

    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: threads only add overhead on a shared CPU
    try:
        model = CroCo(model_config("tiny", img_size=64, enc_depth=2))
        cfg = DepthEvalConfig(steps=60, batch_size=8, lr=2e-3, probe_dim=64, probe_heads=4, device="cpu")
        res = run_depth_eval(model, _samples(16, 0), _samples(4, 1), cfg, "life")
    finally:
        torch.set_num_threads(threads)
    assert res["loss_last"] < 0.7 * res["loss_first"], res
    m = res["metrics"]
    assert all(math.isfinite(m[k]) for k in ("abs_rel", "rmse", "log10", "d1", "d2", "d3"))
    assert m["pixels"] > 0 and 0.0 <= m["d1"] <= 1.0
    assert all(not p.requires_grad for p in model.parameters())  # encoder frozen
    assert res["train_images"] == 16 and res["test_images"] == 4 and len(res["per_image"]) == 4


def _synthetic(m: int, seed: int, grid: int = 4, patch: int = 8, dim: int = 16) -> "Prepared":
    """Random tokens; each patch's depth = exp(w . its own token + v . its right neighbour's), so the
    signal is learnable from the tokens and partly needs another patch's token (context)."""
    from slife.evaluate.depth import Prepared

    g = torch.Generator().manual_seed(seed)
    w = torch.linspace(-1.0, 1.0, dim) / math.sqrt(dim) * 2
    v = torch.linspace(1.0, -1.0, dim).roll(3) / math.sqrt(dim) * 2
    tokens = torch.randn(m, grid * grid, dim, generator=g)
    t = tokens.view(m, grid, grid, dim)
    log_d = t @ w + t.roll(-1, dims=2) @ v  # (m, grid, grid)
    depth = log_d.exp().repeat_interleave(patch, 1).repeat_interleave(patch, 2)
    return Prepared(tokens.half(), depth.float(), [], [f"s{i}" for i in range(m)])


@pytest.mark.parametrize("probe", ["attentive", "linear"])
def test_probes_learn_a_synthetic_depth_signal_better_than_chance(probe: str) -> None:
    from types import SimpleNamespace

    from slife.evaluate.depth import train_probe

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train, test = _synthetic(1024, 0), _synthetic(64, 1)
        cfg = DepthEvalConfig(probe=probe, steps=300, batch_size=32, lr=1e-2, probe_dim=32, probe_heads=4, subpixel=1,
                              device="cpu", weight_decay=0.0)
        model_probe, losses = train_probe(train, SimpleNamespace(grid=4), cfg, None, torch.device("cpu"))
        with torch.no_grad():
            pred = model_probe(test.tokens.float())[:, 0]  # (M, 4, 4): one log depth per patch
    finally:
        torch.set_num_threads(threads)
    truth = test.depth.log()[:, ::8, ::8]
    # SILog forgives most of a per-image offset, so score per-image-centred log depth; chance = a flat map
    g = pred - truth
    err = float((g - g.mean(dim=(1, 2), keepdim=True)).pow(2).mean().sqrt())
    chance = float((truth - truth.mean(dim=(1, 2), keepdim=True)).pow(2).mean().sqrt())
    assert losses[-1] < losses[0]
    if probe == "attentive":  # reads the neighbour's token too
        assert err < 0.45 * chance, (err, chance)
    else:  # each token alone: half the variance (the neighbour's part) is out of reach, error >= ~0.71 chance
        assert 0.6 * chance < err < 0.85 * chance, (err, chance)
