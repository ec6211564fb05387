"""The dead-leaves null life: deterministic unrelated images, kind, frame count, CLI and refusals."""

from __future__ import annotations

import numpy as np
import pytest

from slife.cli import main
from slife.errors import SlifeError
from slife.life import Life
from slife.world import make_deadleaves
from slife.world.deadleaves import RADIUS, _radii, deadleaves_image


def test_life_of_dead_leaves(tmp_path):
    a = Life.open(make_deadleaves(tmp_path / "a", minutes=1.6, fps=0.5, seed=0, size=48, progress=False, workers=2))
    assert a.kind == "deadleaves" and not a.has_depth and not a.has_poses and a.poses is None
    assert len(a) == 48 and [v.frames for v in a.manifest.videos] == [30, 18]  # videos of about a minute
    assert a.manifest.short_side == 48 and a.image(0).shape == (48, 48, 3)
    b = Life.open(make_deadleaves(tmp_path / "b", minutes=1.6, fps=0.5, seed=0, size=48, progress=False, workers=1))
    assert all(a.jpeg(i) == b.jpeg(i) for i in range(len(a)))  # deterministic, drawn by 2 processes or by 1
    c = Life.open(make_deadleaves(tmp_path / "c", minutes=0.1, fps=1.0, seed=1, size=48, progress=False))
    assert all(a.jpeg(i) != c.jpeg(i) for i in range(len(c)))
    # unrelated frames: consecutive images differ as much as any two
    imgs = np.stack([a.image(i).astype(float) for i in range(6)])
    assert min(np.abs(imgs[i] - imgs[i + 1]).mean() for i in range(5)) > 30
    # an identical request resumes (no-op), a different one is refused
    tar = a.dir / a.manifest.videos[0].shard
    before = tar.stat().st_mtime_ns
    make_deadleaves(tmp_path / "a", minutes=1.6, fps=0.5, seed=0, size=48, progress=False)
    assert tar.stat().st_mtime_ns == before
    with pytest.raises(SlifeError, match="different life"):
        make_deadleaves(tmp_path / "a", minutes=1.6, fps=0.5, seed=2, size=48, progress=False)
    with pytest.raises(SlifeError, match="--size"):
        make_deadleaves(tmp_path / "d", minutes=0.1, size=8, progress=False)


def test_image_is_covered_by_discs_of_power_law_radii():
    img = deadleaves_image(0, 5, 128)
    assert img.shape == (128, 128, 3) and img.dtype == np.uint8
    assert np.array_equal(img, deadleaves_image(0, 5, 128)) and not np.array_equal(img, deadleaves_image(0, 6, 128))
    assert len(np.unique(img.reshape(-1, 3) // 32, axis=0)) > 50  # many discs of many colours
    r = _radii(np.random.default_rng(0), 200_000, 1.0, 40.0)
    assert r.min() >= 1.0 and r.max() <= 40.0
    # p(r) ~ r^-3: the share of radii in [1, 2] is (1 - 1/4) / (1 - 1/1600)
    assert abs((r <= 2.0).mean() - 0.75 / (1 - 1 / 1600)) < 0.01
    assert RADIUS == (0.01, 0.4)


def test_cli_deadleaves(tmp_path, capsys):
    out = tmp_path / "dl"
    assert main(["world", "deadleaves", str(out), "--minutes", "0.1", "--fps", "2", "--seed", "3", "--size", "32",
                 "--quiet"]) == 0
    assert "dead-leaves" in capsys.readouterr().out
    life = Life.open(out)
    assert len(life) == 12 and life.kind == "deadleaves" and life.meta["request"]["seed"] == 3
    assert main(["world", "deadleaves", str(out), "--minutes", "0.2", "--size", "32", "--quiet"]) == 2
    assert "different life" in capsys.readouterr().err
