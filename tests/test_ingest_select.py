"""Frame selection rule: nearest presentation timestamp to the k/fps grid (pure functions)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from slife.ingest.select import NearestSelector, select_frames, target_times
from slife.ingest.video import output_size


def stream_select(times, fps, duration):
    sel = NearestSelector(fps)
    kept = []
    for i, t in enumerate(times):
        kept += [c.index for c in sel.push(i, float(t), None)]
    kept += [c.index for c in sel.finish(duration)]
    return kept


def test_target_grid_stops_before_duration():
    np.testing.assert_allclose(target_times(2.0, 2.0), [0.0, 0.5, 1.0, 1.5])
    np.testing.assert_allclose(target_times(2.0, 2.01), [0.0, 0.5, 1.0, 1.5, 2.0])
    assert len(target_times(30.0, 0.0)) == 0


def test_constant_rate_25_to_2_fps_ties_go_to_earlier_frame():
    times = np.arange(250) / 25.0  # 10 s at 25 fps; targets at x.5 s fall exactly between two frames
    kept = select_frames(times, 2.0, 10.0)
    # 0.5 s lies between frame 12 (0.48) and 13 (0.52): the earlier one wins
    assert kept == [round(k * 12.5 - 0.01) for k in range(20)]
    assert kept[:4] == [0, 12, 25, 37]


def test_variable_rate_hand_example():
    times = [0.0, 0.1, 0.2, 0.9, 1.0, 1.45, 1.6, 2.45]
    # targets 0, .5, 1, 1.5, 2: 0 -> 0; .5 -> 0.2 (0.3 away, vs 0.4); 1 -> 1.0; 1.5 -> 1.45; 2 -> 1.6
    assert select_frames(times, 2.0, 2.1) == [0, 2, 4, 5, 6]
    # a longer duration adds the target 2.5 -> 2.45
    assert select_frames(times, 2.0, 2.6) == [0, 2, 4, 5, 6, 7]


def test_source_slower_than_fps_keeps_each_frame_once():
    assert select_frames([0.0, 1.0, 2.0], 4.0, 3.0) == [0, 1, 2]


def test_gap_in_stream_keeps_frames_on_both_sides_once():
    times = [0.0, 0.5, 5.0, 5.5]  # nothing between 0.5 and 5.0 s
    assert select_frames(times, 2.0, 6.0) == [0, 1, 2, 3]


def test_stream_starting_late_maps_early_targets_to_first_frame():
    assert select_frames([0.7, 1.2], 2.0, 1.5) == [0, 1]  # targets 0, .5 -> frame 0; 1.0 -> frame 1 (0.2 vs 0.3)


@pytest.mark.parametrize("seed", range(20))
def test_streaming_selector_matches_reference(seed):
    rng = np.random.default_rng(seed)
    gaps = rng.choice([0.0, 1 / 30, 1 / 25, 0.1, 0.7], size=rng.integers(1, 200))
    times = np.cumsum(gaps) + rng.uniform(0, 2) * (seed % 2)
    times -= times[0] if seed % 3 == 0 else 0.0
    fps = float(rng.choice([0.5, 1.0, 2.0, 7.0, 30.0]))
    duration = float(times[-1] + rng.uniform(0, 1.5))
    assert stream_select(times, fps, duration) == select_frames(times, fps, duration)


def test_streaming_selector_clamps_out_of_order_timestamps():
    # a frame stamped earlier than its predecessor is treated as simultaneous with it
    assert stream_select([0.0, 0.6, 0.4, 1.0], 2.0, 1.2) == [0, 1, 3]


def test_output_size_short_side_and_no_upscale():
    assert output_size(640, 272, 256) == (602, 256)
    assert output_size(1080, 1920, 256) == (256, 455)  # portrait
    assert output_size(176, 144, 256) == (176, 144)  # never upscaled
    assert output_size(300, 256, 256) == (300, 256)
    # non-square pixels: stretched to display proportions first, then the short side scaled
    assert output_size(480, 360, 256, Fraction(4, 3)) == (455, 256)  # shown 640x360
    assert output_size(720, 576, 1000, Fraction(16, 15)) == (768, 576)  # PAL 4:3, never upscaled past display
    assert output_size(200, 200, 1000, Fraction(1, 2)) == (100, 200)  # tall pixels: display 100x200
    assert output_size(640, 272, 256, Fraction(1)) == output_size(640, 272, 256) == (602, 256)
