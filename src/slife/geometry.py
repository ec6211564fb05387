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


def quaternions_to_rotations(q_wxyz: np.ndarray) -> np.ndarray:
    """(N, 4) quaternions (w, x, y, z; normalised here) -> (N, 3, 3) rotation matrices."""
    q = np.asarray(q_wxyz, dtype=np.float64).reshape(-1, 4)
    w, x, y, z = (q / np.linalg.norm(q, axis=1, keepdims=True)).T
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], axis=-1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], axis=-1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=-1),
        ],
        axis=1,
    )


def rotations_to_quaternions(R: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rotation matrices -> (N, 4) unit quaternions (w, x, y, z) with w >= 0."""
    R = np.asarray(R, dtype=np.float64).reshape(-1, 3, 3)
    # the largest of 4w², 4x², 4y², 4z² picks the numerically safe formula
    diag = np.stack([R[:, 0, 0] + R[:, 1, 1] + R[:, 2, 2], R[:, 0, 0] - R[:, 1, 1] - R[:, 2, 2],
                     -R[:, 0, 0] + R[:, 1, 1] - R[:, 2, 2], -R[:, 0, 0] - R[:, 1, 1] + R[:, 2, 2]], axis=1)  # fmt: skip
    pick = np.argmax(diag, axis=1)
    q = np.empty((len(R), 4))
    s = np.sqrt(np.maximum(1.0 + diag[np.arange(len(R)), pick], 1e-300)) * 2.0
    m = R
    for k, cols in enumerate(
        [
            lambda: (s / 4, (m[:, 2, 1] - m[:, 1, 2]) / s, (m[:, 0, 2] - m[:, 2, 0]) / s, (m[:, 1, 0] - m[:, 0, 1]) / s),
            lambda: ((m[:, 2, 1] - m[:, 1, 2]) / s, s / 4, (m[:, 0, 1] + m[:, 1, 0]) / s, (m[:, 0, 2] + m[:, 2, 0]) / s),
            lambda: ((m[:, 0, 2] - m[:, 2, 0]) / s, (m[:, 0, 1] + m[:, 1, 0]) / s, s / 4, (m[:, 1, 2] + m[:, 2, 1]) / s),
            lambda: ((m[:, 1, 0] - m[:, 0, 1]) / s, (m[:, 0, 2] + m[:, 2, 0]) / s, (m[:, 1, 2] + m[:, 2, 1]) / s, s / 4),
        ]
    ):
        sel = pick == k
        q[sel] = np.stack(cols(), axis=1)[sel]
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return q * np.where(q[:, :1] < 0, -1.0, 1.0)


def interpolate_poses(times: np.ndarray, sample_times: np.ndarray, translations: np.ndarray,
                      quaternions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Poses at ``times`` from samples (strictly increasing ``sample_times``, (S, 3) translations,
    (S, 4) quaternions w, x, y, z): translation linear, rotation by slerp between the two neighbouring
    samples. Returns (N, 4, 4) poses and (N,) bool ``inside`` (times within the samples' span; the
    poses of the others are NaN)."""
    t = np.asarray(times, dtype=np.float64)
    st = np.asarray(sample_times, dtype=np.float64)
    out = np.full((len(t), 4, 4), np.nan)
    inside = (t >= st[0]) & (t <= st[-1]) if len(st) else np.zeros(len(t), bool)
    if not inside.any():
        return out, inside
    ti = t[inside]
    hi = np.clip(np.searchsorted(st, ti, side="right"), 1, len(st) - 1) if len(st) > 1 else np.zeros(len(ti), int)
    lo = np.maximum(hi - 1, 0)
    span = st[hi] - st[lo]
    w = np.where(span > 0, (ti - st[lo]) / np.where(span > 0, span, 1.0), 0.0)
    trans = translations[lo] + w[:, None] * (translations[hi] - translations[lo])
    q0 = quaternions[lo] / np.linalg.norm(quaternions[lo], axis=1, keepdims=True)
    q1 = quaternions[hi] / np.linalg.norm(quaternions[hi], axis=1, keepdims=True)
    dot = (q0 * q1).sum(axis=1)
    q1 = np.where(dot[:, None] < 0, -q1, q1)  # the shorter arc
    dot = np.abs(dot).clip(max=1.0)
    angle = np.arccos(dot)
    small = angle < 1e-9
    sin = np.where(small, 1.0, np.sin(angle))
    a = np.where(small, 1.0 - w, np.sin((1.0 - w) * angle) / sin)
    b = np.where(small, w, np.sin(w * angle) / sin)
    q = a[:, None] * q0 + b[:, None] * q1
    pose = np.zeros((len(ti), 4, 4))
    pose[:, :3, :3] = quaternions_to_rotations(q)
    pose[:, :3, 3] = trans
    pose[:, 3, 3] = 1.0
    out[inside] = pose
    return out, inside
