"""Spatial pairs: frames whose sets of visible 3D points overlap (Jaccard in [lo, hi]).

Visible sets come from the life's own depth + poses (a subsampled pixel grid of each frame is
back-projected to world points and quantised to voxels; the set of occupied voxels is the frame's
visible set), from the semi-dense points of an ingested Aria life (the voxels of the points each frame
sees, slife.pairs.points) or from a COLMAP text model (the ids of the 3D points each image observes).
Candidates are restricted cheaply before any set is compared: frames of one coordinate frame
(:func:`frame_groups`: never across the clips or cameras of the controls), camera centres within
``max_distance`` and optical axes within ``max_angle``; overlaps are then counted with one sparse
matrix product per block of frames. The result is cached as ``LIFE/pairs/spatial-<hash>.npz``.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from slife.atomic import atomic_open
from slife.errors import SlifeError
from slife.geometry import backproject, pixel_centers, sample_nearest

INDEX_VERSION = 2  # 2: pairs never cross frame groups (segments of the controls)
_BLOCK = 256


@dataclass
class SpatialConfig:
    lo: float = 0.3  # keep pairs with lo <= Jaccard <= hi [ours: thresholds not published]
    hi: float = 0.9
    voxel: float = 0.0  # voxel size in metres; 0 = auto (2 x the median spacing of grid samples on surfaces)
    grid: int = 32  # depth samples along the image's long side
    max_distance: float = 0.0  # candidate camera centres within this many metres; 0 = auto (3 x median depth)
    max_angle: float = 90.0  # candidate optical axes within this many degrees; 180 = no restriction
    colmap: str | None = None  # COLMAP text model directory (instead of the life's depth + poses)
    names: str | None = None  # optional 'NAME FRAME_INDEX' file mapping COLMAP image names to frames

    def __post_init__(self) -> None:
        if not 0.0 <= self.lo <= self.hi <= 1.0:
            raise SlifeError(f"spatial pairs: need 0 <= lo <= hi <= 1, got lo={self.lo}, hi={self.hi}")
        if self.voxel < 0 or self.grid < 2 or self.max_distance < 0 or not 0 < self.max_angle <= 180:
            raise SlifeError(
                "spatial pairs: need voxel >= 0, grid >= 2, max_distance >= 0 and 0 < max_angle <= 180"
            )


@dataclass
class VisibleSets:
    """Per-frame visible sets as a sparse frames x points incidence matrix, plus camera centres/axes."""

    incidence: Any  # scipy.sparse.csr_matrix (N, P) 0/1 int32; empty rows = frame without a set (unregistered)
    centres: np.ndarray  # (N, 3), NaN where unknown
    axes: np.ndarray  # (N, 3) unit optical axes (world), NaN where unknown
    scene_depth: float  # median depth of the visible points, for the auto distance
    voxel: float  # voxel size used (0 for COLMAP points)
    groups: np.ndarray | None = None  # (N,) int64: only frames of one group pair (None = one group)


@dataclass
class SpatialIndex:
    pairs: np.ndarray  # (P, 2) int64, i < j
    jaccard: np.ndarray  # (P,) float32
    params: dict[str, Any]
    path: Path | None = None

    def stats(self) -> dict[str, Any]:
        j = self.jaccard
        frames = np.unique(self.pairs) if len(self.pairs) else np.zeros(0, np.int64)
        return {
            "pairs": int(len(j)),
            "frames_with_pairs": int(len(frames)),
            "jaccard_mean": float(j.mean()) if len(j) else float("nan"),
            "jaccard_quantiles": [float(q) for q in np.quantile(j, [0.1, 0.5, 0.9])] if len(j) else [],
            "voxel": self.params.get("voxel_used"),
            "max_distance": self.params.get("max_distance_used"),
        }


def _pose_arrays(poses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    centres = poses[:, :3, 3].astype(np.float64)
    axes = poses[:, :3, 2].astype(np.float64)
    axes = axes / np.linalg.norm(axes, axis=1, keepdims=True)
    return centres, axes


def _grid(h: int, w: int, samples: int) -> tuple[np.ndarray, int]:
    stride = max(1, round(max(h, w) / samples))
    return pixel_centers(h, w, stride), stride


def _pack(keys: np.ndarray, where: str) -> np.ndarray:
    """(M, 3) integer voxel coordinates -> unique int64 keys (21 bits per axis)."""
    if len(keys) and np.abs(keys).max() >= 2**20:
        raise SlifeError(f"{where}: scene too large for the voxel size (over 1M voxels per axis); raise voxel")
    k = keys.astype(np.int64) + 2**20
    return (k[:, 0] << 42) | (k[:, 1] << 21) | k[:, 2]


def depth_visible_sets(life, cfg: SpatialConfig, progress: bool = False) -> VisibleSets:
    """Visible voxel sets of every frame from the life's depth maps and poses."""
    from tqdm import tqdm

    if not (life.has_depth and life.has_poses):
        raise SlifeError(f"{life.dir}: spatial pairs need depth and poses in the life, Aria semi-dense points "
                         f"(slife ingest --aria-mps) or a COLMAP model (--colmap)")
    n = len(life)
    points: list[np.ndarray] = []
    depths: list[float] = []
    spacing: list[float] = []
    for i in tqdm(range(n), desc="visible points", disable=not progress, unit="frame"):
        depth = life.depth(i)
        xy, stride = _grid(depth.shape[0], depth.shape[1], cfg.grid)
        z = sample_nearest(depth, xy).astype(np.float64)
        ok = z > 0
        K = life.intrinsics[i]
        pts = backproject(xy[ok], z[ok], K, life.poses[i])
        points.append(pts)
        if ok.any():
            med = float(np.median(z[ok]))
            depths.append(med)
            spacing.append(med * stride / float(K[0, 0]))
    if not depths:
        raise SlifeError(f"{life.dir}: no valid depth in any frame; cannot build spatial pairs")
    voxel = cfg.voxel or 2.0 * float(np.median(spacing))
    rows, cols = [], []
    for i, pts in enumerate(points):
        keys = np.unique(_pack(np.floor(pts / voxel), str(life.dir)))
        rows.append(np.full(len(keys), i, dtype=np.int64))
        cols.append(keys)
    centres, axes = _pose_arrays(life.poses)
    return VisibleSets(_incidence(rows, cols, n), centres, axes, float(np.median(depths)), voxel, frame_groups(life))


def colmap_visible_sets(life, cfg: SpatialConfig) -> VisibleSets:
    """Visible sets (observed COLMAP point ids) and poses of the frames registered in a COLMAP model."""
    from slife.pairs.colmap import match_frames, read_colmap_text, read_name_map

    assert cfg.colmap is not None
    model = read_colmap_text(cfg.colmap)
    name_map = read_name_map(cfg.names) if cfg.names else None
    frames = match_frames(model, len(life), name_map, where=str(cfg.colmap))
    n = len(life)
    centres = np.full((n, 3), np.nan)
    axes = np.full((n, 3), np.nan)
    rows, cols, depths = [], [], []
    for frame, image in zip(frames, model.images):
        c, a = _pose_arrays(image.cam_to_world[None])
        centres[frame], axes[frame] = c[0], a[0]
        rows.append(np.full(len(image.point_ids), frame, dtype=np.int64))
        cols.append(image.point_ids)
        if len(image.point_ids):
            xyz = np.stack([model.points[int(p)] for p in image.point_ids])
            depths.append(float(np.median((xyz - c[0]) @ a[0])))
    scene_depth = float(np.median(depths)) if depths else 1.0
    return VisibleSets(_incidence(rows, cols, n), centres, axes, scene_depth, 0.0, np.zeros(n, np.int64))  # one frame


def frame_groups(life) -> np.ndarray:
    """(N,) int64 ids of the frames whose depth and poses share one place and coordinate frame: one per
    segment of the controls whose meta lists cuts (``Life.segment_index``: each clip of the diverse
    control, each camera of the static control is its own place and coordinates); one group for every
    other life (a rendered life's sessions revisit the same place; an ingested life's poses are given
    in one world frame, and revisits across its videos are what spatial pairs are for)."""
    from slife.life import SEGMENT_META

    if life.kind in SEGMENT_META:
        return np.asarray(life.segment_index, np.int64)
    return np.zeros(len(life), np.int64)


def _incidence(rows: list[np.ndarray], cols: list[np.ndarray], n: int):
    from scipy import sparse

    r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    uniq, inv = np.unique(c, return_inverse=True)
    mat = sparse.csr_matrix((np.ones(len(r), np.int32), (r, inv.ravel())), shape=(n, len(uniq)))
    mat.sum_duplicates()
    mat.data[:] = 1
    return mat


def jaccard_pairs(
    sets: VisibleSets, lo: float, hi: float, max_distance: float, max_angle: float, progress: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """All pairs i < j of one group (``sets.groups``) among candidates with lo <= |A_i & A_j| / |A_i | A_j| <= hi."""
    from tqdm import tqdm

    A = sets.incidence
    n = A.shape[0]
    if sets.groups is not None and len(sets.groups) != n:
        raise SlifeError(f"spatial pairs: {len(sets.groups)} frame groups for {n} frames")
    size = np.asarray(A.sum(axis=1)).ravel()
    known = np.isfinite(sets.centres).all(axis=1) & (size > 0)
    cos_min = np.cos(np.deg2rad(max_angle)) - 1e-9
    out_p, out_j = [], []
    A_T = A.T.tocsr()
    for start in tqdm(range(0, n, _BLOCK), desc="jaccard", disable=not progress, unit="block"):
        rows = np.arange(start, min(n, start + _BLOCK))
        cand = known[rows, None] & known[None, :] & (np.arange(n)[None, :] > rows[:, None])
        if sets.groups is not None:
            cand &= sets.groups[rows, None] == sets.groups[None, :]
        if max_distance < np.inf:
            c = sets.centres
            d2 = (c[rows] ** 2).sum(1)[:, None] + (c**2).sum(1)[None, :] - 2.0 * c[rows] @ c.T
            cand &= np.nan_to_num(d2, nan=np.inf) <= max_distance**2
        if max_angle < 180:
            cand &= np.nan_to_num(sets.axes[rows] @ sets.axes.T, nan=-2.0) >= cos_min
        cols = np.flatnonzero(cand.any(axis=0))
        if not len(cols):
            continue
        inter = (A[rows] @ A_T[:, cols]).tocoo()  # shared points per (row, candidate column)
        r, c, k = inter.row, cols[inter.col], inter.data.astype(np.float64)
        keep = cand[r, c]
        r, c, k = r[keep], c[keep], k[keep]
        i = rows[r]
        jac = k / (size[i] + size[c] - k)
        ok = (jac >= lo - 1e-12) & (jac <= hi + 1e-12)
        out_p.append(np.stack([i[ok], c[ok]], axis=1))
        out_j.append(jac[ok])
    pairs = np.concatenate(out_p) if out_p else np.zeros((0, 2), np.int64)
    jac = np.concatenate(out_j) if out_j else np.zeros(0)
    order = np.lexsort((pairs[:, 1], pairs[:, 0])) if len(pairs) else np.zeros(0, np.int64)
    return pairs[order].astype(np.int64), jac[order].astype(np.float32)


def _life_identity(life) -> dict[str, Any]:
    return {
        "name": life.name,
        "frames": len(life),
        "videos": [[v.source, v.frames, v.fingerprint, v.duration] for v in life.manifest.videos],
    }


def _source_identity(cfg: SpatialConfig, life) -> dict[str, Any]:
    from slife.pairs.points import has_points

    if cfg.colmap is None:
        return {"source": "points"} if has_points(life) and not life.has_depth else {"source": "depth"}
    files = {}
    for name in ("cameras.txt", "images.txt", "points3D.txt"):
        p = Path(cfg.colmap) / name
        files[name] = f"{p.stat().st_size}:{p.stat().st_mtime_ns}" if p.is_file() else "missing"
    if cfg.names:
        p = Path(cfg.names)
        files["names"] = f"{p.stat().st_size}:{p.stat().st_mtime_ns}" if p.is_file() else "missing"
    return {"source": "colmap", "colmap": str(Path(cfg.colmap).resolve()), "files": files}


def index_params(life, cfg: SpatialConfig) -> dict[str, Any]:
    return {"version": INDEX_VERSION, "config": asdict(cfg), "life": _life_identity(life), **_source_identity(cfg, life)}


def index_path(life, cfg: SpatialConfig) -> Path:
    """Where the index for these parameters is cached: ``LIFE/pairs/spatial-<hash>.npz``."""
    digest = hashlib.sha1(json.dumps(index_params(life, cfg), sort_keys=True).encode()).hexdigest()[:12]
    return Path(life.dir) / "pairs" / f"spatial-{digest}.npz"


def load_index(path: Path) -> SpatialIndex:
    try:
        from slife.npzfile import load_npz

        with load_npz(path) as data:
            return SpatialIndex(data["pairs"], data["jaccard"], json.loads(str(data["params"])), path)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise SlifeError(f"{path}: cannot read spatial pair index: {exc} (delete it to rebuild)") from exc


def build_index(life, cfg: SpatialConfig, progress: bool = False) -> SpatialIndex:
    """Compute the spatial pair index (no caching)."""
    from slife.pairs.points import has_points, points_visible_sets

    if cfg.colmap:
        sets = colmap_visible_sets(life, cfg)
    elif has_points(life) and not life.has_depth:
        sets = points_visible_sets(life, cfg, progress)
    else:
        sets = depth_visible_sets(life, cfg, progress)
    max_distance = cfg.max_distance or 3.0 * sets.scene_depth
    pairs, jac = jaccard_pairs(sets, cfg.lo, cfg.hi, max_distance, cfg.max_angle, progress)
    params = index_params(life, cfg)
    params.update(voxel_used=sets.voxel, max_distance_used=max_distance, scene_depth=sets.scene_depth)
    return SpatialIndex(pairs, jac, params)


def spatial_index(life, cfg: SpatialConfig, progress: bool = False, rebuild: bool = False) -> SpatialIndex:
    """The cached index for (life, cfg), computed and saved atomically on first use."""
    path = index_path(life, cfg)
    if path.is_file() and not rebuild:
        return load_index(path)
    index = build_index(life, cfg, progress)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path, "wb") as fh:
            np.savez(fh, pairs=index.pairs, jaccard=index.jaccard, params=np.array(json.dumps(index.params)))
        index.path = path
    except OSError as exc:  # a read-only life still trains; the index is just not reused
        import warnings

        warnings.warn(f"{path}: cannot cache spatial pair index ({exc}); it will be recomputed next time")
    return index
