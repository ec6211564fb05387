"""The nulls every alignment number is shown with: pixel matching, the ground-truth oracle, and CAS
split by whether the two models are right."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from slife.align.analysis import (BASELINE_NAMES, Ranked, cas_by_correctness, gt_alignment, gt_hits, rank,
                                  standard_baselines)
from slife.align.matchers import IdentityMatcher, OracleMatcher, PixelMatcher, image_patches, pixel_match_scores
from slife.align.testset import TestSet
from slife.errors import SlifeError
from slife.model.config import model_config
from slife.pairs.shifted import shift_ground_truth


def shifted_testset(n: int = 6, img: int = 32, patch: int = 8, seed: int = 0, max_shift: int = 1) -> TestSet:
    """Random-texture images and the same window moved by whole patches (the truth is known)."""
    rng = np.random.default_rng(seed)
    big = img + 2 * max_shift * patch
    src, tgt, shifts = [], [], []
    for _ in range(n):
        image = rng.integers(0, 256, size=(big, big, 3), dtype=np.uint8)
        shift = rng.integers(-max_shift, max_shift + 1, size=2) * patch
        y0 = x0 = max_shift * patch
        src.append(image[y0 : y0 + img, x0 : x0 + img])
        tgt.append(image[y0 + shift[0] : y0 + shift[0] + img, x0 + shift[1] : x0 + shift[1] + img])
        shifts.append(shift)
    gt = shift_ground_truth(np.array(shifts), img, patch)
    z = np.zeros(n, np.int64)
    return TestSet(src=np.stack(src), tgt=np.stack(tgt), patch_size=patch, life=np.array(["t"] * n), src_index=z,
                   tgt_index=z, src_time=z.astype(float), tgt_time=z.astype(float), video=z, gt=gt)


def test_image_patches_row_major() -> None:
    img = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(1, 4, 4, 3)
    p = image_patches(img, 2)
    assert p.shape == (1, 4, 12)
    np.testing.assert_array_equal(p[0, 1].reshape(2, 2, 3), img[0, :2, 2:4])  # patch (row 0, col 1)
    np.testing.assert_array_equal(p[0, 2].reshape(2, 2, 3), img[0, 2:4, :2])  # patch (row 1, col 0)


@pytest.mark.parametrize("metric", ["ncc", "l1"])
def test_pixel_matching_is_exact_on_whole_patch_shifts(metric: str) -> None:
    ts = shifted_testset()
    attn = PixelMatcher(metric=metric).attention(ts)
    assert attn.shape == (len(ts), ts.num_patches, ts.num_patches)
    assert gt_alignment(attn, ts, r=0) == 1.0
    moving = np.abs(np.array(ts.gt) - np.arange(ts.num_patches)) > 0
    assert gt_alignment(IdentityMatcher().attention(ts), ts, r=0) < 1.0 or not moving.any()


def test_pixel_matching_metrics() -> None:
    ts = shifted_testset(n=4, seed=3)
    brighter = ts.tgt.astype(np.float64) * 0.5 + 60.0
    ncc = pixel_match_scores(ts.src, ts.tgt, ts.patch_size, "ncc")
    torch.testing.assert_close(pixel_match_scores(ts.src, brighter, ts.patch_size, "ncc"), ncc, atol=1e-6, rtol=0)
    l1 = pixel_match_scores(ts.src, ts.tgt, ts.patch_size, "l1")
    assert not torch.allclose(pixel_match_scores(ts.src, brighter, ts.patch_size, "l1"), l1)
    assert float(ncc.max()) == pytest.approx(1.0) and float(l1.max()) == 0.0  # the exact copy
    with pytest.raises(SlifeError, match="metric"):
        pixel_match_scores(ts.src, ts.tgt, ts.patch_size, "l2")


def test_cas_by_correctness_splits_patches() -> None:
    ts = shifted_testset(n=2, img=16, patch=8, seed=1)  # 4 patches per image
    oracle = rank(OracleMatcher().attention(ts), 2)
    ident = rank(IdentityMatcher().attention(ts), 2)
    split = cas_by_correctness(oracle, oracle, ts)
    assert split["both"] == {"share": 1.0, "cas": 1.0}
    assert np.isnan(split["one"]["cas"]) and split["one"]["share"] == 0.0
    # hand-made sets: model b right on the first patch of each pair only
    valid = ts.gt >= 0
    wrong = (ts.gt + 2) % 4  # always 2 patches away in row-major order on a 2x2 grid: diagonal or vertical
    top1_b = np.where(np.arange(4)[None, :] == 0, ts.gt, wrong)
    sets_b = torch.as_tensor(np.stack([top1_b, (top1_b + 1) % 4], axis=-1))
    b = Ranked(sets_b)
    hits_b = gt_hits(b, ts, 0)
    split = cas_by_correctness(oracle, b, ts, r=0)
    assert split["both"]["share"] == pytest.approx((hits_b & valid).sum() / valid.sum())
    assert split["neither"]["share"] == 0.0
    assert split["both"]["share"] + split["one"]["share"] == pytest.approx(1.0)
    overlap = (oracle.sets.numpy()[..., :, None] == sets_b.numpy()[..., None, :]).sum((-1, -2)) / 2
    assert split["one"]["cas"] == pytest.approx(overlap[valid & ~hits_b].mean())
    del ident


def test_standard_baselines_have_pixel_matching_and_the_oracle() -> None:
    cfg = model_config("tiny", img_size=32, patch_size=8)
    ts = shifted_testset()
    base = standard_baselines(cfg, testset=ts)
    assert list(base) == list(BASELINE_NAMES)
    no_gt = TestSet(**{**ts.__dict__, "gt": None})
    assert "ground-truth" not in standard_baselines(cfg, testset=no_gt)
