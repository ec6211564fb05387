"""Spatial pairs: Jaccard against brute force, caching, COLMAP text models."""

import itertools

import numpy as np
import pytest

from slife.errors import SlifeError
from slife.pairs.colmap import read_colmap_text
from slife.pairs.spatial import SpatialConfig, build_index, depth_visible_sets, index_path, spatial_index
from lives import make_test_life


@pytest.fixture(scope="module")
def life(tmp_path_factory):
    return make_test_life(tmp_path_factory.mktemp("life") / "life", durations=(12.0, 8.0), fps=3.0)


def _brute_force(sets: list[set], lo: float, hi: float) -> dict[tuple[int, int], float]:
    out = {}
    for i, j in itertools.combinations(range(len(sets)), 2):
        union = len(sets[i] | sets[j])
        jac = len(sets[i] & sets[j]) / union if union else 0.0
        if lo <= jac <= hi:
            out[(i, j)] = jac
    return out


def test_index_matches_brute_force_jaccard(life):
    cfg = SpatialConfig(lo=0.3, hi=0.9, max_distance=1e6, max_angle=180.0)
    sets = depth_visible_sets(life, cfg)
    rows = [set(sets.incidence[i].indices.tolist()) for i in range(len(life))]
    expected = _brute_force(rows, cfg.lo, cfg.hi)
    index = build_index(life, cfg)
    got = {tuple(p): float(j) for p, j in zip(index.pairs.tolist(), index.jaccard)}
    assert len(expected) > 50
    assert set(got) == set(expected)
    assert max(abs(got[k] - expected[k]) for k in got) < 1e-6
    assert index.jaccard.min() >= 0.3 and index.jaccard.max() <= 0.9
    # the cheap candidate restriction only removes pairs, never changes a Jaccard value
    pruned = build_index(life, SpatialConfig(lo=0.3, hi=0.9, max_distance=0.5, max_angle=30.0))
    sub = {tuple(p): float(j) for p, j in zip(pruned.pairs.tolist(), pruned.jaccard)}
    assert 0 < len(sub) < len(got) and all(abs(got[k] - v) < 1e-6 for k, v in sub.items())
    centres = life.poses[:, :3, 3]
    dist = np.linalg.norm(centres[pruned.pairs[:, 0]] - centres[pruned.pairs[:, 1]], axis=1)
    assert dist.max() <= 0.5 + 1e-9


def test_overlap_tracks_viewpoint(life):
    """Frames close in time (similar views) overlap more than frames far apart."""
    index = build_index(life, SpatialConfig(lo=0.0, hi=1.0, max_distance=1e6, max_angle=180.0))
    jac = np.zeros((len(life), len(life)))  # pairs sharing nothing are not listed: J = 0
    jac[index.pairs[:, 0], index.pairs[:, 1]] = index.jaccard
    i, j = np.triu_indices(len(life), 1)
    gap = np.abs(life.timestamps[j] - life.timestamps[i])
    same = life.video_index[i] == life.video_index[j]
    near, far = jac[i, j][same & (gap <= 1.0)], jac[i, j][same & (gap >= 4.0)]
    assert near.mean() > 0.5 > 0.1 > far.mean()


def test_index_is_cached_and_keyed_by_parameters(life):
    cfg = SpatialConfig(lo=0.35)
    first = spatial_index(life, cfg)
    assert first.path == index_path(life, cfg) and first.path.is_file()
    assert first.path.parent == life.dir / "pairs" and first.path.name.startswith("spatial-")
    mtime = first.path.stat().st_mtime_ns
    again = spatial_index(life, SpatialConfig(lo=0.35))
    assert again.path.stat().st_mtime_ns == mtime and np.array_equal(again.pairs, first.pairs)
    assert index_path(life, SpatialConfig(lo=0.4)) != first.path


def test_spatial_needs_geometry(tmp_path):
    plain = make_test_life(tmp_path / "plain", durations=(3.0,), with_geometry=False)
    with pytest.raises(SlifeError, match="depth and poses"):
        build_index(plain, SpatialConfig())


def _write_colmap(model_dir, names, observations, extra_points=()):
    """Identity-rotation cameras at x = 0, 1, 2, ...; ``observations[k]`` = point ids image k sees."""
    model_dir.mkdir(parents=True)
    (model_dir / "cameras.txt").write_text("# Camera list\n1 PINHOLE 64 48 50 50 32 24\n")
    pts = sorted({p for obs in observations for p in obs} | set(extra_points))
    (model_dir / "points3D.txt").write_text(
        "# 3D point list\n" + "".join(f"{p} {p * 0.1} 0 5 128 128 128 0.5 1 0\n" for p in pts)
    )
    lines = ["# Image list with two lines of data per image:"]
    for k, (name, obs) in enumerate(zip(names, observations)):
        lines.append(f"{k + 1} 1 0 0 0 {-float(k)} 0 0 1 {name}")
        lines.append(" ".join(f"{10.0 + i} {20.0 + i} {p}" for i, p in enumerate(obs)) + " 5.0 6.0 -1")
    (model_dir / "images.txt").write_text("\n".join(lines) + "\n")


def test_colmap_model_pairs(life, tmp_path):
    names = ["frames/0000002.jpg", "frames/0000005.jpg", "frames/0000009.jpg", "frames/0000011.jpg"]
    obs = [[1, 2, 3, 4], [2, 3, 4, 5], [4, 5, 6, 7], [8, 9]]
    _write_colmap(tmp_path / "sparse", names, obs)
    model = read_colmap_text(tmp_path / "sparse")
    assert [im.name for im in model.images] == names
    np.testing.assert_allclose(model.images[2].cam_to_world[:3, 3], [2.0, 0, 0])  # centre = -R^T t
    assert model.images[0].point_ids.tolist() == [1, 2, 3, 4]  # the -1 observation is dropped
    cfg = SpatialConfig(lo=0.2, hi=0.9, colmap=str(tmp_path / "sparse"), max_distance=10.0)
    index = build_index(life, cfg)
    got = {tuple(p): round(float(j), 4) for p, j in zip(index.pairs.tolist(), index.jaccard)}
    # J(2,5) = 3/5, J(5,9) = 2/6, J(2,9) = 1/7 (< lo), frame 11 shares nothing
    assert got == {(2, 5): 0.6, (5, 9): round(2 / 6, 4)}
    # camera distance restriction: frames 2 and 5 are 1 m apart, 5 and 9 also 1 m
    assert len(build_index(life, SpatialConfig(lo=0.2, colmap=str(tmp_path / "sparse"), max_distance=0.5)).pairs) == 0


def test_colmap_name_mapping_and_errors(life, tmp_path):
    _write_colmap(tmp_path / "a", ["left.png", "right.png"], [[1, 2, 3], [2, 3, 4]])
    with pytest.raises(SlifeError, match="do not match a frame"):
        build_index(life, SpatialConfig(colmap=str(tmp_path / "a")))
    (tmp_path / "map.txt").write_text("# name frame\nleft.png 3\nright.png 7\n")
    index = build_index(life, SpatialConfig(colmap=str(tmp_path / "a"), names=str(tmp_path / "map.txt")))
    assert index.pairs.tolist() == [[3, 7]] and abs(index.jaccard[0] - 0.5) < 1e-6
    _write_colmap(tmp_path / "b", ["0000001.jpg", "0099999.jpg"], [[1], [1]])
    with pytest.raises(SlifeError, match="0099999.jpg"):
        build_index(life, SpatialConfig(colmap=str(tmp_path / "b")))
    _write_colmap(tmp_path / "c", ["0000001.jpg"], [[1]])
    (tmp_path / "c" / "images.txt").write_text("1 1 0 0 0 0 0 zero 1 0000001.jpg\n\n")
    with pytest.raises(SlifeError, match=r"images\.txt:1: malformed image line"):
        read_colmap_text(tmp_path / "c")
    with pytest.raises(SlifeError, match="points3D.txt: COLMAP text model file not found"):
        (tmp_path / "c" / "points3D.txt").unlink()
        read_colmap_text(tmp_path / "c")
