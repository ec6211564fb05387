"""Renderer geometry: metric z-depth, the pixel-centre convention, and pose/intrinsics consistency."""

from __future__ import annotations

import numpy as np
import pytest

from slife.geometry import backproject, pixel_centers
from slife.world.path import camera_poses
from slife.world.render import Lighting, Renderer, intrinsics
from slife.world.scene import Box, box_mesh
from slife.world.textures import TexturePool

FLAT = Lighting(sun_dir=(0, 0, 1), sun_color=(0, 0, 0), ambient=(1, 1, 1), zenith=(0, 0, 0), horizon=(0, 0, 0),
                fog_density=0.0, lamp_color=(0, 0, 0), sky=False)


@pytest.fixture(scope="module")
def renderer():
    white = np.full((16, 16, 3), 250, np.uint8)
    black = np.full((16, 16, 3), 5, np.uint8)
    with Renderer(64, TexturePool(np.stack([white, black]), {"white": [0], "black": [1]}), hfov_deg=65.0, far=60.0) as r:
        yield r


def _pose(pos, yaw, pitch=0.0, roll=0.0):
    return camera_poses(np.array([pos], float), np.array([yaw]), np.array([pitch]), np.array([roll]))[0]


def test_intrinsics_match_fov():
    K = intrinsics(256, 65.0)
    assert K[0, 2] == K[1, 2] == 128.0
    assert np.isclose(2 * np.degrees(np.arctan(128.0 / K[0, 0])), 65.0)


def test_pose_axes_are_opencv():
    P = _pose((1, 2, 3), yaw=0.0)  # looking along world +x, z up
    assert np.allclose(P[:3, 2], [1, 0, 0]) and np.allclose(P[:3, 0], [0, -1, 0]) and np.allclose(P[:3, 1], [0, 0, -1])
    R = _pose((0, 0, 0), 0.7, -0.3, 0.1)[:3, :3]
    assert np.allclose(R.T @ R, np.eye(3)) and np.isclose(np.linalg.det(R), 1.0)


@pytest.mark.parametrize("distance", [0.5, 3.0, 17.25, 45.0])
def test_fronto_parallel_plane_reads_its_distance(renderer, distance):
    renderer.set_scene(*box_mesh([Box((distance, -200, -200), (distance + 1, 200, 200), 0)]))
    _, depth = renderer.render(_pose((0, 0, 0), 0.0), FLAT)
    assert depth.dtype == np.float32
    np.testing.assert_allclose(depth, distance, rtol=2e-6)


def test_beyond_far_plane_is_zero(renderer):
    renderer.set_scene(*box_mesh([Box((70, -500, -500), (71, 500, 500), 0)]))
    rgb, depth = renderer.render(_pose((0, 0, 0), 0.0), FLAT)
    assert (depth == 0).all()


def test_tilted_camera_backprojects_onto_the_plane(renderer):
    """Depth + K + pose of an oblique view put every pixel centre back on the plane x = 4."""
    renderer.set_scene(*box_mesh([Box((4.0, -100, -100), (5.0, 100, 100), 0)]))
    pose = _pose((0.3, -0.2, 1.5), yaw=0.45, pitch=-0.3, roll=0.08)
    _, depth = renderer.render(pose, FLAT)
    xy = pixel_centers(64, 64)
    z = depth.reshape(-1).astype(np.float64)
    assert (z > 0).all() and z.max() / z.min() > 1.5  # really oblique
    pts = backproject(xy, z, renderer.K, pose)
    np.testing.assert_allclose(pts[:, 0], 4.0, atol=2e-3)


@pytest.mark.parametrize("edge_px", [20.0, 31.25, 40.75])
def test_pixel_centre_convention(renderer, edge_px):
    """A colour edge projecting to continuous x = edge_px splits columns at the pixel centres."""
    K = renderer.K
    d = 3.0
    y_edge = -(edge_px - K[0, 2]) / K[0, 0] * d  # camera x (right) = world -y when looking along +x
    renderer.set_scene(*box_mesh([Box((d, -50, -50), (d + 1, y_edge, 50), 0),  # right part of the image: white
                                  Box((d, y_edge, -50), (d + 1, 50, 50), 1)]))  # left part: black
    rgb, _ = renderer.render(_pose((0, 0, 0), 0.0), FLAT)
    row = rgb[32, :, 0].astype(int)
    centres = np.arange(64) + 0.5
    np.testing.assert_array_equal(row > 128, centres > edge_px)


def test_vertical_convention(renderer):
    """Image rows grow downwards: a floor (z < 0) in front of a level camera fills the bottom half."""
    renderer.set_scene(*box_mesh([Box((-50, -50, -2.0), (50, 50, -1.0), 0)]))
    _, depth = renderer.render(_pose((0, 0, 0), 0.0), FLAT)
    assert (depth[:30] == 0).all() and (depth[34:] > 0).all()
    # at row i the z-depth of the floor 1 m below is f / (v - cy)
    v = np.arange(34, 64) + 0.5
    np.testing.assert_allclose(depth[34:, 32], renderer.K[1, 1] / (v - renderer.K[1, 2]), rtol=1e-4)
