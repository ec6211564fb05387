"""Screen recordings made from the world's own textures (``content="world"``), the recorded app cuts
(``meta["clips"]``: temporal pairs never straddle one), and screen lives rendered before both."""

import hashlib
from pathlib import Path

import numpy as np
import pytest

from slife.cli import main
from slife.errors import SlifeError
from slife.life import Life, read_manifest, write_manifest
from slife.pairs.samplers import TemporalSampler
from slife.world.screen import make_screen, screen_segments
from slife.world.textures import build_texture_pool

# sha256 of screen_segments(seed, 80, 2.0, 64) for seeds 3 and 7 (app names and frames), computed
# before content "world" existed: the default content must keep rendering the same frames
APPS_SHA256 = "d88f0c325d5cd17f03d907a7e59079427434d89f28b222cf3e7f371ff6188c58"


@pytest.fixture(scope="module")
def pool():
    return build_texture_pool(3, 256)  # the pool the lives of world 3 are textured with


def _shift(a: np.ndarray, b: np.ndarray, max_px: int) -> tuple[int, int] | None:
    """A whole-pixel (dy, dx) with b[y, x] == a[y + dy, x + dx] over the whole frame (no chrome)."""
    s = a.shape[0]
    for dy in range(-max_px, max_px + 1):
        for dx in range(-max_px // 4, max_px // 4 + 1):
            ys, xs = slice(max(0, -dy), min(s, s - dy)), slice(max(0, -dx), min(s, s - dx))
            moved = a[ys.start + dy : ys.stop + dy, xs.start + dx : xs.stop + dx]
            if ys.stop - ys.start > s // 4 and np.array_equal(b[ys, xs], moved):
                return dy, dx
    return None


def _colour_bins(images: np.ndarray) -> np.ndarray:
    """Each pixel's colour bin, 16 levels per channel."""
    q = images.reshape(-1, 3).astype(np.int64) // 16
    return q[:, 0] * 256 + q[:, 1] * 16 + q[:, 2]


def test_apps_content_renders_the_frames_it_rendered_before() -> None:
    h = hashlib.sha256()
    for seed in (3, 7):
        for app, frames in screen_segments(seed, 80, 2.0, 64):
            h.update(app.encode())
            h.update(frames.tobytes())
    assert h.hexdigest() == APPS_SHA256
    explicit = list(screen_segments(3, 80, 2.0, 64, content="apps"))
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(screen_segments(3, 80, 2.0, 64), explicit))


def test_world_content_is_deterministic_translated_and_made_of_the_pool(pool) -> None:
    world = list(screen_segments(3, 80, 2.0, 64, content="world", pool=pool))
    assert sum(len(f) for _, f in world) == 80 and len(world) >= 2
    again = list(screen_segments(3, 80, 2.0, 64, content="world", pool=pool))
    assert [a for a, _ in world] == [a for a, _ in again]
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(world, again))  # a pure function of seed and pool
    apps = np.concatenate([f for _, f in screen_segments(3, 80, 2.0, 64)])
    frames = np.concatenate([f for _, f in world])
    assert frames.shape == apps.shape and not np.array_equal(frames, apps)
    # no 3D motion: within a segment the next frame is the canvas moved by whole pixels (or a jump)
    shifts = [_shift(a, b, 64) for _, f in world for a, b in zip(f[:-1], f[1:])]
    assert sum(s is not None for s in shifts) >= 0.85 * len(shifts)
    assert sum(s not in (None, (0, 0)) for s in shifts) > 5
    # the world's textures, not documents: nearly every pixel has a colour of the pool's textures
    # (a bin holding at least 1e-4 of their pixels), far more than the apps' pages and editors do
    share = np.bincount(_colour_bins(pool.layers), minlength=16**3) / pool.layers[..., 0].size
    in_pool = share > 1e-4
    world_in, apps_in = in_pool[_colour_bins(frames)].mean(), in_pool[_colour_bins(apps)].mean()
    assert world_in > 0.95 and world_in > apps_in + 0.1, (world_in, apps_in)
    with pytest.raises(ValueError, match="texture pool"):
        next(screen_segments(3, 80, 2.0, 64, content="world"))
    with pytest.raises(ValueError, match="content"):
        next(screen_segments(3, 80, 2.0, 64, content="desktop"))


def test_world_screen_life_records_its_cuts_and_pairs_never_straddle_them(tmp_path: Path, capsys) -> None:
    out = tmp_path / "screen"
    args = ["world", "screen", str(out), "--minutes", "1", "--size", "64", "--seed", "3", "--content", "world", "--quiet"]
    assert main(args) == 0
    assert "screen recordings), 120 frames, 1 videos, content world" in capsys.readouterr().out
    life = Life.open(out)
    assert life.kind == "screen" and len(life) == 120 and life.verify() == []
    assert life.meta["content"] == "world" and life.meta["request"]["content"] == "world"
    clips = life.meta["clips"]
    planned = [len(f) for _, f in screen_segments(3 * 1000, 120, 2.0, 64, content="world", pool=build_texture_pool(3, 256))]
    assert [round((c["end"] - c["start"]) * 2.0) for c in clips] == planned and len(clips) >= 2
    seg = life.segment_index
    assert seg.max() + 1 == len(clips)
    cuts = np.flatnonzero(np.diff(seg)) + 1
    assert list(life.local_timestamps[cuts]) == [c["start"] for c in clips[1:]]
    pairs = TemporalSampler.for_life(life, 0.5, 5.0).sample(4000, np.random.default_rng(0))
    assert (seg[pairs[:, 0]] == seg[pairs[:, 1]]).all()
    assert (life.video_index[pairs[:, 0]] == life.video_index[pairs[:, 1]]).all()
    assert main(args) == 0  # the same request: a no-op
    with pytest.raises(SlifeError, match="already holds a different life"):
        make_screen(out, minutes=1.0, size=64, seed=3, progress=False)  # content apps


def test_screen_life_rendered_before_content_and_cuts_still_opens_and_resumes(tmp_path: Path) -> None:
    out = make_screen(tmp_path / "old", minutes=0.5, size=64, seed=1, progress=False)
    life = Life.open(out)
    assert life.meta["content"] == "apps" and life.segment_index.max() + 1 == len(life.meta["clips"])
    manifest = read_manifest(out)  # make it look like a life rendered before this change
    for key in ("content", "clips"):
        del manifest.meta[key]
    del manifest.meta["request"]["content"]
    write_manifest(out, manifest)
    old = Life.open(out)
    assert np.array_equal(old.segment_index, old.video_index)  # no cuts recorded: a segment per video
    make_screen(out, minutes=0.5, size=64, seed=1, progress=False)  # still the same request (content apps)
    assert "content" not in read_manifest(out).meta["request"]
    with pytest.raises(SlifeError, match="already holds a different life"):
        make_screen(out, minutes=0.5, size=64, seed=1, progress=False, content="world")
