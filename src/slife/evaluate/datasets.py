"""Evaluation data in its real on-disk formats.

Depth (``DepthSample``: RGB uint8 + metric depth float32, 0 = invalid):

* NYU-Depth-v2 labeled ``nyu_depth_v2_labeled.mat`` (MATLAB v7.3 = HDF5) with the official
  795 / 654 split from ``splits.mat`` (``trainNdxs`` / ``testNdxs``, 1-based, MATLAB v5).
* ScanNet exported frames: ``<scene>/color/<i>.jpg`` (1296 x 968) and ``<scene>/depth/<i>.png``
  (uint16 millimetres, 640 x 480); colour is resized to the depth size.
* Our lives with depth (``slife world``), split by video or by time.

Correspondence (``MatchPair``: target and source images, target points and their ground-truth
positions in the source):

* HPatches sequence folders ``i_*`` / ``v_*`` with ``1.ppm`` .. ``6.ppm`` and ``H_1_k``.
* Pairs of frames of a life with depth + poses (ground truth via :func:`slife.geometry.correspondences`).

Every loader is a lazy sequence: ``len(ds)`` and ``ds[i]`` read one sample.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
from PIL import Image

from slife.errors import SlifeError
from slife.imagefile import open_image

DEPTH_FORMATS = ("nyu", "scannet", "life")
MATCH_FORMATS = ("hpatches", "life")
IMAGE_EXTS = (".ppm", ".png", ".jpg", ".jpeg")


class EvalDataError(SlifeError):
    """An evaluation data set is missing or malformed; the message names the path."""


@dataclass
class DepthSample:
    image: np.ndarray  # H x W x 3 uint8 RGB
    depth: np.ndarray  # H x W float32 metres, 0 = invalid
    name: str


@dataclass
class MatchPair:
    """Target image, source image and ground truth: target points ``xy_target`` (M, 2) appear in the
    source at ``xy_source`` (M, 2) where ``valid``; continuous pixel coordinates of the originals."""

    target: np.ndarray
    source: np.ndarray
    xy_target: np.ndarray
    xy_source: np.ndarray
    valid: np.ndarray
    name: str
    group: str = ""  # e.g. "i" / "v" for HPatches
    homography: np.ndarray | None = None  # target -> source, continuous pixel coordinates
    meta: dict[str, Any] = field(default_factory=dict)


def _read_image(path: Path) -> np.ndarray:
    try:
        with open_image(path) as img:
            return np.asarray(img.convert("RGB"))
    except (OSError, ValueError) as exc:
        raise EvalDataError(f"{path}: cannot read image: {exc}") from exc


def _even_subset(n: int, limit: int) -> np.ndarray:
    """``limit`` evenly spaced indices of ``range(n)`` (all when limit <= 0 or >= n)."""
    if limit <= 0 or limit >= n:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(np.int64))


# ---------------------------------------------------------------------------------------- NYU
@contextlib.contextmanager
def _hdf5_errors(path: Path, what: str = "") -> Iterator[None]:
    """h5py reports a damaged file as OSError, RuntimeError, KeyError or ValueError from any access:
    one EvalDataError naming the file."""
    try:
        yield
    except EvalDataError:
        raise
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as exc:
        raise EvalDataError(f"{path}: damaged HDF5 file{' (' + what + ')' if what else ''}: {exc}") from exc


class NYUDepthV2:
    """NYU-Depth-v2 labeled set: ``images`` (N, 3, W, H) uint8 and ``depths`` (N, W, H) float32 in
    the HDF5 file (MATLAB's column-major H x W x 3 x N seen from HDF5); returned as H x W."""

    def __init__(self, path: str | Path, split: str = "test", splits_path: str | Path | None = None):
        self.path = Path(path)
        if split not in ("train", "test"):
            raise EvalDataError(f"{self.path}: NYU split must be 'train' or 'test', got {split!r}")
        self.split = split
        if not self.path.is_file():
            raise EvalDataError(f"{self.path}: NYU-Depth-v2 labeled .mat file not found")
        self.splits_path = Path(splits_path) if splits_path else self.path.with_name("splits.mat")
        self.indices = read_nyu_split(self.splits_path, split)  # 0-based
        self._file = None
        with _hdf5_errors(self.path), self._open() as f:
            for key in ("images", "depths"):
                if key not in f:
                    raise EvalDataError(f"{self.path}: no {key!r} dataset (is this nyu_depth_v2_labeled.mat?)")
            images, depths = f["images"], f["depths"]
            if images.ndim != 4 or images.shape[1] != 3 or depths.shape != (images.shape[0],) + images.shape[2:]:
                raise EvalDataError(
                    f"{self.path}: expected images (N, 3, W, H) and depths (N, W, H), "
                    f"got {images.shape} and {depths.shape}"
                )
            total = images.shape[0]
        if len(self.indices) and (self.indices.min() < 0 or self.indices.max() >= total):
            raise EvalDataError(f"{self.splits_path}: split indices out of range for {total} images in {self.path}")

    def _open(self):
        import h5py

        try:
            return h5py.File(self.path, "r")
        except OSError as exc:
            raise EvalDataError(f"{self.path}: not a MATLAB v7.3 (HDF5) file: {exc}") from exc

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> DepthSample:
        k = int(self.indices[i])
        with _hdf5_errors(self.path, f"image {k + 1}"):
            if self._file is None:
                self._file = self._open()
            image = np.ascontiguousarray(self._file["images"][k].transpose(2, 1, 0))  # (3, W, H) -> (H, W, 3)
            depth = np.ascontiguousarray(self._file["depths"][k].T).astype(np.float32)  # (W, H) -> (H, W)
        return DepthSample(image.astype(np.uint8), depth, f"nyu_{k + 1:04d}")
    def __getstate__(self) -> dict[str, Any]:
        return self.__dict__ | {"_file": None}


def read_nyu_split(path: str | Path, split: str) -> np.ndarray:
    """0-based indices of the official NYU split from ``splits.mat`` (1-based ``trainNdxs``/``testNdxs``)."""
    import scipy.io

    path = Path(path)
    if not path.is_file():
        raise EvalDataError(
            f"{path}: NYU split file not found; pass the official splits.mat with --split-file "
            "(it holds trainNdxs / testNdxs, 795 / 654 images)"
        )
    try:
        mat = scipy.io.loadmat(path)
    except Exception as exc:  # scipy raises many types for a file that is not a MATLAB v5 file
        raise EvalDataError(f"{path}: cannot read split file (not a MATLAB .mat file?): {exc}") from exc
    key = "trainNdxs" if split == "train" else "testNdxs"
    if key not in mat:
        raise EvalDataError(f"{path}: split file has no {key!r}")
    try:
        values = np.asarray(mat[key], dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise EvalDataError(f"{path}: {key} is not a list of image numbers: {exc}") from exc
    if not len(values) or not np.isfinite(values).all() or (values != np.round(values)).any() or values.min() < 1:
        raise EvalDataError(f"{path}: {key} must hold 1-based image numbers (integers >= 1)")
    return values.astype(np.int64) - 1


# ------------------------------------------------------------------------------------ ScanNet
def _numbered(folder: Path, ext: str) -> dict[int, Path]:
    out = {}
    for p in folder.glob(f"*{ext}"):
        if p.stem.isdigit():
            out[int(p.stem)] = p
    return out


def scannet_scenes(root: str | Path) -> list[Path]:
    """Scene folders (with ``color/`` and ``depth/``) at or directly under ``root``."""
    root = Path(root)
    if (root / "color").is_dir() and (root / "depth").is_dir():
        return [root]
    return sorted(p for p in root.iterdir() if (p / "color").is_dir() and (p / "depth").is_dir()) if root.is_dir() else []


class ScanNetFrames:
    """Exported ScanNet frames of some scenes; every ``stride``-th frame with both colour and depth."""

    def __init__(self, scenes: Sequence[Path], stride: int = 1, limit: int = 0):
        self.frames: list[tuple[Path, Path, str]] = []
        for scene in scenes:
            colors = _numbered(scene / "color", ".jpg")
            depths = _numbered(scene / "depth", ".png")
            for i in sorted(set(colors) & set(depths))[:: max(1, stride)]:
                self.frames.append((colors[i], depths[i], f"{scene.name}/{i}"))
        self.frames = [self.frames[i] for i in _even_subset(len(self.frames), limit)]

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int) -> DepthSample:
        color_path, depth_path, name = self.frames[i]
        depth = read_depth_png(depth_path)
        image = _read_image(color_path)
        h, w = depth.shape
        if image.shape[:2] != (h, w):
            image = np.asarray(Image.fromarray(image).resize((w, h), Image.BILINEAR))
        return DepthSample(image, depth, name)


def read_depth_png(path: Path) -> np.ndarray:
    """uint16 millimetre PNG -> float32 metres (0 = invalid)."""
    try:
        with open_image(path) as img:
            arr = np.asarray(img)
    except (OSError, ValueError) as exc:
        raise EvalDataError(f"{path}: cannot read depth png: {exc}") from exc
    if arr.ndim != 2 or arr.dtype not in (np.uint16, np.int32, np.uint8):
        raise EvalDataError(f"{path}: expected a single-channel 16-bit depth png, got {arr.dtype} {arr.shape}")
    return arr.astype(np.float32) / 1000.0


def scannet_split(root: str | Path, split_file: str | Path | None, test_fraction: float) -> tuple[list[Path], list[Path]]:
    """(train scenes, test scenes). A split file lists the test scene names one per line (e.g.
    ``scannetv2_val.txt``); otherwise the last ``test_fraction`` of the sorted scenes are test."""
    scenes = scannet_scenes(root)
    if not scenes:
        raise EvalDataError(f"{root}: no ScanNet scene folders (expected <scene>/color/*.jpg and <scene>/depth/*.png)")
    if split_file is not None:
        path = Path(split_file)
        if not path.is_file():
            raise EvalDataError(f"{path}: ScanNet split file not found")
        names = {line.strip() for line in path.read_text().splitlines() if line.strip()}
        test = [s for s in scenes if s.name in names]
        if not test:
            raise EvalDataError(f"{path}: none of its scene names is a scene folder under {root}")
        return [s for s in scenes if s.name not in names], test
    n_test = max(1, int(round(len(scenes) * test_fraction)))
    return scenes[: len(scenes) - n_test], scenes[len(scenes) - n_test :]


# --------------------------------------------------------------------------------------- lives
class LifeDepth:
    """Frames of a life with depth at given global frame indices."""

    def __init__(self, life, indices: Sequence[int]):
        if not life.has_depth:
            raise EvalDataError(f"{life.dir}: life {life.name!r} has no depth (made by `slife ingest`?)")
        self.life = life
        self.indices = np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> DepthSample:
        k = int(self.indices[i])
        return DepthSample(self.life.image(k), self.life.depth(k), f"{self.life.name}/{k}")


def life_split(life, test_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) global frame indices: by video when the life has >= 2 videos (the last videos,
    about ``test_fraction`` of them, are test), else by time (the last ``test_fraction`` of frames)."""
    n_videos = len(life.manifest.videos)
    if n_videos >= 2:
        n_test = min(n_videos - 1, max(1, int(round(n_videos * test_fraction))))
        test = life.video_index >= n_videos - n_test
    else:
        cut = int(round(len(life) * (1.0 - test_fraction)))
        test = np.arange(len(life)) >= cut
    return np.flatnonzero(~test), np.flatnonzero(test)


# ------------------------------------------------------------------------------------ detection
def detect_format(path: str | Path, kind: str) -> str:
    """The data format of ``path`` for ``kind`` ("depth" or "match"); a clear error if unknown."""
    path = Path(path)
    if not path.exists():
        raise EvalDataError(f"{path}: no such file or directory")
    if path.is_dir() and (path / "life.json").is_file():
        return "life"
    if kind == "depth":
        if path.is_file() and path.suffix == ".mat":
            return "nyu"
        if path.is_dir() and scannet_scenes(path):
            return "scannet"
        expected = "an NYU-Depth-v2 labeled .mat file, a ScanNet export folder (<scene>/color, <scene>/depth) or a life"
    else:
        if path.is_dir() and hpatches_sequences(path):
            return "hpatches"
        expected = "an HPatches folder (i_*/v_* sequences with 1.ppm..6.ppm and H_1_k) or a life with depth and poses"
    raise EvalDataError(f"{path}: cannot tell the data format; expected {expected} (or pass --format)")


# ----------------------------------------------------------------------------------- HPatches
def hpatches_sequences(root: str | Path) -> list[Path]:
    """Sequence folders ``i_*`` / ``v_*`` at or directly under ``root``."""
    root = Path(root)
    if _is_sequence(root):
        return [root]
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if _is_sequence(p))


def _is_sequence(p: Path) -> bool:
    """An HPatches sequence folder: ``i_*`` / ``v_*`` holding image 1 or a homography (one whose
    ``H_1_k`` files are missing still counts, so that the missing pairs are reported)."""
    return (re.match(r"^[iv]_", p.name) is not None and p.is_dir()
            and (any((p / f"1{ext}").is_file() for ext in IMAGE_EXTS) or any(p.glob("H_1_*"))))  # fmt: skip


def _find_image(seq: Path, k: int) -> Path:
    for ext in IMAGE_EXTS:
        p = seq / f"{k}{ext}"
        if p.is_file():
            return p
    raise EvalDataError(f"{seq}: image {k}.ppm not found")


def read_homography(path: Path) -> np.ndarray:
    try:
        H = np.loadtxt(path, dtype=np.float64)
    except (OSError, ValueError) as exc:
        raise EvalDataError(f"{path}: cannot read homography: {exc}") from exc
    if H.shape != (3, 3) or not np.isfinite(H).all():
        raise EvalDataError(f"{path}: expected a 3 x 3 homography of finite numbers, got shape {H.shape}")
    if np.linalg.cond(H) > 1e12:  # singular: maps the image onto a line or a point
        raise EvalDataError(f"{path}: the homography is singular (not invertible)")
    return H


def homography_to_continuous(H: np.ndarray) -> np.ndarray:
    """A homography on 0-based pixel indices (HPatches, OpenCV) as one on continuous coordinates
    (pixel centre at +0.5): H_c = T H T^-1 with T = translation by +0.5."""
    T = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1.0]])
    return T @ H @ np.linalg.inv(T)


def apply_homography(H: np.ndarray, xy: np.ndarray) -> np.ndarray:
    homog = np.concatenate([xy, np.ones((len(xy), 1))], axis=1) @ H.T
    with np.errstate(divide="ignore", invalid="ignore"):
        return homog[:, :2] / homog[:, 2:3]


class HPatchesPairs:
    """Pairs (1, k), k = 2..6, of every sequence: target = image 1, source = image k, ground truth from
    ``H_1_k`` (maps image-1 pixels to image-k pixels). ``stride`` subsamples the target pixels."""

    def __init__(self, root: str | Path, subset: str = "all", stride: int = 1, limit: int = 0):
        self.root = Path(root)
        seqs = hpatches_sequences(self.root)
        if not seqs:
            raise EvalDataError(f"{self.root}: no HPatches sequences (folders i_* / v_*)")
        if subset not in ("all", "i", "v"):
            raise EvalDataError(f"{self.root}: HPatches subset must be all, i or v; got {subset!r}")
        seqs = [s for s in seqs if subset == "all" or s.name.startswith(subset + "_")]
        candidates = [(s, k, (s / f"H_1_{k}").is_file()) for s in seqs for k in range(2, 7)]
        self.pairs = [(s, k) for s, k, found in candidates if found]
        self.missing = [str(s / f"H_1_{k}") for s, k, found in candidates if not found]
        if self.missing:
            import warnings

            warnings.warn(f"{self.root}: {len(self.missing)} pair(s) skipped, no homography file: "
                          f"{', '.join(self.missing[:3])}{' ...' if len(self.missing) > 3 else ''}", stacklevel=2)  # fmt: skip
        self.pairs = [self.pairs[i] for i in _even_subset(len(self.pairs), limit)]
        self.stride = max(1, int(stride))

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> MatchPair:
        from slife.geometry import inside, pixel_centers

        seq, k = self.pairs[i]
        target = _read_image(_find_image(seq, 1))
        source = _read_image(_find_image(seq, k))
        H = homography_to_continuous(read_homography(seq / f"H_1_{k}"))
        xy_t = pixel_centers(*target.shape[:2], stride=self.stride)
        xy_s = apply_homography(H, xy_t)
        valid = np.isfinite(xy_s).all(axis=1) & inside(np.nan_to_num(xy_s, nan=-1.0), *source.shape[:2])
        return MatchPair(target, source, xy_t, xy_s, valid, f"{seq.name}/1-{k}", seq.name[0], homography=H)


# --------------------------------------------------------------------------------- life pairs
def life_pair_indices(
    life, count: int, gap_seconds: float, min_overlap: float, probe_stride: int = 16
) -> list[tuple[int, int]]:
    """Up to ``count`` (target, source) frame pairs ``gap_seconds`` apart in the same video whose
    ground-truth overlap (fraction of target pixels visible in the source) is >= ``min_overlap``.
    Candidates are evenly spaced over the life; deterministic."""
    from slife.geometry import correspondences, pixel_centers

    if not (life.has_depth and life.has_poses):
        raise EvalDataError(f"{life.dir}: life {life.name!r} needs depth and poses for correspondence ground truth")
    ts = life.timestamps
    pairs: list[tuple[int, int]] = []
    for t in _even_subset(len(life), max(count * 4, count)):
        j = int(np.searchsorted(ts, ts[t] + gap_seconds))
        if j >= len(life) or life.video_index[j] != life.video_index[t] or j == t:
            continue
        depth_t, depth_s = life.depth(t), life.depth(j)
        xy = pixel_centers(*depth_t.shape, stride=probe_stride)
        _, valid = correspondences(
            xy, depth_t, life.intrinsics[t], life.poses[t], depth_s, life.intrinsics[j], life.poses[j]
        )
        if valid.mean() >= min_overlap:
            pairs.append((int(t), j))
        if len(pairs) >= count:
            break
    return pairs


class LifePairs:
    """Frame pairs of a life with ground truth from depth + poses (occlusion-checked)."""

    def __init__(self, life, pairs: Sequence[tuple[int, int]], stride: int = 1):
        self.life = life
        self.pairs = list(pairs)
        self.stride = max(1, int(stride))

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> MatchPair:
        from slife.geometry import correspondences, pixel_centers

        t, s = self.pairs[i]
        life = self.life
        target, source = life.image(t), life.image(s)
        depth_t, depth_s = life.depth(t), life.depth(s)
        if depth_t.shape != target.shape[:2]:
            raise EvalDataError(f"{life.dir}: frame {t} depth {depth_t.shape} differs from image {target.shape[:2]}")
        xy_t = pixel_centers(*target.shape[:2], stride=self.stride)
        xy_s, valid = correspondences(
            xy_t, depth_t, life.intrinsics[t], life.poses[t], depth_s, life.intrinsics[s], life.poses[s]
        )
        return MatchPair(target, source, xy_t, xy_s, valid, f"{life.name}/{t}-{s}", "life")

