"""Test sets: pairs, ground truth against the analytic plane scene, save/load, determinism, errors."""

from pathlib import Path

import numpy as np
import pytest
import torch

from slife.align.analysis import gt_alignment, gt_alignment_chance
from slife.align.cas import cas
from slife.align.matchers import IdentityMatcher, OracleMatcher
from slife.align.testset import TestSet, TestSetError, gt_displacement, make_testset, pick_temporal_pairs
from test_align_helpers import F, PLANE_Z, STEP, W, _texture, make_plane_life, render


@pytest.fixture(scope="module")
def lives(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("lives")
    return [make_plane_life(root, "lifeA", seed=0), make_plane_life(root, "lifeB", seed=1, videos=2, frames=16)]


@pytest.fixture(scope="module")
def testset(lives) -> TestSet:
    return make_testset(lives, n_pairs_per_life=6, img_size=96, seed=0)


def expected_gt(ts: TestSet, p: int) -> np.ndarray:
    """Analytic correspondences: the source camera is dx metres right -> points move f*dx/Z px left."""
    shift_px = F * STEP * (ts.src_index[p] - ts.tgt_index[p]) / PLANE_Z
    g, s = ts.grid, ts.patch_size
    x0 = (W - ts.img_size) // 2  # the crop takes the central 96 x 96 of the 128 x 96 frame
    out = np.full(ts.num_patches, -1)
    for n in range(ts.num_patches):
        row, col = divmod(n, g)
        x = (col + 0.5) * s + x0 - shift_px - x0
        if 0 <= x < ts.img_size:
            out[n] = row * g + int(np.floor(x / s))
    return out


def test_pairs_are_temporal_within_one_video(testset: TestSet, lives) -> None:
    assert len(testset) == 12 and testset.img_size == 96 and testset.grid == 6
    assert testset.src.dtype == np.uint8 and testset.src.shape == (12, 96, 96, 3)
    gaps = np.abs(testset.tgt_time - testset.src_time)
    assert ((gaps >= 0.5) & (gaps <= 5.0)).all()
    assert sorted(set(testset.life)) == ["lifeA", "lifeB"]
    from slife.life import Life

    life_b = Life.open(lives[1])
    for p in np.flatnonzero(testset.life == "lifeB"):
        assert life_b.video_index[testset.src_index[p]] == life_b.video_index[testset.tgt_index[p]]
        np.testing.assert_array_equal(testset.src[p], life_b.image(testset.src_index[p])[:, 16:112])
    assert len({(a, b) for a, b in zip(testset.src_index, testset.tgt_index)}) == 12


def test_ground_truth_matches_the_analytic_shift(testset: TestSet) -> None:
    assert testset.has_gt and testset.gt.shape == (12, 36)
    for p in range(len(testset)):
        np.testing.assert_array_equal(testset.gt[p], expected_gt(testset, p))
    assert (testset.gt_valid.mean(axis=1) >= 0.3).all()  # min_overlap
    np.testing.assert_allclose(testset.src_K[0][0, 2], 48.0)  # principal point moves with the crop


def test_save_load_round_trip_and_determinism(testset: TestSet, lives, tmp_path) -> None:
    path = testset.save(tmp_path / "t.npz")
    loaded = TestSet.load(path)
    for name in ("src", "tgt", "life", "src_index", "tgt_index", "src_time", "tgt_time", "video", "gt",
                 "src_K", "tgt_K", "src_pose", "tgt_pose"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(testset, name), err_msg=name)
    assert loaded.meta == testset.meta and loaded.patch_size == 16 and loaded.path == str(path)
    again = make_testset(lives, n_pairs_per_life=6, img_size=96, seed=0)
    np.testing.assert_array_equal(again.src_index, testset.src_index)
    np.testing.assert_array_equal(again.src, testset.src)
    other = make_testset(lives, n_pairs_per_life=6, img_size=96, seed=1)
    assert (other.src_index != testset.src_index).any()
    # a life's pairs do not depend on which other lives are in the set
    only_a = make_testset(lives[:1], n_pairs_per_life=6, img_size=96, seed=0)
    np.testing.assert_array_equal(only_a.src_index, testset.src_index[testset.life == "lifeA"])


def test_oracle_identity_and_gt_alignment(testset: TestSet) -> None:
    oracle = OracleMatcher().attention(testset)
    assert gt_alignment(oracle, testset, r=0) == 1.0
    shifted = OracleMatcher(shift=(0, 1)).attention(testset)
    assert gt_alignment(shifted, testset, r=0) == 0.0
    # one column right is within r = 1, except where the shift wraps from the last column to the first
    valid = testset.gt >= 0
    not_last = valid & (testset.gt % 6 != 5)
    assert gt_alignment(shifted, testset, r=1) == pytest.approx(not_last.sum() / valid.sum())
    assert not_last.sum() < valid.sum()
    ident = IdentityMatcher().attention(testset)
    assert cas(ident, IdentityMatcher().attention(testset)) == 1.0
    # identity top-5 = the patch itself + its 4-neighbours (ties broken by the lower index)
    assert sorted(torch.topk(ident[0, 14], 5).indices.tolist()) == [8, 13, 14, 15, 20]
    # identity is right exactly where the true match is the same grid position
    same = testset.gt == np.arange(36)[None]
    assert gt_alignment(ident, testset, 0) == pytest.approx(same.sum() / (testset.gt >= 0).sum())
    # chance for r = 0 is 1 / N; for r = 1 on a 6x6 grid an interior cell has 9 neighbours
    assert gt_alignment_chance(testset, 0) == pytest.approx(1 / 36)
    assert 4 / 36 <= gt_alignment_chance(testset, 1) <= 9 / 36


def test_size_checks_and_errors(testset: TestSet, lives, tmp_path) -> None:
    testset.check_model(96, 16)
    with pytest.raises(TestSetError, match="img_size=96.*img_size=128"):
        testset.check_model(128, 16)
    with pytest.raises(TestSetError, match="found only"):
        make_testset(lives[:1], n_pairs_per_life=6, img_size=96, gap=(30.0, 40.0))
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(TestSetError, match=str(bad)):
        TestSet.load(bad)
    with pytest.raises(TestSetError, match="not found"):
        TestSet.load(tmp_path / "missing.npz")


def test_no_depth_life_gives_no_gt(tmp_path) -> None:
    life = make_plane_life(tmp_path, "plain", frames=12, depth=False)
    ts = make_testset([life], n_pairs_per_life=3, img_size=64, seed=0)
    assert not ts.has_gt and ts.src.shape == (3, 64, 64, 3)
    with pytest.raises(TestSetError, match="no depth"):
        make_testset([life], n_pairs_per_life=3, img_size=64, ground_truth=True)


def test_pair_picker_spreads_anchors_over_the_life() -> None:
    ts = np.arange(400) / 4.0  # 100 s at 4 fps, one video
    pairs = pick_temporal_pairs(ts, np.zeros(400, int), 10, (0.5, 5.0), np.random.default_rng(0))
    assert len(pairs) == 10
    early = [min(a, b) for a, b in pairs]
    assert min(early) < 60 and max(early) > 320  # covers the whole life, not one stretch
    assert all(0.5 <= abs(ts[a] - ts[b]) <= 5.0 for a, b in pairs)


def test_spatial_sampler_draws_moving_pairs_from_anywhere_with_exact_gt(lives) -> None:
    ts = make_testset(lives[:1], n_pairs_per_life=5, img_size=96, seed=1, sampler="spatial", min_moving=0.8,
                      min_overlap=0.3, jaccard=(0.05, 0.95))
    assert len(ts) == 5 and ts.meta["sampler"] == "spatial-stratified" and ts.meta["min_moving"] == 0.8
    for p in range(len(ts)):
        assert np.array_equal(ts.gt[p], expected_gt(ts, p))
        d = gt_displacement(ts.gt[p], ts.grid)
        assert (d[d >= 0] >= 2).mean() >= 0.8  # the required motion
    hist = ts.summary()["displacement"]
    assert hist["moving_fraction"] >= 0.8 and sum(hist["counts"]) == hist["patches_with_gt"]
    gaps = np.abs(ts.tgt_index - ts.src_index)
    assert gaps.max() > 2  # not restricted to neighbouring frames
    temporal = make_testset(lives[:1], n_pairs_per_life=5, img_size=96, seed=1)
    assert temporal.summary()["displacement"]["moving_fraction"] < hist["moving_fraction"]


def test_spatial_sampler_and_min_moving_need_ground_truth(tmp_path) -> None:
    no_depth = make_plane_life(tmp_path, "flat", depth=False)
    with pytest.raises(TestSetError, match="depth"):
        make_testset([no_depth], n_pairs_per_life=2, img_size=96, sampler="spatial")
    with pytest.raises(TestSetError, match="min_moving"):
        make_testset([no_depth], n_pairs_per_life=2, img_size=96, min_moving=0.5)
    with pytest.raises(TestSetError, match="sampler"):
        make_testset([no_depth], n_pairs_per_life=2, img_size=96, sampler="sideways")


def test_impossible_motion_requirement_is_a_clear_error(lives) -> None:
    with pytest.raises(TestSetError, match="min-moving"):
        make_testset(lives[:1], n_pairs_per_life=4, img_size=96, gap=(0.25, 0.3), min_moving=1.0)


def test_rotated_crop_moves_pixels_and_its_map_alike() -> None:
    """A 90-degree turn of the crop: the image equals np.rot90 of the plain crop, and the affine map
    sends every patch centre where rot90 sends that patch (image and ground truth agree)."""
    from slife.imaging import resize_center_crop, rotated_zoomed_crop
    from slife.align.testset import patch_centers, patch_index

    frame = render(_texture(3), 0.0)
    plain, plain_map = resize_center_crop(frame, 96)
    turned, turned_map = rotated_zoomed_crop(frame, 96, 90.0, 1.0)
    expected = np.rot90(plain, k=1)  # counter-clockwise on screen
    assert np.abs(turned.astype(int) - expected).mean() < 3.0
    assert np.abs(turned.astype(int) - plain).mean() > 20.0  # it did turn
    # the patch at (row, col) of the plain crop lands at rot90's (g-1-col, row)
    g = 6
    where = patch_index(turned_map.apply(plain_map.invert(patch_centers(96, 16))), 96, 16)
    rows, cols = np.divmod(np.arange(g * g), g)
    np.testing.assert_array_equal(where, (g - 1 - cols) * g + rows)
    # angle 0, zoom 1 is the plain crop; zoom 2 magnifies about the centre
    same, same_map = rotated_zoomed_crop(frame, 96, 0.0, 1.0)
    assert np.abs(same.astype(int) - plain).mean() < 2.0
    np.testing.assert_allclose(same_map.apply([[10.0, 20.0]]), plain_map.apply([[10.0, 20.0]]))
    big, big_map = rotated_zoomed_crop(frame, 96, 0.0, 2.0)
    np.testing.assert_allclose(big_map.apply(plain_map.invert([[48.0, 48.0], [24.0, 48.0]])), [[48.0, 48.0], [0.0, 48.0]])
    np.testing.assert_allclose(turned_map.invert(turned_map.apply([[3.0, 70.0]])), [[3.0, 70.0]])


def test_warped_source_views_keep_exact_ground_truth_and_weaken_pixel_matching(lives) -> None:
    """Rotated, zoomed and re-exposed source views: the stored ground truth is the analytic one
    carried through each pair's own warp, and pixel matching finds far fewer true sources."""
    from slife.align.analysis import gt_hits
    from slife.align.matchers import PixelMatcher
    from slife.align.testset import pair_warp, patch_centers, patch_index
    from slife.imaging import resize_center_crop, rotated_zoomed_crop
    from slife.life import Life

    kw = dict(n_pairs_per_life=8, img_size=96, seed=2, sampler="spatial", min_overlap=0.3, jaccard=(0.05, 0.95))
    plain = make_testset(lives[:1], **kw)
    warped = make_testset(lives[:1], rotate=40.0, zoom=1.4, exposure=0.4, **kw)
    assert warped.meta["rotate"] == 40.0 and len(warped.meta["source_warp"]) == len(warped)
    assert warped.summary()["source_warp"] == {"rotate": 40.0, "zoom": 1.4, "exposure": 0.4}
    life = Life.open(lives[0])
    for p in range(len(warped)):
        s, t = int(warped.src_index[p]), int(warped.tgt_index[p])
        angle, zoom, bcs = pair_warp(2, "lifeA", s, t, 40.0, 1.4, 0.4)
        assert 20.0 <= abs(angle) <= 40.0 and 1 / 1.4 <= zoom <= 1.4 and all(0.6 <= v <= 1.4 for v in bcs)
        assert warped.meta["source_warp"][p][:2] == [round(angle, 4), round(zoom, 4)]
        # analytic: the plane moves f*dx/Z px between the frames, then the source crop's warp applies
        xy_t = resize_center_crop(life.image(t), 96)[1].invert(patch_centers(96, 16))
        xy_s = xy_t - np.array([F * STEP * (s - t) / PLANE_Z, 0.0])
        inside = (xy_s[:, 0] >= 0) & (xy_s[:, 0] < W)
        where = patch_index(rotated_zoomed_crop(life.image(s), 96, angle, zoom)[1].apply(xy_s), 96, 16)
        np.testing.assert_array_equal(warped.gt[p], np.where(inside, where, -1))
    score = lambda ts: gt_hits(PixelMatcher().attention(ts), ts, 1)[ts.gt >= 0].mean()  # noqa: E731
    assert score(plain) > 0.55 and score(warped) < 0.5 * score(plain)  # measured 0.64 and 0.18


def test_a_test_set_is_sized_for_its_model(lives, tmp_path, capsys) -> None:
    """#22: the image size is declared once (the model config): ``slife align testset`` takes the default
    model's size, or with --model that model's, and refuses a size the model cannot read."""
    from slife.align.testset import testset_grid
    from slife.cli import main
    from slife.config import to_dict
    from slife.model.checkpoint import save_checkpoint
    from slife.model.config import ModelConfig, model_config
    from slife.model.croco import CroCo

    default = ModelConfig()
    assert testset_grid() == (default.img_size, default.patch_size) and testset_grid(96, 8) == (96, 8)
    model = CroCo(model_config("tiny", img_size=64, patch_size=8, enc_dim=32, dec_dim=32, enc_heads=2, dec_heads=2))
    ckpt = tmp_path / "run" / "checkpoints" / "last.pt"
    save_checkpoint(ckpt, {"model_config": to_dict(model.cfg), "model": model.state_dict()})
    assert testset_grid(model=tmp_path / "run") == (64, 8) == testset_grid(64, None, ckpt)
    with pytest.raises(TestSetError, match=r"last\.pt: the model reads 64 px images in 8 px patches, not --img-size 96"):
        testset_grid(96, None, ckpt)
    out = tmp_path / "t.npz"
    assert main(["align", "testset", str(lives[0]), "--out", str(out), "--pairs", "2", "--model", str(tmp_path / "run")]) == 0
    ts = TestSet.load(out)
    assert (ts.img_size, ts.patch_size) == (64, 8)
    assert main(["align", "testset", str(lives[0]), "--out", str(out), "--pairs", "2", "--model", str(ckpt),
                 "--patch-size", "16"]) == 2  # fmt: skip
    assert "not --patch-size 16" in capsys.readouterr().err
