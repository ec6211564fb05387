"""Pinhole helpers: round trips and occlusion handling on hand-built scenes."""

import numpy as np

from slife.geometry import backproject, correspondences, pixel_centers, project


def _K(f: float = 50.0, size: int = 64) -> np.ndarray:
    return np.array([[f, 0, size / 2], [0, f, size / 2], [0, 0, 1.0]])


def _pose(t: tuple[float, float, float]) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, 3] = t
    return pose


def test_backproject_then_project_is_identity() -> None:
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 64, size=(100, 2))
    depth = rng.uniform(0.5, 20, size=100)
    pose = _pose((1.0, -2.0, 0.5))
    pose[:3, :3] = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1.0]])
    pts = backproject(xy, depth, _K(), pose)
    xy2, z2 = project(pts, _K(), pose)
    np.testing.assert_allclose(xy2, xy, atol=1e-9)
    np.testing.assert_allclose(z2, depth, atol=1e-9)


def test_fronto_parallel_plane_shift_moves_pixels_by_disparity() -> None:
    # camera moves 0.5 m to the right looking at a plane 5 m away: points shift left by f*b/z = 5 px
    depth = np.full((64, 64), 5.0)
    xy = pixel_centers(64, 64, stride=8)
    xy_s, valid = correspondences(xy, depth, _K(), np.eye(4), depth, _K(), _pose((0.5, 0, 0)))
    assert valid[xy[:, 0] > 8].all()
    np.testing.assert_allclose((xy_s - xy)[valid], np.tile([-5.0, 0.0], (valid.sum(), 1)), atol=1e-9)


def test_occluded_and_out_of_view_points_are_invalid() -> None:
    depth_t = np.full((64, 64), 5.0)
    depth_s = depth_t.copy()
    depth_s[:, :32] = 2.0  # an occluder covers the left half of the source view
    xy = pixel_centers(64, 64, stride=4)
    xy_s, valid = correspondences(xy, depth_t, _K(), np.eye(4), depth_s, _K(), np.eye(4))
    assert not valid[xy[:, 0] < 32].any()
    assert valid[xy[:, 0] > 32].all()
    _, valid_behind = correspondences(xy, depth_t, _K(), np.eye(4), depth_t, _K(), _pose((0, 0, 10.0)))
    assert not valid_behind.any()
