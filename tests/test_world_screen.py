"""The screen-recording non-life control: flat content that scrolls and cuts, no 3D motion, no depth."""

from pathlib import Path

import numpy as np
import pytest

from slife.cli import main
from slife.errors import SlifeError
from slife.life import Life
from slife.world.screen import CHROME, screen_segments


def _translation(a: np.ndarray, b: np.ndarray, max_px: int) -> tuple[int, int] | None:
    """The whole-pixel (dy, dx) with b[y, x] == a[y + dy, x + dx] on the content (below the title bar,
    left of the scroll bar), if one within ``max_px`` exists."""
    s = a.shape[0]
    top, right = int(s * CHROME) + 1, s - s // 40 - 1
    for dy in range(-max_px, max_px + 1):
        for dx in range(-max_px // 4, max_px // 4 + 1):
            ys, xs = slice(max(top, top - dy), min(s, s - dy)), slice(max(0, -dx), min(right, right - dx))
            yt, xt = slice(ys.start + dy, ys.stop + dy), slice(xs.start + dx, xs.stop + dx)
            if ys.stop - ys.start > s // 4 and np.array_equal(b[ys, xs], a[yt, xt]):
                return dy, dx
    return None


def test_segments_are_pure_translations_between_hard_cuts() -> None:
    segments = list(screen_segments(3, 80, 2.0, 64))
    assert sum(len(f) for _, f in segments) == 80 and len(segments) >= 2
    shifts = [_translation(a, b, 64) for _, frames in segments for a, b in zip(frames[:-1], frames[1:])]
    # no 3D motion: the next frame is the content moved by whole pixels, unless the window jumped
    # (page down, search: ~5 % of the frames) beyond any overlap
    assert sum(s is not None for s in shifts) >= 0.85 * len(shifts)
    assert sum(s not in (None, (0, 0)) for s in shifts) > 5
    again = list(screen_segments(3, 80, 2.0, 64))
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(segments, again))  # a pure function of the seed
    last, first = segments[0][1][-1], segments[1][1][0]
    assert _translation(last, first, 8) is None  # a cut


def test_screen_life_cli_writes_a_life_without_depth(tmp_path: Path, capsys) -> None:
    out = tmp_path / "screen"
    assert main(["world", "screen", str(out), "--minutes", "0.5", "--size", "64", "--quiet"]) == 0
    life = Life.open(out)
    assert life.kind == "screen" and len(life) == 60 and not life.has_depth and not life.has_poses
    assert life.verify() == []
    assert main(["world", "screen", str(out), "--minutes", "0.5", "--size", "64", "--quiet"]) == 0  # a no-op
    assert "non-life control (screen recordings), 60 frames" in capsys.readouterr().out
    with pytest.raises(SlifeError, match="already holds a different life"):
        from slife.world import make_screen

        make_screen(out, minutes=0.5, size=64, seed=1, progress=False)
