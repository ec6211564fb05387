"""Pinhole geometry shared by spatial pairing, alignment ground truth and evaluation.

Conventions (docs/ARCHITECTURE.md): continuous pixel coordinates (pixel (i, j) centre at
(j + 0.5, i + 0.5)), intrinsics K in the same convention, camera-to-world poses in OpenCV axes,
metric z-depth with 0 = invalid.
"""

from __future__ import annotations

import numpy as np


def pixel_centers(height: int, width: int, stride: int = 1) -> np.ndarray:
    """(M, 2) continuous (x, y) centres of every ``stride``-th pixel, row-major."""
    ys = np.arange(0, height, stride) + 0.5
    xs = np.arange(0, width, stride) + 0.5
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def sample_nearest(image: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Values of ``image`` (H, W, ...) at continuous points ``xy`` (M, 2); points must be inside."""
    cols = np.clip(np.floor(xy[:, 0]).astype(np.int64), 0, image.shape[1] - 1)
    rows = np.clip(np.floor(xy[:, 1]).astype(np.int64), 0, image.shape[0] - 1)
    return image[rows, cols]


def inside(xy: np.ndarray, height: int, width: int) -> np.ndarray:
    """Boolean (M,): points within the image rectangle [0, W) x [0, H)."""
    return (xy[:, 0] >= 0) & (xy[:, 0] < width) & (xy[:, 1] >= 0) & (xy[:, 1] < height)


def backproject(xy: np.ndarray, depth: np.ndarray, K: np.ndarray, cam_to_world: np.ndarray) -> np.ndarray:
    """World points (M, 3) of pixels ``xy`` (M, 2) with z-depths ``depth`` (M,)."""
    K_inv = np.linalg.inv(K)
    homog = np.concatenate([xy, np.ones((len(xy), 1))], axis=1)
    cam = (homog @ K_inv.T) * depth[:, None]
    return cam @ cam_to_world[:3, :3].T + cam_to_world[:3, 3]


def project(points: np.ndarray, K: np.ndarray, cam_to_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (M, 2) and z-depths (M,) of world points in a camera; z <= 0 is behind it."""
    world_to_cam = np.linalg.inv(cam_to_world)
    cam = points @ world_to_cam[:3, :3].T + world_to_cam[:3, 3]
    z = cam[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        uvw = cam @ K.T
        xy = uvw[:, :2] / uvw[:, 2:3]
    return xy, z


def correspondences(
    xy_target: np.ndarray,
    depth_target: np.ndarray,
    K_target: np.ndarray,
    pose_target: np.ndarray,
    depth_source: np.ndarray,
    K_source: np.ndarray,
    pose_source: np.ndarray,
    rel_tol: float = 0.05,
) -> tuple[np.ndarray, np.ndarray]:
    """Where target pixels ``xy_target`` (M, 2) appear in the source image.

    Returns (xy_source (M, 2), valid (M,)). A point is valid when it has depth in the target, lands in
    front of and inside the source camera, and is visible there: the source depth map agrees with the
    projected depth within ``rel_tol`` (relative), which rejects occluded points.
    """
    h_t, w_t = depth_target.shape
    z_t = sample_nearest(depth_target, xy_target).astype(np.float64)
    has_depth = (z_t > 0) & inside(xy_target, h_t, w_t)
    points = backproject(xy_target, z_t, K_target, pose_target)
    xy_s, z_s = project(points, K_source, pose_source)
    h_s, w_s = depth_source.shape
    finite = np.isfinite(xy_s).all(axis=1)
    in_view = has_depth & finite & (z_s > 0)
    in_view &= inside(np.where(finite[:, None], xy_s, -1.0), h_s, w_s)
    seen = np.zeros(len(xy_target), dtype=bool)
    if in_view.any():
        d_src = sample_nearest(depth_source, xy_s[in_view]).astype(np.float64)
        seen[in_view] = (d_src > 0) & (np.abs(d_src - z_s[in_view]) <= rel_tol * z_s[in_view])
    return xy_s, seen
