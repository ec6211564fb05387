"""Per-frame geometry of an Aria video from its MPS outputs: pose, intrinsics, camera model, graph.

For each kept frame (its position ``source_frame`` in the MP4): device time from the time-sync file ->
T_world_device interpolated in the trajectory (translation linear, rotation slerp, never across a
``graph_uid`` change or a gap longer than ``max_gap``) -> T_world_camera = T_world_device ·
T_device_camera (the online calibration line nearest in time) · the display rotation. A frame with no
pose keeps a NaN pose so frame indices stay aligned. The arrays are written into the video's shard index
before it is committed, so a video is in the life with all its geometry or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from slife.errors import SlifeError
from slife.ingest.aria.fisheye import to_stored_pixels
from slife.ingest.aria.mps import (
    Points,
    RgbCalibration,
    SlamDir,
    TimeSync,
    Trajectory,
    find_slam_dir,
    open_trees,
    read_calibration,
    read_points,
    read_time_sync,
    read_trajectory,
    time_sync_beside,
)


@dataclass
class AriaConfig:
    """``ingest.aria``: where the MPS outputs are and how to read them (docs/real_lives.md)."""

    mps: str | None = None  # MPS folder, zip, or folder of zips (HD-EPIC: SLAM-and-Gaze/PXX/SLAM/multi)
    time_sync: list[str] = field(default_factory=list)  # one *_mp4_to_vrs_time_ns.csv per video ([] = beside each video)
    calib_size: int = 2880  # side of the image the RGB calibration refers to (Aria RGB: 2880 full resolution)
    rotate: int = 0  # clockwise quarter turns from the sensor image to the video (HD-EPIC's upright MP4s: 1)
    max_inv_dist_std: float = 0.001  # semi-dense point filter (projectaria-tools' defaults)
    max_dist_std: float = 0.05  # metres
    max_gap: float = 0.05  # seconds: no pose is interpolated across a longer gap of the trajectory

    def __post_init__(self) -> None:
        if self.calib_size < 16 or self.rotate not in (0, 1, 2, 3):
            raise ValueError(f"aria: need calib_size >= 16 and rotate in 0..3, got {self.calib_size}, {self.rotate}")
        if not (self.max_inv_dist_std > 0 and self.max_dist_std > 0 and self.max_gap > 0):
            raise ValueError("aria: max_inv_dist_std, max_dist_std and max_gap must be > 0")


def rotation_display_from_raw(rotate: int) -> np.ndarray:
    """3 x 3 R with p_display = R p_raw for a video turned ``rotate`` quarter turns clockwise from the
    sensor image (a clockwise turn maps raw pixel (x, y) to (H - y, x): x' = -y, y' = x)."""
    R = np.eye(3)
    quarter = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    for _ in range(rotate % 4):
        R = quarter @ R
    return R


def rotate_pixels(xy: np.ndarray, width: float, height: float, rotate: int) -> np.ndarray:
    """Raw-image pixels (continuous) -> the video turned ``rotate`` quarter turns clockwise."""
    out = np.asarray(xy, dtype=np.float64).copy()
    w, h = width, height
    for _ in range(rotate % 4):
        out = np.stack([h - out[:, 1], out[:, 0]], axis=1)
        w, h = h, w
    return out


@dataclass
class VideoSource:
    """What one video needs: its SLAM folder and its time-sync file (resolved before decoding)."""

    video: str
    slam: SlamDir
    sync: TimeSync


class AriaGeometry:
    """Resolves every video's MPS inputs up front (errors before anything is decoded) and annotates each
    decoded shard with poses, intrinsics, the fisheye model, the graph and the semi-dense points."""

    def __init__(self, cfg: AriaConfig, videos: list[str | Path]):
        if cfg.mps is None:
            raise SlifeError("aria: no MPS folder given (--aria-mps)")
        if cfg.time_sync and len(cfg.time_sync) != len(videos):
            raise SlifeError(f"--aria-time: {len(cfg.time_sync)} time-sync file(s) for {len(videos)} video(s); give one per video")
        self.cfg = cfg
        trees = open_trees(cfg.mps)
        self.sources: dict[str, VideoSource] = {}
        for k, video in enumerate(videos):
            sync_path = cfg.time_sync[k] if cfg.time_sync else time_sync_beside(video)
            if sync_path is None:
                raise SlifeError(f"{video}: no time-sync file (give --aria-time, or put {Path(video).stem}_mp4_to_vrs_time_ns.csv beside it)")
            sync = read_time_sync(sync_path)
            _check_sync_length(sync, video)
            self.sources[_key(video)] = VideoSource(str(video), find_slam_dir(trees, video), sync)
        self._cache: dict[tuple[str, str], tuple[Trajectory, RgbCalibration, Points | None]] = {}
        for src in self.sources.values():  # every file read and checked before anything is decoded
            self._inputs(src.slam)

    def meta(self) -> dict[str, Any]:
        c = self.cfg
        return {"aria": {"calib_size": c.calib_size, "rotate": c.rotate, "max_inv_dist_std": c.max_inv_dist_std,
                         "max_dist_std": c.max_dist_std, "max_gap": c.max_gap}}  # fmt: skip

    def _inputs(self, slam: SlamDir) -> tuple[Trajectory, RgbCalibration, Points | None]:
        key = (str(slam.tree.root), slam.prefix)
        if key not in self._cache:
            self._cache.clear()  # one SLAM folder's trajectory in memory at a time
            traj = read_trajectory(slam)
            calib = read_calibration(slam)
            points = read_points(slam, self.cfg.max_inv_dist_std, self.cfg.max_dist_std)
            if points is not None:
                known = set(traj.graph_uids)
                codes = [k for k, u in enumerate(points.graph_uids) if u not in known]
                bad = np.flatnonzero(np.isin(points.graph, codes))
                if len(bad):
                    i = int(bad[0])
                    raise SlifeError(f"{points.where}: line {points.lines[i]}: graph_uid {points.graph_uids[points.graph[i]]} is in no "
                                     f"trajectory graph ({', '.join(traj.graph_uids)}); {len(bad)} such point(s)")  # fmt: skip
            self._cache[key] = (traj, calib, points)
        return self._cache[key]

    def annotate(self, video: str | Path, npz_path: Path, width: int, height: int) -> dict[str, Any]:
        """Add the geometry arrays to the (uncommitted) shard index ``npz_path``; returns a summary."""
        src = self.sources[_key(video)]
        traj, calib, points = self._inputs(src.slam)
        with np.load(npz_path) as data:
            arrays = {k: data[k] for k in data.files}
        ts, frames = arrays["timestamps"], arrays["source_frame"]
        device_ns = frame_device_times(src.sync, ts, frames, str(video))
        try:
            geo = frame_geometry(traj, calib, device_ns, width, height, self.cfg)
        except SlifeError as exc:
            raise SlifeError(f"{video}: {exc}") from None
        arrays.update(geo)
        if points is not None:
            arrays["points_xyz"] = points.xyz.astype(np.float32)
            arrays["points_graph"] = np.array([traj.graph_uids.index(points.graph_uids[g]) for g in range(len(points.graph_uids))],
                                              np.int64)[points.graph] if len(points.graph) else np.zeros(0, np.int64)  # fmt: skip
        with open(npz_path, "wb") as fh:
            np.savez(fh, **arrays)
        posed = int(np.isfinite(geo["poses"][:, 0, 0]).sum())
        return {"frames": len(ts), "posed": posed, "points": 0 if points is None else len(points.xyz)}


def _check_sync_length(sync: TimeSync, video: str | Path) -> None:
    """Refuse a time-sync file whose span differs from the video's duration by more than half a second."""
    try:
        import av

        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / 1e6
            else:
                return
    except Exception:  # unreadable video: the ingest itself reports it
        return
    n = len(sync.mp4_ns)
    period = float(np.median(np.diff(sync.mp4_ns))) / 1e9 if n > 1 else 0.0
    span = (sync.mp4_ns[-1] - sync.mp4_ns[0]) / 1e9 + period
    if abs(span - duration) > 0.5:
        raise SlifeError(f"{sync.where}: covers {span:.2f} s of MP4 time ({n} rows), but {video} lasts {duration:.2f} s; "
                         f"a time-sync file for another video?")  # fmt: skip


def _key(video: str | Path) -> str:
    import os

    return os.path.abspath(os.fspath(video))


def frame_device_times(sync: TimeSync, timestamps: np.ndarray, source_frames: np.ndarray, video: str) -> np.ndarray:
    """Device time (ns) of each kept frame: row ``source_frame`` of the time-sync file, whose MP4 time
    must agree with the frame's own timestamp (else the file belongs to another video)."""
    n = len(sync.mp4_ns)
    if len(source_frames) and int(source_frames.max()) >= n:
        i = int(np.argmax(source_frames))
        raise SlifeError(f"{sync.where}: {n} rows, but {video} has frame {int(source_frames[i])} at {timestamps[i]:.3f} s; "
                         f"a time-sync file for another video?")  # fmt: skip
    rows = source_frames.astype(np.int64)
    mp4_s = (sync.mp4_ns[rows] - sync.mp4_ns[0]) / 1e9
    period = float(np.median(np.diff(sync.mp4_ns))) / 1e9 if n > 1 else 1.0
    off = np.abs(mp4_s - timestamps)
    if len(off) and off.max() > 0.5 * period + 1e-3:
        i = int(np.argmax(off))
        raise SlifeError(f"{sync.where}: line {rows[i] + 2}: mp4_time_ns says {mp4_s[i]:.3f} s, but frame {int(rows[i])} of "
                         f"{video} is at {timestamps[i]:.3f} s; a time-sync file for another video?")  # fmt: skip
    return sync.device_ns[rows]


def frame_geometry(traj: Trajectory, calib: RgbCalibration, device_ns: np.ndarray, width: int, height: int,
                   cfg: AriaConfig) -> dict[str, np.ndarray]:  # fmt: skip
    """Arrays for the shard index: ``poses`` (N, 4, 4) T_world_camera (NaN: no pose), ``intrinsics``
    (N, 3, 3), ``camera`` (N, 15) fisheye model in continuous pixels of the stored image *before* the
    display rotation, ``rotate`` (), ``graph`` (N,) index into ``graph_uids`` (-1: no pose)."""
    from slife.geometry import interpolate_poses

    raw_w, raw_h = (width, height) if cfg.rotate % 2 == 0 else (height, width)
    if raw_w != raw_h:
        raise SlifeError(f"aria: stored frames are {width}x{height}; the Aria RGB calibration is for square images")
    n = len(device_ns)
    poses = np.full((n, 4, 4), np.nan)
    graph = np.full(n, -1, np.int64)
    st = traj.times_ns
    # runs of one graph without a gap longer than max_gap: poses are interpolated inside a run only
    breaks = np.flatnonzero((np.diff(traj.graph) != 0) | (np.diff(st) > cfg.max_gap * 1e9)) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [len(st)]])
    run = np.searchsorted(st[starts], device_ns, side="right") - 1
    for r in np.unique(run[run >= 0]):
        sel = np.flatnonzero(run == r)
        a, b = starts[r], ends[r]
        base = st[a]  # interpolate in ns relative to the run's start: float64 keeps the ns
        p, inside = interpolate_poses(device_ns[sel] - base, st[a:b] - base, traj.translations[a:b], traj.quaternions[a:b])
        poses[sel] = p
        graph[sel[inside]] = traj.graph[a]
    line = calib.nearest(device_ns)
    R_disp = rotation_display_from_raw(cfg.rotate)
    display = np.eye(4)
    display[:3, :3] = R_disp.T  # T_rawcam_displaycam
    poses = poses @ calib.device_camera[line] @ display
    cams = np.stack([to_stored_pixels(calib.params[k], cfg.calib_size, raw_w).params for k in line]) if n else np.zeros((0, 15))
    K = np.zeros((n, 3, 3))
    K[:, 0, 0] = K[:, 1, 1] = cams[:, 0]
    K[:, 2, 2] = 1.0
    centre = rotate_pixels(cams[:, 1:3], raw_w, raw_h, cfg.rotate) if n else np.zeros((0, 2))
    K[:, 0, 2], K[:, 1, 2] = centre[:, 0], centre[:, 1]
    return {"poses": poses, "intrinsics": K, "camera": cams, "rotate": np.array(cfg.rotate),
            "graph": graph, "graph_uids": np.array(traj.graph_uids, dtype=str)}  # fmt: skip
