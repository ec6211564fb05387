"""Evaluation loaders on tiny files written in the real formats (NYU .mat, ScanNet export, HPatches, lives)."""

from __future__ import annotations

from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import scipy.io
import skimage.data
from PIL import Image

from slife.errors import SlifeError
from slife.evaluate.datasets import (
    HPatchesPairs,
    LifeDepth,
    LifePairs,
    NYUDepthV2,
    ScanNetFrames,
    detect_format,
    life_pair_indices,
    life_split,
    scannet_split,
)
from slife.life import Life, LifeWriter


# ------------------------------------------------------------------------------ writers (shared)
def nyu_arrays(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n images (480, 640, 3) uint8 and depths (480, 640) float32 with row/column-dependent content."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:480, 0:640]
    images, depths = [], []
    for i in range(n):
        img = np.stack([rows % 256, cols % 256, np.full_like(rows, 10 * i)], axis=-1).astype(np.uint8)
        images.append(img)
        depths.append((0.5 + 0.004 * rows + 0.002 * cols + 0.1 * i + rng.uniform(0, 0.01, rows.shape)).astype(np.float32))
    return np.stack(images), np.stack(depths)


def write_nyu(folder: Path, images: np.ndarray, depths: np.ndarray, train: list[int], test: list[int]) -> Path:
    """nyu_depth_v2_labeled.mat as MATLAB v7.3 stores it (HDF5, transposed) + splits.mat (v5, 1-based)."""
    path = folder / "nyu_depth_v2_labeled.mat"
    with h5py.File(path, "w") as f:
        f["images"] = images.transpose(0, 3, 2, 1)  # (N, H, W, 3) -> (N, 3, W, H)
        f["depths"] = depths.transpose(0, 2, 1)  # (N, H, W) -> (N, W, H)
    scipy.io.savemat(folder / "splits.mat", {
        "trainNdxs": np.asarray(train, dtype=np.float64).reshape(-1, 1) + 1,
        "testNdxs": np.asarray(test, dtype=np.float64).reshape(-1, 1) + 1,
    })
    return path


def write_scannet_scene(root: Path, name: str, frames: int, seed: int = 0) -> list[np.ndarray]:
    """<scene>/color/<i>.jpg (1296 x 968) and <scene>/depth/<i>.png (uint16 mm, 640 x 480)."""
    rng = np.random.default_rng(seed)
    (root / name / "color").mkdir(parents=True)
    (root / name / "depth").mkdir(parents=True)
    depths = []
    photo = np.asarray(Image.fromarray(skimage.data.coffee()).resize((1296, 968)))
    for i in range(frames):
        Image.fromarray(photo).save(root / name / "color" / f"{i}.jpg", quality=90)
        mm = rng.integers(500, 5000, size=(480, 640)).astype(np.uint16)
        mm[:10] = 0
        Image.fromarray(mm).save(root / name / "depth" / f"{i}.png")
        depths.append(mm.astype(np.float32) / 1000.0)
    return depths


def small_photo(name: str = "astronaut", size: tuple[int, int] = (240, 320)) -> np.ndarray:
    return np.asarray(Image.fromarray(getattr(skimage.data, name)()).resize((size[1], size[0]), Image.BILINEAR))


def random_homography(h: int, w: int, rng: np.random.Generator, amount: float = 0.08) -> np.ndarray:
    """A mild perspective warp (0-based pixel-index convention, like HPatches)."""
    src = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float32)
    dst = src + rng.uniform(-amount, amount, size=(4, 2)).astype(np.float32) * np.array([w, h], dtype=np.float32)
    return cv2.getPerspectiveTransform(src, dst).astype(np.float64)


def write_hpatches(root: Path, names: dict[str, str], ks: tuple[int, ...] = (2, 3), seed: int = 0,
                   size: tuple[int, int] = (240, 320)) -> dict[tuple[str, int], np.ndarray]:
    """HPatches-style sequences: <seq>/1.ppm, <seq>/k.ppm = image 1 warped by H_1_k (text file)."""
    rng = np.random.default_rng(seed)
    homographies = {}
    for seq, photo in names.items():
        img = small_photo(photo, size)
        (root / seq).mkdir(parents=True)
        Image.fromarray(img).save(root / seq / "1.ppm")
        for k in ks:
            H = random_homography(*img.shape[:2], rng)
            warped = cv2.warpPerspective(img, H, (img.shape[1], img.shape[0]), flags=cv2.INTER_LINEAR)
            if seq.startswith("i_"):
                warped = np.clip(warped.astype(np.float32) * 0.7 + 20, 0, 255).astype(np.uint8)
            Image.fromarray(warped).save(root / seq / f"{k}.ppm")
            np.savetxt(root / seq / f"H_1_{k}", H)
            homographies[(seq, k)] = H
    return homographies


def write_plane_life(folder: Path, shift_px: float = 6.0, frames: int = 6, videos: int = 1) -> Path:
    """A life looking at a fronto-parallel textured plane 4 m away, camera moving right: consecutive
    frames are shifted by ``shift_px`` pixels (f * baseline / z)."""
    f, z, h, w = 100.0, 4.0, 96, 128
    K = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1.0]])
    texture = small_photo("chelsea", (h, w + int(shift_px * frames) + 8))
    writer = LifeWriter(folder, fps=2.0, short_side=h, kind="world", has_depth=True, has_poses=True)
    n = 0
    for v in range(videos):
        shard = writer.open_shard(f"video{v}", v)
        for i in range(frames):
            x0 = int(round(i * shift_px))
            pose = np.eye(4)
            pose[0, 3] = x0 * z / f
            shard.add(texture[:, x0 : x0 + w], i / 2.0, depth=np.full((h, w), z, np.float32), pose=pose, intrinsics=K)
            n += 1
        writer.add_video(shard, source=f"video{v}", order=v, duration=frames / 2.0)
    return folder


# ------------------------------------------------------------------------------------- tests
def test_nyu_loader_transposes_matlab_layout_and_uses_official_split(tmp_path: Path) -> None:
    images, depths = nyu_arrays(4)
    path = write_nyu(tmp_path, images, depths, train=[0, 2], test=[1, 3])
    train, test = NYUDepthV2(path, "train"), NYUDepthV2(path, "test")
    assert (len(train), len(test)) == (2, 2)
    sample = test[1]  # 1-based index 4 -> image 3
    assert sample.image.shape == (480, 640, 3) and sample.depth.shape == (480, 640)
    np.testing.assert_array_equal(sample.image, images[3])
    np.testing.assert_array_equal(sample.depth, depths[3])
    assert sample.name == "nyu_0004"
    assert detect_format(path, "depth") == "nyu"


def test_nyu_missing_split_file_is_a_clear_error(tmp_path: Path) -> None:
    images, depths = nyu_arrays(2)
    path = write_nyu(tmp_path, images, depths, [0], [1])
    bad = tmp_path / "bad.mat"
    bad.write_bytes(b"MATLAB 5.0 MAT-file, not hdf5")
    with pytest.raises(SlifeError, match=r"bad\.mat: not a MATLAB v7.3"):
        NYUDepthV2(bad, "test", splits_path=tmp_path / "splits.mat")
    (tmp_path / "splits.mat").unlink()
    with pytest.raises(SlifeError, match=r"splits\.mat: NYU split file not found.*--split-file"):
        NYUDepthV2(path, "test")


def test_scannet_frames_resize_colour_to_depth_and_read_millimetres(tmp_path: Path) -> None:
    d0 = write_scannet_scene(tmp_path, "scene0000_00", 3)
    write_scannet_scene(tmp_path, "scene0001_00", 2, seed=1)
    assert detect_format(tmp_path, "depth") == "scannet"
    train_scenes, test_scenes = scannet_split(tmp_path, None, 0.5)
    assert [s.name for s in train_scenes] == ["scene0000_00"] and [s.name for s in test_scenes] == ["scene0001_00"]
    frames = ScanNetFrames(train_scenes, stride=2)
    assert len(frames) == 2  # frames 0 and 2
    sample = frames[1]
    assert sample.image.shape == (480, 640, 3) and sample.image.dtype == np.uint8
    np.testing.assert_allclose(sample.depth, d0[2], atol=1e-6)
    assert (sample.depth[:10] == 0).all() and sample.depth.max() <= 5.0
    split = tmp_path / "val.txt"
    split.write_text("scene0000_00\n")
    tr, te = scannet_split(tmp_path, split, 0.5)
    assert [s.name for s in te] == ["scene0000_00"] and [s.name for s in tr] == ["scene0001_00"]


def test_detect_format_error_names_the_path(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(SlifeError, match=rf"^{tmp_path}: cannot tell the data format"):
        detect_format(tmp_path, "depth")
    with pytest.raises(SlifeError, match=r"HPatches"):
        detect_format(tmp_path, "match")


def test_hpatches_pairs_ground_truth_follows_the_homography(tmp_path: Path) -> None:
    hs = write_hpatches(tmp_path, {"v_astro": "astronaut", "i_coffee": "coffee"})
    assert detect_format(tmp_path, "match") == "hpatches"
    pairs = HPatchesPairs(tmp_path, stride=4)
    assert len(pairs) == 4 and len(HPatchesPairs(tmp_path, subset="v")) == 2
    pair = pairs[0]  # i_coffee (1, 2)
    assert pair.group == "i" and pair.name == "i_coffee/1-2"
    H = hs[("i_coffee", 2)]
    # pixel index (col 100, row 52) has continuous centre (100.5, 52.5)
    i = np.flatnonzero((pair.xy_target[:, 0] == 100.5) & (pair.xy_target[:, 1] == 52.5))[0]
    p = H @ np.array([100.0, 52.0, 1.0])
    np.testing.assert_allclose(pair.xy_source[i], p[:2] / p[2] + 0.5, atol=1e-9)
    assert 0.5 < pair.valid.mean() <= 1.0


def test_life_depth_split_and_pairs_with_known_shift(tmp_path: Path) -> None:
    life = Life.open(write_plane_life(tmp_path / "life", shift_px=6.0, frames=6, videos=2))
    train, test = life_split(life, 0.5)
    assert set(life.video_index[train]) == {0} and set(life.video_index[test]) == {1}
    sample = LifeDepth(life, test)[0]
    assert sample.image.shape[:2] == sample.depth.shape and np.allclose(sample.depth, 4.0)
    idx = life_pair_indices(life, count=3, gap_seconds=0.5, min_overlap=0.5)
    assert len(idx) == 3 and all(s == t + 1 and life.video_index[s] == life.video_index[t] for t, s in idx)
    pair = LifePairs(life, idx, stride=2)[0]
    flow = (pair.xy_source - pair.xy_target)[pair.valid]
    np.testing.assert_allclose(flow, np.tile([-6.0, 0.0], (len(flow), 1)), atol=1e-6)
    assert pair.valid.mean() > 0.8
