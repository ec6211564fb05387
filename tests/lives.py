"""A tiny synthetic life with exact depth and poses, for tests and examples (no OpenGL needed).

A camera walks a circle inside a textured box room (6 x 3 x 6 m) while turning; images, metric
z-depth and camera-to-world poses are computed analytically by ray casting against the box.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

HALF = np.array([3.0, 1.5, 3.0])  # room half-extents (x, y down, z)


def intrinsics(width: int, height: int, fov_deg: float = 70.0) -> np.ndarray:
    f = 0.5 * width / np.tan(np.deg2rad(fov_deg) / 2)
    return np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1.0]])


def pose_at(t: float, period: float = 20.0, radius: float = 1.0) -> np.ndarray:
    """Camera-to-world pose (OpenCV axes, world y down) at time ``t`` seconds."""
    a = 2 * np.pi * t / period
    yaw = 1.5 * a
    forward = np.array([np.sin(yaw), 0.0, np.cos(yaw)])
    right = np.array([np.cos(yaw), 0.0, -np.sin(yaw)])
    down = np.array([0.0, 1.0, 0.0])
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2] = right, down, forward
    pose[:3, 3] = [radius * np.cos(a), 0.2 * np.sin(3 * a), radius * np.sin(a)]
    return pose


def render(pose: np.ndarray, K: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """(image uint8 H x W x 3, z-depth float32 metres) of the box room seen from ``pose``."""
    xs, ys = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    pix = np.stack([xs, ys, np.ones_like(xs)], axis=-1).reshape(-1, 3)
    rays = pix @ np.linalg.inv(K).T @ pose[:3, :3].T  # camera z component 1 -> t is z-depth
    o = pose[:3, 3]
    with np.errstate(divide="ignore"):
        t_axis = (np.where(rays > 0, HALF, -HALF) - o) / rays
    t_axis = np.where(np.isfinite(t_axis) & (t_axis > 0), t_axis, np.inf)
    face = t_axis.argmin(axis=1)
    t = t_axis.min(axis=1)
    p = o + rays * t[:, None]
    # texture: per-face hue, a checkerboard and smooth stripes in the face's two tangent coordinates
    u = np.where(face == 0, p[:, 2], p[:, 0])
    v = np.where(face == 1, p[:, 2], p[:, 1])
    sign = np.sign(p[np.arange(len(p)), face])
    face_id = face * 2 + (sign > 0)
    hues = np.array([[200, 60, 60], [60, 180, 60], [60, 60, 200], [200, 200, 60], [60, 200, 200], [200, 60, 200]])
    base = hues[face_id].astype(np.float64)
    checker = ((np.floor(u * 2) + np.floor(v * 2)) % 2) * 0.5 + 0.5
    stripes = 0.5 + 0.5 * np.sin(7.0 * u + 3.0 * np.cos(5.0 * v))
    img = base * (0.35 + 0.45 * checker[:, None] + 0.2 * stripes[:, None])
    image = np.clip(img, 0, 255).astype(np.uint8).reshape(height, width, 3)
    return image, t.reshape(height, width).astype(np.float32)


def make_test_life(
    life_dir: str | Path,
    durations: Sequence[float] = (20.0, 15.0),
    fps: float = 4.0,
    width: int = 64,
    height: int = 48,
    with_geometry: bool = True,
    name: str | None = None,
):
    """Write a synthetic life (one video per duration) and return it opened."""
    from slife.life import Life, LifeWriter

    K = intrinsics(width, height)
    writer = LifeWriter(
        life_dir,
        name=name,
        fps=fps,
        short_side=min(width, height),
        kind="world",
        has_depth=with_geometry,
        has_poses=with_geometry,
    )
    start = 0.0
    for order, duration in enumerate(durations):
        shard = writer.open_shard(f"synthetic{order}", order)
        for k in range(int(round(duration * fps))):
            local = k / fps
            pose = pose_at(start + local)
            image, depth = render(pose, K, width, height)
            if with_geometry:
                shard.add(image, local, depth=depth, pose=pose, intrinsics=K)
            else:
                shard.add(image, local)
        writer.add_video(shard, source=f"synthetic{order}", order=order, duration=float(duration))
        start += duration
    writer.close()
    return Life.open(life_dir)
