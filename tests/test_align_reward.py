"""The copy reward: how much of CroCo's normalised target the true source patch explains beyond the
target's own neighbours."""

import json

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from slife.align.reward import copy_reward, normalised_patches, shifted_testset
from slife.align.testset import TestSet, TestSetError
from slife.cli import main
from slife.errors import SlifeError


def _texture(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    """A random colour texture, Gaussian-blurred by ``sigma`` pixels (0 = white noise), uint8."""
    x = rng.normal(size=(size, size, 3))
    if sigma > 0:
        x = gaussian_filter(x, sigma=(sigma, sigma, 0))
    x = (x - x.mean()) / x.std()
    return np.clip(128 + 40 * x, 0, 255).astype(np.uint8)


def _testset(src: np.ndarray, tgt: np.ndarray, gt: np.ndarray | None, patch_size: int = 8) -> TestSet:
    n = len(src)
    zi, zf = np.zeros(n, np.int64), np.zeros(n, np.float64)
    return TestSet(src=src, tgt=tgt, patch_size=patch_size, life=np.array(["x"] * n), src_index=zi, tgt_index=zi,
                   src_time=zf, tgt_time=zf, video=zi, gt=gt)  # fmt: skip


@pytest.fixture(scope="module")
def shifted() -> TestSet:
    rng = np.random.default_rng(0)
    images = [_texture(rng, 112, 1.5) for _ in range(4)]
    return shifted_testset(images, 24, 64, 8, 3, seed=1)


def test_normalised_patches_have_zero_mean_unit_variance() -> None:
    images = _texture(np.random.default_rng(0), 64, 2.0)[None].repeat(2, 0)
    x = normalised_patches(images, 8)
    assert x.shape == (2, 64, 8 * 8 * 3) and x.dtype == np.float64
    np.testing.assert_allclose(x.mean(axis=-1), 0.0, atol=1e-9)
    np.testing.assert_allclose(x.var(axis=-1, ddof=1), 1.0, atol=1e-3)  # unbiased, as CroCo.loss


def test_normalised_patches_match_crocos_loss_target() -> None:
    import torch

    from slife.imaging import to_tensor
    from slife.model.croco import NORM_PIX_EPS, patchify

    img = _texture(np.random.default_rng(1), 32, 1.0)
    t = patchify(to_tensor(img)[None].double(), 8)[0]
    c = t - t.mean(-1, keepdim=True)
    want = c / torch.sqrt(c.square().sum(-1, keepdim=True) / (t.shape[-1] - 1) + NORM_PIX_EPS)
    got = normalised_patches(img[None], 8)[0]
    # same patches, same normalisation
    np.testing.assert_allclose(np.sort(got, -1), np.sort(want.numpy(), -1), atol=1e-5)


def test_on_shifted_pairs_the_grid_patch_explains_everything(shifted: TestSet) -> None:
    r = copy_reward(shifted)
    assert r["r2_nb_grid"] >= 0.999 and r["r2_grid"] >= 0.999
    assert r["grid_gain"] == pytest.approx(1.0 - r["r2_nb"], abs=1e-3)
    assert r["r2_nb"] < 0.1 and r["patches"] > 300  # a fine texture: the neighbours say little
    assert abs(r["r2_nb_random"] - r["r2_nb"]) < 0.02


def test_with_an_unrelated_source_the_grid_patch_gains_nothing(shifted: TestSet) -> None:
    noise = np.random.default_rng(2).integers(0, 256, size=shifted.src.shape, dtype=np.uint8)
    r = copy_reward(_testset(noise, shifted.tgt, shifted.gt))
    assert abs(r["grid_gain"]) < 0.02 and abs(r["r2_nb_random"] - r["r2_nb"]) < 0.02
    assert abs(r["r2_grid"]) < 0.02


def test_neighbours_predict_smooth_images_but_not_white_noise() -> None:
    rng = np.random.default_rng(3)
    n = 4
    gt = np.tile(np.arange(64), (n, 1))
    smooth = np.stack([_texture(rng, 64, 10.0) for _ in range(n)])
    noise = np.stack([_texture(rng, 64, 0.0) for _ in range(n)])
    assert copy_reward(_testset(smooth, smooth, gt))["r2_nb"] > 0.5
    assert abs(copy_reward(_testset(noise, noise, gt))["r2_nb"]) < 0.02


def test_where_adds_a_sub_dict_on_those_patches(shifted: TestSet) -> None:
    where = np.zeros(shifted.gt.shape, bool)
    where[:, :32] = True
    r = copy_reward(shifted, where=where)
    assert r["moving"]["patches"] < r["patches"] and r["moving"]["r2_nb_grid"] >= 0.999
    with pytest.raises(SlifeError, match="does not match"):
        copy_reward(shifted, where=where[:, :10])


def test_a_test_set_without_ground_truth_is_a_clear_error(shifted: TestSet) -> None:
    with pytest.raises(TestSetError, match="ground truth"):
        copy_reward(_testset(shifted.src, shifted.tgt, None))


def test_cli_prints_the_numbers(shifted: TestSet, tmp_path, capsys) -> None:
    path = tmp_path / "ts.npz"
    shifted.save(path)
    assert main(["align", "reward", str(path)]) == 0
    out = capsys.readouterr().out
    for key in ("r2_nb", "r2_nb_grid", "grid_gain", "r2_nb_random", "testset moving"):
        assert key in out
    assert main(["align", "reward", str(path), "--json", "--shifted", "1"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert set(res) == {"testset", "shifted_1"}
    assert res["testset"]["r2_nb_grid"] >= 0.999 and "grid_gain" in res["testset"]["moving"]
    no_gt = _testset(shifted.src, shifted.tgt, None)
    no_gt.save(tmp_path / "nogt.npz")
    assert main(["align", "reward", str(tmp_path / "nogt.npz")]) == 2
    assert "ground truth" in capsys.readouterr().err
