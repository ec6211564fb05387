"""The score card (slife.align.scorecard): baselines, a model's scores, the training curve in
stretches, the per-displacement / per-layer breakdown, and the curve plot."""

import pytest

from slife.align.analysis import gt_alignment, moving_patches, patch_displacement, rank
from slife.align.scorecard import baselines, breakdown, score_model, training_curve
from slife.align.matchers import ReadProtocol, model_attention, random_init_matcher
from slife.model.config import model_config
from slife.pairs.photos import PhotoPairs, PhotoPairsConfig, load_photo

TINY = dict(img_size=32, patch_size=8, enc_dim=32, enc_heads=2, enc_depth=1, dec_dim=32, dec_heads=2, dec_depth=2)


@pytest.fixture(scope="module")
def shifted():
    """12 pairs shifted by up to 3 whole patches: exact ground truth, most patches moving."""
    pairs = PhotoPairs([load_photo("coffee"), load_photo("chelsea")], 32, 8, PhotoPairsConfig(max_shift=3, scales=[1.0]))
    return pairs.testset(12, seed=3)


def test_baselines_on_whole_patch_shifts(shifted, one_torch_thread) -> None:
    base = baselines(shifted, model_config("tiny", **TINY), seed=1)
    assert base["pixel-match"]["r0"] == 1.0 and base["pixel-match"]["moving_r0"] == 1.0  # the patch is copied
    assert base["identity"]["moving_r0"] == 0.0 and base["identity"]["moving_r1"] == 0.0
    assert base["chance"]["r0"] == pytest.approx(1 / 16)  # a 4 x 4 grid
    rand = base["random-init"]
    assert set(rand) >= {"masked", "unmasked", "loss_real_source", "swapped_minus_real"}
    assert 0.0 <= rand["masked"]["r1"] <= 1.0 and base["testset"]["pairs"] == 12


def test_score_model_reads_each_protocol(shifted, one_torch_thread) -> None:
    model = random_init_matcher(model_config("tiny", **TINY), seed=2).model
    card = score_model(model, shifted, {"unmasked": ReadProtocol("unmasked")}, source_check=False)
    attn = model_attention(model, shifted)
    assert card == {"unmasked": {"r0": gt_alignment(attn, shifted, 0), "r1": gt_alignment(attn, shifted, 1),
                                 "moving_r0": gt_alignment(attn, shifted, 0, moving_patches(shifted)),
                                 "moving_r1": gt_alignment(attn, shifted, 1, moving_patches(shifted))}}  # fmt: skip


def test_breakdown_by_displacement_and_layer(shifted, one_torch_thread) -> None:
    model = random_init_matcher(model_config("tiny", **TINY), seed=2).model
    protocol = ReadProtocol("masked", 2, 0)
    out = breakdown(model, shifted, max_disp=3, protocol=protocol)
    disp = patch_displacement(shifted)
    assert list(out["by_displacement"]) == ["0", "1", "2", ">=3"]
    counts = [v["patches"] for v in out["by_displacement"].values()]
    assert counts == [int((disp == 0).sum()), int((disp == 1).sum()), int((disp == 2).sum()), int((disp >= 3).sum())]
    assert sum(counts) == int((shifted.gt >= 0).sum())
    attn = model_attention(model, shifted, per_layer=True, protocol=protocol)
    assert len(out["moving_by_layer"]) == 2
    assert out["moving_by_layer"][1] == gt_alignment(rank(attn[1], 1), shifted, 1, moving_patches(shifted))
    assert out["moving_mean_of_layers"] == gt_alignment(rank(attn.mean(0), 1), shifted, 1, moving_patches(shifted))


def test_training_curve_in_stretches_equals_a_straight_run(tmp_path, shifted, one_torch_thread) -> None:
    from lives import make_test_life

    from slife.config import load_config
    from slife.train import TrainConfig, train

    life = make_test_life(tmp_path / "life", durations=(8.0,), fps=2.0)
    cfg = load_config(TrainConfig, None, [f"model.overrides={TINY}".replace("'", ""), "batch_size=2", "steps=5",
                                          "tensorboard=false", "threads=1", "milestones=[100.0]", "precision=fp32"])  # fmt: skip
    seen = []
    curve = training_curve(life.dir, tmp_path / "run", cfg, shifted, every=2, report=seen.append)
    assert [p["step"] for p in curve] == [0, 2, 4, 5] and seen == curve
    assert [p["pairs_seen"] for p in curve] == [0, 4, 8, 10]
    straight = train(life.dir, tmp_path / "straight", cfg, progress=False)
    assert curve[-1]["loss"] == straight.final_loss  # exact resume: the curve is the straight run's
    assert set(curve[-1]) >= {"masked", "unmasked", "swapped_minus_real", "train_seconds"}


def test_plot_training_curves(tmp_path) -> None:
    from slife.align.plots import plot_training_curves

    ref = {"chance": {"moving_r1": 0.1}, "random-init": {"masked": {"moving_r1": 0.12}}, "pixel-match": {"moving_r1": 0.4}}
    curve = [{"pairs_seen": n, "masked": {"moving_r1": v}} for n, v in ((0, 0.1), (64, 0.2), (128, 0.3))]
    path = plot_training_curves({"a": {**ref, "curve": curve}, "b": {"curve": curve[:2]}}, tmp_path / "c.png")
    assert path.stat().st_size > 5_000
