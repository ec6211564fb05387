"""Pair samplers: gap bounds, same-video constraint, windows, mixes and determinism."""

import numpy as np
import pytest

from slife.errors import SlifeError
from slife.pairs.samplers import AugmentedSampler, IndexSampler, MixSampler, RandomSampler, TemporalSampler
from lives import make_test_life


@pytest.fixture(scope="module")
def life(tmp_path_factory):
    return make_test_life(tmp_path_factory.mktemp("life") / "life", durations=(20.0, 15.0), fps=4.0)


def test_temporal_gaps_are_within_bounds_same_video_and_symmetric(life):
    sampler = TemporalSampler.for_life(life, min_gap=0.5, max_gap=5.0)
    pairs = sampler.sample(4000, np.random.default_rng(0))
    assert pairs.shape == (4000, 2) and pairs.dtype == np.int64
    gap = life.timestamps[pairs[:, 1]] - life.timestamps[pairs[:, 0]]
    assert np.abs(gap).min() >= 0.5 - 1e-9 and np.abs(gap).max() <= 5.0 + 1e-9
    assert (life.video_index[pairs[:, 0]] == life.video_index[pairs[:, 1]]).all()
    assert 0.4 < (gap > 0).mean() < 0.6  # random sign
    # D ~ U[0.5, 5] quantised to 0.25 s frames: mean |gap| ~ 2.75
    assert abs(np.abs(gap).mean() - 2.75) < 0.2
    hist, _ = np.histogram(np.abs(gap), bins=[0.5, 1.625, 2.75, 3.875, 5.0001])
    assert hist.min() > 0.15 * len(gap)  # roughly uniform over the range, not piled up at one end


def test_temporal_window_and_min_end(life):
    sampler = TemporalSampler.for_life(life, min_gap=1.0, max_gap=2.0)
    assert sampler.min_end == 5  # frames 0 and 4 (1.0 s apart at 4 fps)
    pairs = sampler.sample(500, np.random.default_rng(1), end=12)
    assert pairs.max() < 12
    gap = np.abs(np.diff(life.timestamps[pairs], axis=1))
    assert gap.min() >= 1.0 - 1e-9 and gap.max() <= 2.0 + 1e-9
    with pytest.raises(SlifeError, match="no valid pair"):
        sampler.sample(1, np.random.default_rng(0), end=4)


def test_temporal_rejects_gaps_longer_than_every_video():
    with pytest.raises(SlifeError, match="no two frames"):
        TemporalSampler(np.arange(10) * 0.5, np.zeros(10, np.int64), min_gap=6.0, max_gap=9.0)
    # a gap that only fits across two videos must not pair them
    ts = np.r_[np.arange(4) * 1.0, 4.0 + np.arange(4) * 1.0]
    vid = np.r_[np.zeros(4, np.int64), np.ones(4, np.int64)]
    with pytest.raises(SlifeError):
        TemporalSampler(ts, vid, min_gap=3.5, max_gap=6.0)


def test_random_and_augmented(life):
    rng = np.random.default_rng(2)
    pairs = RandomSampler(len(life)).sample(3000, rng, end=50)
    assert (pairs[:, 0] != pairs[:, 1]).all() and pairs.max() < 50 and pairs.min() >= 0
    assert len(np.unique(pairs)) == 50
    same = AugmentedSampler(len(life)).sample(100, rng)
    assert (same[:, 0] == same[:, 1]).all()


def test_index_sampler_respects_window_and_orientation():
    pairs = np.array([[0, 5], [1, 2], [3, 9], [2, 7]])
    sampler = IndexSampler(pairs)
    assert sampler.min_end == 3
    got = sampler.sample(400, np.random.default_rng(0), end=8)
    assert got.max() < 8
    assert {tuple(sorted(p)) for p in got.tolist()} == {(0, 5), (1, 2), (2, 7)}
    assert 0.35 < (got[:, 0] < got[:, 1]).mean() < 0.65


def test_mix_proportions_and_infeasible_components(life):
    temporal = TemporalSampler.for_life(life)
    late = IndexSampler(np.array([[100, 120]]), name="late")
    mix = MixSampler([temporal, late, AugmentedSampler(len(life))], [0.5, 0.3, 0.2])
    pairs = mix.sample(5000, np.random.default_rng(3))
    is_late = (pairs == [100, 120]).all(1) | (pairs == [120, 100]).all(1)
    is_same = pairs[:, 0] == pairs[:, 1]
    assert abs(is_late.mean() - 0.3) < 0.03 and abs(is_same.mean() - 0.2) < 0.03
    early = mix.sample(1000, np.random.default_rng(4), end=60)  # 'late' cannot draw: renormalised
    assert early.max() < 60 and abs((early[:, 0] == early[:, 1]).mean() - 0.2 / 0.7) < 0.05


def test_sampling_is_a_function_of_the_generator(life):
    mix = MixSampler([TemporalSampler.for_life(life), RandomSampler(len(life))], [1, 1])
    a = mix.sample(64, np.random.default_rng([7, 3]), end=90)
    b = mix.sample(64, np.random.default_rng([7, 3]), end=90)
    c = mix.sample(64, np.random.default_rng([7, 4]), end=90)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_index_sampler_balances_frames_not_pairs():
    # frames 0..9 form a "pause": all 45 pairs overlap; frames 10..19 form a walk: 9 chained pairs.
    pause = np.array([(i, j) for i in range(10) for j in range(i + 1, 10)])
    walk = np.array([(i, i + 1) for i in range(10, 19)])
    sampler = IndexSampler(np.concatenate([pause, walk]))
    got = sampler.sample(20000, np.random.default_rng(1))
    in_pause = (got < 10).all(axis=1).mean()
    # uniform over pairs would give 45/54 = 0.83; frame-balanced weighting gives 10/20 = 0.5
    assert abs(in_pause - 0.5) < 0.03
    counts = np.bincount(got.ravel(), minlength=20) / got.size
    assert counts[:10].std() < 0.01  # inside the pause every frame is drawn equally often
