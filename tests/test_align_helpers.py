"""Shared builders for the align tests: a consistent textured-plane life and tiny checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from slife.life import LifeWriter

H, W, F = 96, 128, 80.0  # stored frame size and focal length (pixels)
PLANE_Z = 5.0  # the textured plane z = 5 m (world), cameras at z = 0 looking along +z
STEP = 0.15  # camera moves 0.15 m along x per frame: 2.4 px per frame on the plane
TEXEL = 0.02  # metres per texture pixel


def intrinsics() -> np.ndarray:
    return np.array([[F, 0, W / 2], [0, F, H / 2], [0, 0, 1.0]])


def _texture(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.random((1200, 1200, 3))
    tex = sum(gaussian_filter(noise, (s, s, 0)) * w for s, w in ((2, 1.0), (8, 2.0)))
    tex = (tex - tex.min()) / (tex.max() - tex.min())
    return (tex * 255).astype(np.uint8)


def render(tex: np.ndarray, cam_x: float) -> np.ndarray:
    """The plane seen from camera centre (cam_x, 0, 0): H x W x 3 uint8."""
    ys, xs = np.mgrid[0:H, 0:W] + 0.5
    wx = cam_x + (xs - W / 2) / F * PLANE_Z
    wy = (ys - H / 2) / F * PLANE_Z
    col = np.clip(((wx + 12) / TEXEL).astype(int), 0, tex.shape[1] - 1)
    row = np.clip(((wy + 12) / TEXEL).astype(int), 0, tex.shape[0] - 1)
    return tex[row, col]


def make_plane_life(root: Path, name: str, frames: int = 24, fps: float = 4.0, seed: int = 0,
                    videos: int = 1, depth: bool = True) -> Path:
    """A life whose frames, depth and poses are consistent: a camera sliding along a textured plane."""
    life_dir = root / name
    writer = LifeWriter(life_dir, name=name, fps=fps, short_side=H, kind="world", has_depth=depth,
                        has_poses=depth)
    tex = _texture(seed)
    for v in range(videos):
        shard = writer.open_shard(f"video{v}", v)
        for i in range(frames):
            x = (v * frames + i) * STEP
            pose = np.eye(4)
            pose[0, 3] = x
            kw = dict(depth=np.full((H, W), PLANE_Z, np.float32), pose=pose, intrinsics=intrinsics()) if depth else {}
            shard.add(render(tex, x), i / fps, **kw)
        writer.add_video(shard, source=f"video{v}", order=v, duration=frames / fps)
    return life_dir


def tiny_config(img_size: int = 96):
    from slife.model.config import model_config

    return model_config("tiny", img_size=img_size)


def save_tiny_checkpoint(path: Path, seed: int, hours: float = 0.0, img_size: int = 96) -> Path:
    """An untrained tiny CroCo (seeded) saved as a checkpoint with ``hours_seen``."""
    from slife.config import to_dict
    from slife.model.checkpoint import save_checkpoint
    from slife.model.croco import CroCo

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CroCo(tiny_config(img_size))
    save_checkpoint(path, {"model_config": to_dict(model.cfg), "model": model.state_dict(), "step": int(hours * 100),
                           "pairs_seen": 0, "hours_seen": float(hours), "life": f"life{seed}"})
    return path
