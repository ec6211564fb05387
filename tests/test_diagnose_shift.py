"""The shift mechanism test: exact ground truth, baselines, and a tiny training run that must learn."""

import json

import numpy as np
import pytest
import torch

from slife.align.analysis import gt_alignment
from slife.align.matchers import IdentityMatcher
from slife.diagnose.shift import ShiftConfig, chance_scores, load_shift_config, run_shift
from slife.diagnose.shift import score_top1
from slife.errors import SlifeError
from slife.pairs.photos import EVAL_PHOTOS, TRAIN_PHOTOS, PhotoPairs, PhotoPairsConfig, load_photo


def _patches(img: np.ndarray, p: int) -> np.ndarray:
    g = img.shape[0] // p
    return img.reshape(g, p, g, p, 3).transpose(0, 2, 1, 3, 4).reshape(g * g, p, p, 3)


def test_photo_split_is_disjoint_and_loads_offline() -> None:
    assert not set(TRAIN_PHOTOS) & set(EVAL_PHOTOS)
    for name in ("coins", "stereo_motorcycle"):
        img = load_photo(name)
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3


@pytest.mark.parametrize("subpatch", [False, True])
def test_ground_truth_names_the_source_patch_holding_each_target_patch(subpatch: bool) -> None:
    photos = [load_photo("astronaut"), load_photo("coffee")]
    pairs = PhotoPairs(photos, 64, 8, PhotoPairsConfig(max_shift=2, subpatch=subpatch))
    src, tgt, gt, shift = pairs.draw(40, np.random.default_rng(0))
    assert src.shape == tgt.shape == (40, 64, 64, 3) and gt.shape == (40, 64)
    assert np.abs(shift).max() <= 2 * 8 + (7 if subpatch else 0) and (shift % 8 != 0).any() == subpatch
    for i in range(40):
        ps, pt = _patches(src[i], 8), _patches(tgt[i], 8)
        for n in np.flatnonzero(gt[i] >= 0):
            if not subpatch:  # a whole-patch shift: the target patch *is* that source patch
                assert np.array_equal(pt[n], ps[gt[i, n]])
        # the target patch centre, moved by the shift, falls inside the named source patch
        r, c = divmod(np.arange(64), 8)
        y, x = r * 8 + 4 + shift[i, 0], c * 8 + 4 + shift[i, 1]
        inside = (y >= 0) & (y < 64) & (x >= 0) & (x < 64)
        assert np.array_equal(gt[i] >= 0, inside)
        assert np.array_equal(gt[i][inside], (y // 8 * 8 + x // 8)[inside])


def test_identity_is_exact_only_where_nothing_moved() -> None:
    pairs = PhotoPairs([load_photo("chelsea")], 64, 8, PhotoPairsConfig(max_shift=2))
    ts = pairs.testset(60, seed=3)
    ident = score_top1(IdentityMatcher().attention(ts), ts)
    still = np.array([s == [0, 0] for s in ts.meta["shift_px"]])
    assert still.any() and not still.all()
    assert ident["exact"] == pytest.approx(gt_alignment(IdentityMatcher().attention(ts.subset(np.flatnonzero(still))),
                                                        ts.subset(np.flatnonzero(still)), 0) * (ts.gt[still] >= 0).sum()
                                           / (ts.gt >= 0).sum())
    assert ident["exact_moving"] == 0.0 and ident["within1_moving"] == 0.0
    chance = chance_scores(ts)
    assert chance["exact"] == pytest.approx(1 / 64)


def test_the_recipe_is_the_default_and_overrides_merge_into_it() -> None:
    from slife.config import to_dict

    assert to_dict(load_shift_config("configs/diagnose_shift.yaml")) == to_dict(ShiftConfig())
    cfg = load_shift_config(None, ["model.overrides.dec_depth=2"])
    assert cfg.model.overrides["dec_depth"] == 2 and cfg.model.overrides["mask_ratio"] == 0.5


def test_config_validation() -> None:
    with pytest.raises(SlifeError, match="max_shift"):
        PhotoPairsConfig(max_shift=-1)
    with pytest.raises(SlifeError, match="scales"):
        PhotoPairsConfig(scales=[0.5])
    with pytest.raises(SlifeError, match="steps"):
        ShiftConfig(steps=0)


TINY = {
    "model": {"size": "tiny", "overrides": {"img_size": 32, "patch_size": 8, "enc_dim": 64, "dec_dim": 64,
                                            "enc_depth": 2, "dec_depth": 2, "mask_ratio": 0.5}},
}


@pytest.mark.slow
def test_the_recipe_learns_correspondence_that_identity_and_chance_cannot_explain(tmp_path) -> None:
    """19k pairs of the shift recipe (configs/diagnose_shift.yaml) at its peak learning rate (a 600-step
    cosine decays before correspondence emerges): the model finds the moved patch on held-out photos
    where identity scores 0, and its loss depends on the source view."""
    # threads pinned: the float summation order (and so this short run's end point, 0.077 at one thread
    # vs above 0.094 at two) depends on the thread count; two is what CI's 2-core machine runs
    cfg = load_shift_config(None, ["steps=600", "eval_every=600", "eval_pairs=32", "read_masks=2",
                                   "optim.min_lr=4e-3", "threads=2"])
    result = run_shift(cfg)
    first, last = result.curve[0], result.final()
    seen = {"first": first["scores"]["masked"], "last": last["scores"]["masked"],
            "swapped": last["swapped_minus_real"], "noise": last["noise_minus_real"]}  # fmt: skip
    assert [p["step"] for p in result.curve] == [0, 600]
    chance = result.baselines["chance"]["exact_moving"]
    assert result.baselines["identity"]["exact_moving"] == 0.0
    # before training: chance level; after: many times chance on patches that moved (identity: 0)
    assert first["scores"]["masked"]["exact_moving"] < 4 * chance, seen
    assert last["scores"]["masked"]["exact_moving"] > 6 * chance, seen
    assert last["scores"]["masked"]["exact"] > result.baselines["identity"]["exact"], seen
    # the source view matters: another pair's source costs clearly more than the right one
    assert last["swapped_minus_real"] > 0.05 and last["noise_minus_real"] > 0.05, seen
    assert first["swapped_minus_real"] < 0.05, seen
    json.dumps(result.to_json())  # the results are plain JSON


def test_cli_quick_run_writes_results_curve_and_summary(tmp_path, capsys) -> None:
    from slife.cli import main

    overrides = ["--set", "steps=4", "--set", "eval_every=2", "--set", "eval_pairs=4", "--set", "batch_size=4",
                 "--set", "threads=1"]
    assert main(["diagnose", "shift", "--out", str(tmp_path), *overrides, "--save-model"]) == 0
    data = json.loads((tmp_path / "results.json").read_text())
    from slife.model.checkpoint import load_model  # #23: --save-model writes a checkpoint every command can open

    model, _ = load_model(tmp_path / "model.pt")
    assert model.cfg.img_size == data["testset"]["img_size"] and model.cfg.patch_size == data["testset"]["patch_size"]
    assert [p["step"] for p in data["curve"]] == [0, 2, 4]
    assert set(data["curve"][-1]["scores"]) == {"unmasked", "masked"}
    assert (tmp_path / "curve.png").stat().st_size > 10_000
    summary = (tmp_path / "summary.md").read_text()
    assert "identity" in summary and "chance" in summary and "random init, masked" in summary
    assert "Shift mechanism test" in capsys.readouterr().out
    assert main(["diagnose", "shift", "--out", str(tmp_path), "--set", "steps=0"]) == 2  # bad config: clear error
