"""Readers for Project Aria Machine Perception Services (MPS) SLAM outputs and HD-EPIC's time sync.

Files (all read from a folder or straight from a zip, never unpacked):

- ``closed_loop_trajectory.csv``: ``graph_uid, tracking_timestamp_us, tx/ty/tz_world_device,
  qx/qy/qz/qw_world_device, ...``, 1 kHz; one world frame per ``graph_uid``.
  ``open_loop_trajectory.csv`` is the fallback (odometry frame per ``session_uid``; drifts).
- ``online_calibration.jsonl``: one JSON object per line (or, in the older layout, a JSON string
  holding it) with ``tracking_timestamp_us`` and ``CameraCalibrations[]``; the ``camera-rgb`` entry has
  ``Projection {Name: FisheyeRadTanThinPrism, Params[15]}`` and ``T_Device_Camera {Translation,
  UnitQuaternion: [w, [x, y, z]]}``.
- ``semidense_points.csv.gz``: ``uid, graph_uid, px/py/pz_world, inv_dist_std, dist_std``.
- multi-SLAM: ``vrs_to_multi_slam.json`` maps each recording to a sub-folder (``0/``, ``1/``, ...).
- HD-EPIC: ``Videos/PXX/<video>_mp4_to_vrs_time_ns.csv`` (``mp4_time_ns, ..., vrs_device_time_ns``,
  one row per MP4 frame); SLAM outputs as ``SLAM-and-Gaze/PXX/SLAM/multi/*.zip``.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

import numpy as np

from slife.errors import SlifeError
from slife.ingest.aria.fisheye import N_PARAMS, NAME
from slife.ingest.aria.table import Table, opener_for, read_table

CLOSED_LOOP = "closed_loop_trajectory.csv"
OPEN_LOOP = "open_loop_trajectory.csv"
CALIBRATION = "online_calibration.jsonl"
POINTS = "semidense_points.csv.gz"
MULTI = "vrs_to_multi_slam.json"
TIME_SYNC_SUFFIX = "_mp4_to_vrs_time_ns.csv"
RGB_LABEL = "camera-rgb"


class Tree:
    """The files of a folder or of a zip archive, by relative POSIX path."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.is_zip = self.root.is_file()
        if self.is_zip:
            try:
                self._zip = zipfile.ZipFile(self.root)
            except (OSError, zipfile.BadZipFile) as exc:
                raise SlifeError(f"{self.root}: not a readable zip archive: {exc}") from exc
            self.files = [n for n in self._zip.namelist() if not n.endswith("/")]
        else:
            self.files = sorted(p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file())

    def open(self, rel: str) -> IO[bytes]:
        import gzip

        fh = self._zip.open(rel) if self.is_zip else open(self.root / rel, "rb")
        return gzip.GzipFile(fileobj=fh, mode="rb") if rel.endswith(".gz") else fh

    def where(self, rel: str) -> str:
        return f"{self.root}:{rel}" if self.is_zip else str(self.root / rel)

    def named(self, name: str) -> list[str]:
        return [f for f in self.files if PurePosixPath(f).name == name]


def open_trees(path: str | Path) -> list[Tree]:
    """The MPS outputs at ``path``: a folder, a zip, or a folder of zips (HD-EPIC's ``SLAM/multi``)."""
    path = Path(path)
    if not path.exists():
        raise SlifeError(f"{path}: no such MPS folder or zip")
    if path.is_file():
        return [Tree(path)]
    return [Tree(path), *[Tree(z) for z in sorted(path.rglob("*.zip"))]]


@dataclass(frozen=True)
class SlamDir:
    """One SLAM output folder (the files of one recording) inside a tree."""

    tree: Tree
    prefix: str  # relative folder ("" = the tree's root)

    def rel(self, name: str) -> str | None:
        rel = f"{self.prefix}/{name}" if self.prefix else name
        return rel if rel in set(self.tree.files) else None

    def where(self, name: str = "") -> str:
        return self.tree.where(f"{self.prefix}/{name}" if self.prefix else name)


def _recording_stem(name: str) -> str:
    stem = PurePosixPath(name.replace("\\", "/")).name
    for suffix in (".vrs", ".mp4"):
        stem = stem[: -len(suffix)] if stem.endswith(suffix) else stem
    return stem.removesuffix("_anonymized")


def find_slam_dir(trees: list[Tree], video: str | Path) -> SlamDir:
    """The SLAM folder of ``video``: via ``vrs_to_multi_slam.json`` (the recording whose name matches the
    video's stem), else the only folder holding a trajectory."""
    stem = _recording_stem(str(video))
    multis = [(t, rel) for t in trees for rel in t.named(MULTI)]
    names: list[str] = []
    for tree, rel in multis:
        try:
            mapping = json.loads(tree.open(rel).read().decode("utf-8"))
        except (ValueError, OSError) as exc:
            raise SlifeError(f"{tree.where(rel)}: not a readable JSON file: {exc}") from exc
        if not isinstance(mapping, dict):
            raise SlifeError(f"{tree.where(rel)}: expected a mapping from recording to folder")
        for key, sub in mapping.items():
            names.append(_recording_stem(str(key)))
            if _recording_stem(str(key)) == stem:
                base = str(PurePosixPath(rel).parent / str(sub))
                for prefix in (f"{base}/slam" if base else "slam", base):
                    d = SlamDir(tree, prefix)
                    if d.rel(CLOSED_LOOP) or d.rel(OPEN_LOOP):
                        return d
                raise SlifeError(f"{tree.where(rel)}: recording {key} -> folder {sub!r}, which holds no {CLOSED_LOOP}")
    dirs = sorted({(t, str(PurePosixPath(r).parent)) for t in trees for n in (CLOSED_LOOP, OPEN_LOOP)
                   for r in t.named(n)}, key=lambda x: (str(x[0].root), x[1]))  # fmt: skip
    if multis:
        raise SlifeError(f"{multis[0][0].where(multis[0][1])}: no recording named {stem} for video {video} "
                         f"(recordings: {', '.join(sorted(names)[:8])}{', ...' if len(names) > 8 else ''})")  # fmt: skip
    if not dirs:
        raise SlifeError(f"{trees[0].root}: no {CLOSED_LOOP} or {OPEN_LOOP} found (not an MPS SLAM output?)")
    if len(dirs) > 1:
        named = [d for d in dirs if stem in d[1] or stem in str(d[0].root)]
        if len(named) != 1:
            raise SlifeError(f"{trees[0].root}: {len(dirs)} SLAM outputs and no {MULTI}; cannot tell which one is {video}")
        dirs = named
    tree, parent = dirs[0]
    return SlamDir(tree, "" if parent == "." else parent)


# ---- trajectory ---------------------------------------------------------------------------------
@dataclass
class Trajectory:
    """Device poses: ``times_ns`` (S,) device clock, ``translations`` (S, 3), ``quaternions`` (S, 4)
    w, x, y, z of T_world_device, ``graph`` (S,) index into ``graph_uids`` (one world frame each)."""

    where: str
    times_ns: np.ndarray
    translations: np.ndarray
    quaternions: np.ndarray
    graph: np.ndarray
    graph_uids: list[str]


def read_trajectory(slam: SlamDir) -> Trajectory:
    """The closed-loop trajectory of ``slam`` (or the open-loop one if there is none)."""
    rel = slam.rel(CLOSED_LOOP)
    if rel is not None:
        frame, group, prefix = "world", "graph_uid", ""
    else:
        rel = slam.rel(OPEN_LOOP)
        if rel is None:
            raise SlifeError(f"{slam.where()}: no {CLOSED_LOOP} or {OPEN_LOOP}")
        frame, group, prefix = "odometry", "session_uid", "open_loop:"
    where = slam.tree.where(rel)
    cols = ["tracking_timestamp_us", *[f"t{a}_{frame}_device" for a in "xyz"], *[f"q{a}_{frame}_device" for a in "wxyz"]]
    table = read_table(lambda: slam.tree.open(rel), where, cols, strings=[group])
    return _trajectory(table, cols, group, prefix, where)


def _trajectory(table: Table, cols: list[str], group: str, prefix: str, where: str) -> Trajectory:
    n = len(table)
    if n < 2:
        raise SlifeError(f"{where}: {n} pose row(s); a trajectory needs at least 2")
    t_us = table.numbers[cols[0]]
    d = np.diff(t_us)
    if (d <= 0).any():
        i = int(np.flatnonzero(d <= 0)[0])
        what = "repeats" if d[i] == 0 else "goes back from"
        raise SlifeError(f"{where}: line {table.row(i + 1)}: tracking_timestamp_us {t_us[i + 1]:.0f} {what} "
                         f"{t_us[i]:.0f} on line {table.row(i)}; timestamps must be strictly increasing")  # fmt: skip
    trans = np.stack([table.numbers[c] for c in cols[1:4]], axis=1)
    quat = np.stack([table.numbers[c] for c in cols[4:8]], axis=1)
    norm = np.linalg.norm(quat, axis=1)
    bad = np.abs(norm - 1.0) > 1e-3
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise SlifeError(f"{where}: line {table.row(i)}: quaternion has norm {norm[i]:.6f}, not a unit quaternion")
    uids = [prefix + u for u in table.values[group]]
    return Trajectory(where, np.round(t_us * 1000.0).astype(np.int64), trans, quat / norm[:, None], table.strings[group], uids)


# ---- calibration --------------------------------------------------------------------------------
@dataclass
class RgbCalibration:
    """The RGB camera's online calibration: one entry per line, ``times_ns`` (L,), ``params`` (L, 15)
    in Aria pixels of the full-resolution image, ``device_camera`` (L, 4, 4) T_device_camera."""

    where: str
    times_ns: np.ndarray
    params: np.ndarray
    device_camera: np.ndarray

    def nearest(self, times_ns: np.ndarray) -> np.ndarray:
        """Index of the calibration line nearest in time to each of ``times_ns``."""
        if len(self.times_ns) == 1:
            return np.zeros(len(times_ns), np.int64)
        hi = np.clip(np.searchsorted(self.times_ns, times_ns), 1, len(self.times_ns) - 1)
        lo = hi - 1
        return np.where(np.abs(times_ns - self.times_ns[lo]) <= np.abs(self.times_ns[hi] - times_ns), lo, hi)


def _se3(entry: Any, where: str) -> np.ndarray:
    from slife.geometry import quaternions_to_rotations

    try:
        t = np.asarray(entry["Translation"], dtype=np.float64).reshape(3)
        w, xyz = entry["UnitQuaternion"]
        q = np.array([float(w), *np.asarray(xyz, dtype=np.float64).reshape(3)])
    except (KeyError, TypeError, ValueError) as exc:
        raise SlifeError(f"{where}: T_Device_Camera needs Translation [x, y, z] and UnitQuaternion [w, [x, y, z]] ({exc})") from None
    if not (np.isfinite(t).all() and np.isfinite(q).all()) or abs(np.linalg.norm(q) - 1.0) > 1e-3:
        raise SlifeError(f"{where}: T_Device_Camera is not finite or its quaternion is not a unit quaternion")
    T = np.eye(4)
    T[:3, :3] = quaternions_to_rotations(q)[0]
    T[:3, 3] = t
    return T


def read_calibration(slam: SlamDir) -> RgbCalibration:
    """The ``camera-rgb`` entries of ``online_calibration.jsonl`` (both layouts), sorted by time."""
    rel = slam.rel(CALIBRATION)
    if rel is None:
        raise SlifeError(f"{slam.where()}: no {CALIBRATION}; the RGB camera's intrinsics and extrinsics come from it")
    where = slam.tree.where(rel)
    times, params, extr = [], [], []
    with slam.tree.open(rel) as fh:
        for line_no, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            at = f"{where}: line {line_no}"
            try:
                obj = json.loads(raw)
                if isinstance(obj, str):  # the older layout: the calibration as a quoted JSON string
                    obj = json.loads(obj)
            except ValueError as exc:
                raise SlifeError(f"{at}: not JSON: {exc}") from None
            if not isinstance(obj, dict) or not isinstance(obj.get("CameraCalibrations"), list):
                raise SlifeError(f"{at}: no CameraCalibrations list")
            cams = [c for c in obj["CameraCalibrations"] if isinstance(c, dict) and c.get("Label") == RGB_LABEL]
            if not cams:
                labels = [c.get("Label") for c in obj["CameraCalibrations"] if isinstance(c, dict)]
                raise SlifeError(f"{at}: no {RGB_LABEL} calibration (labels: {', '.join(map(str, labels))})")
            cam = cams[0]
            proj = cam.get("Projection") or {}
            if proj.get("Name") != NAME:
                raise SlifeError(f"{at}: {RGB_LABEL} projection is {proj.get('Name')!r}; only {NAME} is supported")
            try:
                p = np.asarray(proj.get("Params"), dtype=np.float64).reshape(-1)
            except (TypeError, ValueError):
                p = np.zeros(0)
            if p.shape != (N_PARAMS,) or not np.isfinite(p).all() or not p[0] > 0:
                raise SlifeError(f"{at}: {RGB_LABEL} Params must be {N_PARAMS} finite numbers with f > 0")
            t = obj.get("tracking_timestamp_us", 0 if line_no == 1 else None)
            if not isinstance(t, (int, float)) or isinstance(t, bool) or not np.isfinite(t):
                raise SlifeError(f"{at}: tracking_timestamp_us missing or not a number")
            times.append(int(round(t * 1000)))
            params.append(p)
            extr.append(_se3(cam.get("T_Device_Camera"), f"{at}: {RGB_LABEL}"))
    if not times:
        raise SlifeError(f"{where}: no calibration lines")
    order = np.argsort(times, kind="stable")
    return RgbCalibration(where, np.asarray(times, np.int64)[order], np.asarray(params)[order], np.asarray(extr)[order])


# ---- semi-dense points ---------------------------------------------------------------------------
@dataclass
class Points:
    """Semi-dense points kept by the quality filter: ``xyz`` (P, 3) world, ``uid`` (P,), ``graph`` (P,)
    index into ``graph_uids``."""

    where: str
    xyz: np.ndarray
    uid: np.ndarray
    graph: np.ndarray
    graph_uids: list[str]
    total: int  # rows before the filter
    lines: np.ndarray  # (P,) file line of each kept point (the header is line 1)


def read_points(slam: SlamDir, max_inv_dist_std: float, max_dist_std: float) -> Points | None:
    """``semidense_points.csv.gz`` with the quality filter ``inv_dist_std <= max_inv_dist_std`` and
    ``dist_std <= max_dist_std`` (None if the folder has no points file)."""
    rel = slam.rel(POINTS)
    if rel is None:
        return None
    where = slam.tree.where(rel)
    cols = ["uid", "px_world", "py_world", "pz_world", "inv_dist_std", "dist_std"]
    table = read_table(lambda: slam.tree.open(rel), where, cols, strings=["graph_uid"])
    n = table.numbers
    for c in ("inv_dist_std", "dist_std"):
        neg = n[c] < 0
        if neg.any():
            i = int(np.flatnonzero(neg)[0])
            raise SlifeError(f"{where}: line {table.row(i)}: {c} is negative ({n[c][i]})")
    keep = (n["inv_dist_std"] <= max_inv_dist_std) & (n["dist_std"] <= max_dist_std)
    xyz = np.stack([n["px_world"], n["py_world"], n["pz_world"]], axis=1)[keep]
    return Points(where, xyz, n["uid"][keep].astype(np.int64), table.strings["graph_uid"][keep],
                  list(table.values["graph_uid"]), len(table), np.flatnonzero(keep) + 2)  # fmt: skip


# ---- HD-EPIC time sync --------------------------------------------------------------------------
@dataclass
class TimeSync:
    """MP4 frame times -> device clock: ``mp4_ns`` (F,) and ``device_ns`` (F,), one row per frame."""

    where: str
    mp4_ns: np.ndarray
    device_ns: np.ndarray


def time_sync_beside(video: str | Path) -> Path | None:
    """HD-EPIC's ``<video stem>_mp4_to_vrs_time_ns.csv`` next to the video, if it exists."""
    p = Path(video)
    cand = p.with_name(p.stem + TIME_SYNC_SUFFIX)
    return cand if cand.is_file() else None


def read_time_sync(path: str | Path) -> TimeSync:
    where = str(path)
    if not Path(path).is_file():
        raise SlifeError(f"{where}: no such time-sync file")
    table = read_table(opener_for(path), where, ["mp4_time_ns", "vrs_device_time_ns"])
    if len(table) == 0:
        raise SlifeError(f"{where}: no rows")
    mp4 = table.numbers["mp4_time_ns"]
    dev = table.numbers["vrs_device_time_ns"]
    for name, col in (("mp4_time_ns", mp4), ("vrs_device_time_ns", dev)):
        d = np.diff(col)
        if (d <= 0).any():
            i = int(np.flatnonzero(d <= 0)[0])
            raise SlifeError(f"{where}: line {table.row(i + 1)}: {name} {col[i + 1]:.0f} is not after {col[i]:.0f} "
                             f"on line {table.row(i)}; times must be strictly increasing")  # fmt: skip
    return TimeSync(where, np.round(mp4).astype(np.int64), np.round(dev).astype(np.int64))
