"""Visible sets from a life's semi-dense points (ingested Aria lives: slife.ingest.aria).

A frame sees a point when, in its camera (the fisheye model stored with the frame), the point is in
front, between ``near`` and ``far`` metres, projects inside the image and within the lens's valid
radius (the circle inscribed in the square sensor image), less than ``max_theta`` from the axis, and
is not occluded: on a grid of ``grid`` cells along the image side, it is at most ``occlusion``
(relative) behind the nearest visible point of its cell. Points are first merged into voxels (the
same voxel as depth lives use, 0 = auto: 2 x the median spacing of ``grid`` samples at the median
point depth), so a frame's set is a set of voxels, as for depth. Frames of different ``graph_uid``s
(world frames) are in different groups and never pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from slife.errors import SlifeError
from slife.ingest.aria.fisheye import Fisheye624
from slife.ingest.aria.frames import rotation_display_from_raw

NEAR = 0.1  # metres
FAR = 20.0
MAX_THETA = np.deg2rad(85.0)
OCCLUSION = 0.1


def has_points(life) -> bool:
    """Whether ``life`` was ingested with Aria MPS geometry (poses, fisheye model) and holds semi-dense points."""
    import zipfile

    if "aria" not in life.meta or not life.has_poses:
        return False
    for entry in life.manifest.videos:
        try:
            with zipfile.ZipFile(life.dir / entry.index) as z:  # an npz: just its member list
                if "points_xyz.npy" in z.namelist():
                    return True
        except (OSError, zipfile.BadZipFile):
            continue
    return False


@dataclass
class LifePoints:
    """The geometry arrays of an Aria life, concatenated over its videos."""

    cameras: np.ndarray  # (N, 15) fisheye model, stored pixels before the display rotation
    rotate: np.ndarray  # (N,) clockwise quarter turns to the stored image
    graph: np.ndarray  # (N,) global graph id, -1 = no pose
    xyz: np.ndarray  # (P, 3) world points (duplicates across videos of one graph merged by voxel later)
    point_graph: np.ndarray  # (P,) global graph id
    sizes: np.ndarray  # (N, 2) stored width, height


def load_points(life) -> LifePoints:
    uids: dict[str, int] = {}  # graph_uid -> global graph id, over all videos
    cams, rot, graph, xyz, pgraph, sizes = [], [], [], [], [], []
    for entry in life.manifest.videos:
        path = life.dir / entry.index
        try:
            with np.load(path) as d:
                ids = np.array([uids.setdefault(str(u), len(uids)) for u in d["graph_uids"]], np.int64)
                g = d["graph"]
                cams.append(d["camera"])
                rot.append(np.full(len(g), int(d["rotate"])))
                graph.append(np.where(g >= 0, ids[np.maximum(g, 0)] if len(ids) else -1, -1))
                sizes.append(np.tile([entry.width, entry.height], (len(g), 1)))
                if "points_xyz" in d.files:
                    xyz.append(d["points_xyz"].astype(np.float64))
                    pgraph.append(ids[d["points_graph"]])
        except KeyError as exc:
            raise SlifeError(f"{path}: no Aria geometry ({exc}); re-ingest the video with --aria-mps") from exc
    cat = lambda parts, shape, dt: np.concatenate(parts) if parts else np.zeros(shape, dt)  # noqa: E731
    return LifePoints(cat(cams, (0, 15), np.float64), cat(rot, (0,), np.int64), cat(graph, (0,), np.int64),
                      cat(xyz, (0, 3), np.float64), cat(pgraph, (0,), np.int64), cat(sizes, (0, 2), np.int64))  # fmt: skip


def visible_points(xyz: np.ndarray, pose: np.ndarray, camera: np.ndarray, rotate: int, width: int, height: int,
                   grid: int, near: float = NEAR, far: float = FAR, occlusion: float = OCCLUSION) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Indices of ``xyz`` (M, 3) one frame sees, and their depths (see the module doc)."""
    world_to_cam = np.linalg.inv(pose)
    turn = rotation_display_from_raw(rotate)  # p_raw = turn^T p_display: row-wise p_display @ turn
    raw = xyz @ (world_to_cam[:3, :3].T @ turn) + world_to_cam[:3, 3] @ turn
    z = raw[:, 2]
    idx = np.flatnonzero((z > near) & (z < far))
    if not len(idx):
        return idx, np.zeros(0)
    model = Fisheye624(camera)
    raw_w, raw_h = (width, height) if rotate % 2 == 0 else (height, width)
    radius = 0.5 * min(raw_w, raw_h)
    centre = np.array([raw_w, raw_h]) / 2.0
    # a cheap cone test first: the widest angle the valid circle sees (8 directions, + 2 degrees)
    edge = centre + radius * np.stack([np.cos(np.arange(8) * np.pi / 4), np.sin(np.arange(8) * np.pi / 4)], axis=1)
    cone = min(MAX_THETA, float(model.theta(model.unproject(edge)).max()) + np.deg2rad(2.0))
    p = raw[idx]
    ok = p[:, 2] > np.cos(cone) * np.linalg.norm(p, axis=1)
    idx, p = idx[ok], p[ok]
    xy = model.project(p)
    ok = (xy[:, 0] >= 0) & (xy[:, 0] < raw_w) & (xy[:, 1] >= 0) & (xy[:, 1] < raw_h)
    ok &= np.hypot(*(xy - centre).T) <= radius
    idx, xy, z = idx[ok], xy[ok], raw[idx[ok], 2]
    if occlusion > 0 and len(idx):
        cell = max(raw_w, raw_h) / grid
        key = np.floor(xy[:, 1] / cell).astype(np.int64) * (grid + 1) + np.floor(xy[:, 0] / cell).astype(np.int64)
        order = np.lexsort((z, key))
        first = np.r_[True, key[order][1:] != key[order][:-1]]
        zmin = np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
        keep = np.zeros(len(idx), bool)
        keep[order] = z[order] <= z[order][zmin] * (1.0 + occlusion)
        idx, z = idx[keep], z[keep]
    return idx, z


def points_visible_sets(life, cfg, progress: bool = False):
    """VisibleSets of every frame from the life's semi-dense points (voxel ids, see the module doc)."""
    from tqdm import tqdm

    from slife.pairs.spatial import VisibleSets, _incidence, _pack, _pose_arrays

    lp = load_points(life)
    n = len(life)
    if not len(lp.xyz):
        raise SlifeError(f"{life.dir}: the life holds no semi-dense points (no {'semidense_points.csv.gz'} in its MPS folder, or the quality filter kept none)")
    posed = np.flatnonzero(np.isfinite(life.poses).all(axis=(1, 2)) & (lp.graph >= 0))
    if not len(posed):
        raise SlifeError(f"{life.dir}: no frame has a pose; cannot build spatial pairs")
    by_graph = {int(g): np.flatnonzero(lp.point_graph == g) for g in np.unique(lp.point_graph)}

    def frame(i: int, xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w, h = (int(x) for x in lp.sizes[i])
        return visible_points(xyz, life.poses[i], lp.cameras[i], int(lp.rotate[i]), w, h, cfg.grid)

    voxel = cfg.voxel
    if not voxel:  # median depth of a sample of frames, on the raw points
        spacing = []
        for i in posed[np.linspace(0, len(posed) - 1, min(len(posed), 32)).astype(int)]:
            pts = lp.xyz[by_graph.get(int(lp.graph[i]), np.zeros(0, np.int64))]
            _, z = frame(int(i), pts)
            if len(z):
                w, h = lp.sizes[i]
                spacing.append(float(np.median(z)) * max(w, h) / cfg.grid / float(lp.cameras[i][0]))
        if not spacing:
            raise SlifeError(f"{life.dir}: no frame sees any semi-dense point; cannot build spatial pairs")
        voxel = 2.0 * float(np.median(spacing))
    rows, cols, depths = [], [], []
    reps: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for g, sel in by_graph.items():  # one point per voxel (the centroid) and its key, per graph
        keys = _pack(np.floor(lp.xyz[sel] / voxel), str(life.dir))  # graphs never pair: keys may repeat across them
        uniq, inv = np.unique(keys, return_inverse=True)
        cent = np.zeros((len(uniq), 3))
        np.add.at(cent, inv.ravel(), lp.xyz[sel])
        cent /= np.bincount(inv.ravel(), minlength=len(uniq))[:, None]
        reps[g] = (cent, uniq)
    for i in tqdm(posed, desc="visible points", disable=not progress, unit="frame"):
        g = int(lp.graph[i])
        if g not in reps:
            continue
        cent, keys = reps[g]
        idx, z = frame(int(i), cent)
        rows.append(np.full(len(idx), i, np.int64))
        cols.append(keys[idx])
        if len(z):
            depths.append(float(np.median(z)))
    centres, axes = _pose_arrays(life.poses)
    scene = float(np.median(depths)) if depths else 1.0
    groups = np.where(lp.graph >= 0, lp.graph, -1 - np.arange(n))  # unposed frames: a group each
    return VisibleSets(_incidence(rows, cols, n), centres, axes, scene, voxel, groups)
