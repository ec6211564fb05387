"""Segments: temporal and spatial pairs never cross a clip of the diverse control or a camera of the
static control (each is its own take, place and coordinate frame); malformed segment meta is refused."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from slife.errors import SlifeError
from slife.life import Life
from slife.pairs.samplers import TemporalSampler
from slife.pairs.spatial import SpatialConfig, build_index, frame_groups
from lives import make_test_life
from slife.world import WorldConfig, make_diverse, make_static

TINY = WorldConfig(texture_size=64)
ALL_OVERLAPS = SpatialConfig(lo=0.0, hi=1.0, max_distance=1e6, max_angle=180.0)  # every pair sharing a voxel


@pytest.fixture(scope="module")
def diverse(tmp_path_factory):
    out = tmp_path_factory.mktemp("seg") / "diverse"
    return Life.open(make_diverse(out, minutes=0.3, fps=2, seed=0, size=64, clip_seconds=(2, 4), progress=False,
                                  config=TINY))


@pytest.fixture(scope="module")
def static(tmp_path_factory):
    out = tmp_path_factory.mktemp("seg") / "static"
    return Life.open(make_static(out, minutes=0.3, fps=2, seed=0, size=64, camera_seconds=(2, 4), progress=False,
                                 config=TINY))


def _spans(life: Life, key: str) -> list[np.ndarray]:
    """Frame indices of each meta entry (clip or camera), in meta order."""
    out = []
    for c in life.meta[key]:
        ts = life.local_timestamps
        out.append(np.flatnonzero((life.video_index == c["video"]) & (ts >= c["start"] - 1e-6) & (ts < c["end"] - 1e-6)))
    return out


@pytest.mark.parametrize("which,key", [("diverse", "clips"), ("static", "cameras")])
def test_segments_are_the_clips_and_cameras(which, key, request):
    life = request.getfixturevalue(which)
    seg = life.segment_index
    assert seg.dtype == np.int64 and seg.shape == (len(life),)
    spans = _spans(life, key)
    assert len(spans) >= 4 and len(life.manifest.videos) < len(spans)  # several cuts inside one video
    assert sum(len(s) for s in spans) == len(life)
    for k, frames in enumerate(spans):
        assert (seg[frames] == k).all()  # numbered in frame order, one id per clip / camera
    assert np.all(np.diff(seg) >= 0)


@pytest.mark.parametrize("which", ["diverse", "static"])
def test_temporal_pairs_never_cross_a_cut(which, request):
    life = request.getfixturevalue(which)
    pairs = TemporalSampler.for_life(life, min_gap=0.5, max_gap=3.0).sample(3000, np.random.default_rng(0))
    seg = life.segment_index
    assert (seg[pairs[:, 0]] == seg[pairs[:, 1]]).all()
    assert len(np.unique(seg[pairs[:, 0]])) == seg.max() + 1  # every segment still takes part


@pytest.mark.parametrize("which", ["diverse", "static"])
def test_spatial_pairs_never_cross_a_cut(which, request):
    life = request.getfixturevalue(which)
    index = build_index(life, ALL_OVERLAPS)
    seg = life.segment_index
    assert len(index.pairs) > 20
    assert (seg[index.pairs[:, 0]] == seg[index.pairs[:, 1]]).all()
    assert index.params["version"] >= 2  # stale caches of the old index are not reused


def test_world_lives_pair_across_their_sessions(tmp_path):
    """A rendered life's sessions are one place: segments are its videos, spatial groups one frame."""
    life = make_test_life(tmp_path / "life", durations=(4.0, 4.0), fps=3.0)
    np.testing.assert_array_equal(life.segment_index, life.video_index)
    assert (frame_groups(life) == 0).all()
    index = build_index(life, ALL_OVERLAPS)
    assert (life.video_index[index.pairs[:, 0]] != life.video_index[index.pairs[:, 1]]).any()


def _with_meta(life: Life, key: str, value) -> Life:
    manifest = copy.deepcopy(life.manifest)
    manifest.meta[key] = value
    return Life(life.dir, manifest)


@pytest.mark.parametrize("change,message", [
    (lambda c: "not a list", "non-empty list"),
    (lambda c: [], "non-empty list"),
    (lambda c: c + [7], "not a mapping"),
    (lambda c: [{**c[0], "video": "0"}] + c[1:], "not a video number"),
    (lambda c: [{**c[0], "video": 5}] + c[1:], "not a video number"),
    (lambda c: [{**c[0], "start": "0"}] + c[1:], "finite numbers"),
    (lambda c: [{**c[0], "end": float("nan")}] + c[1:], "finite numbers"),
    (lambda c: [{**c[0], "end": c[0]["start"]}] + c[1:], "start < end"),
    (lambda c: [{**c[0], "end": c[1]["end"]}] + c[1:], "overlap"),
    (lambda c: c[1:], "in no segment"),
])
def test_malformed_segment_meta_is_one_line_naming_the_life(diverse, change, message):
    bad = _with_meta(diverse, "clips", change(copy.deepcopy(diverse.meta["clips"])))
    with pytest.raises(SlifeError, match=message) as info:
        bad.segment_index
    text = str(info.value)
    assert str(diverse.dir) in text and "\n" not in text


def test_old_static_cameras_without_times_span_their_video(static):
    old = _with_meta(static, "cameras", [{"video": v, "frames": e.frames} for v, e in enumerate(static.manifest.videos)])
    np.testing.assert_array_equal(old.segment_index, static.video_index)


@pytest.mark.parametrize("which", ["diverse", "static"])
def test_temporal_test_pairs_stay_within_one_take(which, request):
    """`slife align testset` on a control: its temporal pairs never straddle a clip or camera cut
    (the whole control is one video, so grouping by video would cross every cut)."""
    from slife.align.testset import make_testset

    life = request.getfixturevalue(which)
    assert len(set(life.video_index.tolist())) < len(set(life.segment_index.tolist()))
    ts = make_testset([life.dir], n_pairs_per_life=6, img_size=64, patch_size=8, gap=(0.5, 3.0), ground_truth=False)
    seg = life.segment_index
    assert (seg[ts.src_index] == seg[ts.tgt_index]).all()
