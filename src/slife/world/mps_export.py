"""Export a life with depth and poses in Project Aria's MPS / HD-EPIC layout, to test the Aria ingest.

``export_mps(life, out)`` writes, for each video ``k`` of the life::

    Videos/P00/<name>-<k>.mp4                      fisheye RGB video (FisheyeRadTanThinPrism, resampled
                                                   from the life's pinhole frames), one MP4 frame per frame
    Videos/P00/<name>-<k>_mp4_to_vrs_time_ns.csv   MP4 time -> device time (a clock offset per video)
    SLAM/multi/multi.zip (or the folder itself):
        vrs_to_multi_slam.json                     {"/data/<name>-<k>_anonymized.vrs": "<k>"}
        <k>/slam/closed_loop_trajectory.csv        1 kHz T_world_device of a device whose RGB camera is
                                                   offset and rotated from it; graph_uid alternates between
                                                   two world frames (video k in graph k % 2, whose world
                                                   is moved by a rigid transform)
        <k>/slam/online_calibration.jsonl          camera-rgb (+ a SLAM camera); odd videos in the older
                                                   layout (each line a quoted JSON string)
        <k>/slam/semidense_points.csv.gz           points from the depth maps with noise and quality
                                                   columns (10 % outliers the default filter removes)

Everything returned in :class:`MpsExport` is the ground truth the tests compare the ingest against.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zipfile
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from slife.geometry import backproject, interpolate_poses, pixel_centers, rotations_to_quaternions
from slife.ingest.aria.fisheye import Fisheye624, to_aria_pixels

CALIB_SIZE = 2880
# a mild fisheye in normalised units (monotonic well past the exported field of view)
DISTORTION = np.array([0.12, -0.03, 0.01, 0.0, 0.0, 0.0, 2e-4, -3e-4, 1e-4, 0.0, -1e-4, 0.0])


def _rotation(axis: np.ndarray, deg: float) -> np.ndarray:
    a = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    t = np.deg2rad(deg)
    K = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + np.sin(t) * K + (1 - np.cos(t)) * K @ K


def _se3(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, t
    return T


@dataclass
class MpsExport:
    """Where the export is and the ground truth behind it."""

    root: Path
    videos: list[Path]
    time_sync: list[Path]
    mps: Path  # the multi-SLAM zip (or folder)
    model: Fisheye624  # the fisheye in continuous pixels of the exported video (side ``size``)
    size: int
    device_camera: np.ndarray  # T_device_camera (4, 4)
    graph_of_video: list[int]
    world_of_graph: list[np.ndarray]  # T_graphworld_lifeworld per graph
    clock_offset_ns: list[int]
    frames_without_pose: list[int] = field(default_factory=list)  # per video, at its end


def fisheye_for(K: np.ndarray, width: int, height: int, size: int) -> Fisheye624:
    """A fisheye of side ``size`` whose inscribed circle sees 90 % of the pinhole's narrower half-angle."""
    half = 0.9 * np.arctan(min(width / K[0, 0], height / K[1, 1]) / 2.0)
    p = np.concatenate([[1.0, size / 2.0, size / 2.0], DISTORTION])
    radius_unit = np.linalg.norm(Fisheye624(p).project(np.array([[np.sin(half), 0.0, np.cos(half)]]))[0] - size / 2.0)
    p[0] = (size / 2.0) / radius_unit
    return Fisheye624(p)


def _resample(image: np.ndarray, K: np.ndarray, rays: np.ndarray, size: int) -> np.ndarray:
    """The fisheye image whose pixel rays are ``rays`` (size², 3), sampled bilinearly from the pinhole image."""
    h, w = image.shape[:2]
    xy = rays @ K.T
    xy = xy[:, :2] / xy[:, 2:3] - 0.5
    x0 = np.clip(np.floor(xy[:, 0]).astype(int), 0, w - 2)
    y0 = np.clip(np.floor(xy[:, 1]).astype(int), 0, h - 2)
    fx = np.clip(xy[:, 0] - x0, 0, 1)[:, None]
    fy = np.clip(xy[:, 1] - y0, 0, 1)[:, None]
    im = image.astype(np.float64)
    out = (im[y0, x0] * (1 - fx) * (1 - fy) + im[y0, x0 + 1] * fx * (1 - fy)
           + im[y0 + 1, x0] * (1 - fx) * fy + im[y0 + 1, x0 + 1] * fx * fy)  # fmt: skip
    inside = (xy[:, 0] >= -0.5) & (xy[:, 0] <= w - 0.5) & (xy[:, 1] >= -0.5) & (xy[:, 1] <= h - 0.5)
    out[~inside] = 0
    return np.clip(np.round(out), 0, 255).astype(np.uint8).reshape(size, size, 3)


def _write_video(path: Path, images: list[np.ndarray], fps: float) -> None:
    import av

    rate = Fraction(fps).limit_denominator(1000)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=rate, options={"preset": "ultrafast", "crf": "10"})
        stream.width, stream.height, stream.pix_fmt = images[0].shape[1], images[0].shape[0], "yuv420p"
        for k, image in enumerate(images):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = k
            frame.time_base = 1 / rate
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def _csv(rows: list[list], header: list[str]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode()


TRAJ_HEADER = ["graph_uid", "tracking_timestamp_us", "utc_timestamp_ns", "tx_world_device", "ty_world_device",
               "tz_world_device", "qx_world_device", "qy_world_device", "qz_world_device", "qw_world_device",
               "device_linear_velocity_x_odometry", "device_linear_velocity_y_odometry",
               "device_linear_velocity_z_odometry", "angular_velocity_x_device", "angular_velocity_y_device",
               "angular_velocity_z_device", "gravity_x_world", "gravity_y_world", "gravity_z_world", "quality_score"]  # fmt: skip
POINTS_HEADER = ["uid", "graph_uid", "px_world", "py_world", "pz_world", "inv_dist_std", "dist_std"]
GRAPH_UIDS = ["8f2a6c1e-0b57-4a39-9d0e-3f1c2b7a5e11", "c41d9e07-6a2b-4f88-b1c5-90e3d7a2f4b6"]


def trajectory_csv(times_ns: np.ndarray, poses: np.ndarray, graph_uid: str) -> bytes:
    """``closed_loop_trajectory.csv`` bytes: one row per sample (times on the device clock, ns)."""
    q = rotations_to_quaternions(poses[:, :3, :3])  # w x y z
    t = poses[:, :3, 3]
    n = len(times_ns)
    cols = [np.full(n, graph_uid, dtype=object), (times_ns // 1000).astype(np.int64), times_ns + 1_700_000_000_000_000_000,
            *t.T, q[:, 1], q[:, 2], q[:, 3], q[:, 0], *np.zeros((9, n)), np.full(n, 0.9)]  # fmt: skip
    fmt = lambda v: f"{v:.9f}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = [",".join(TRAJ_HEADER)]
    for row in zip(*[c.tolist() for c in cols]):
        lines.append(",".join(fmt(v) for v in row))
    return ("\n".join(lines) + "\n").encode()


def calibration_line(params: np.ndarray, device_camera: np.ndarray, t_us: int, old_layout: bool) -> str:
    q = rotations_to_quaternions(device_camera[None, :3, :3])[0]
    cams = [
        {"Label": "camera-slam-left", "Projection": {"Name": "FisheyeRadTanThinPrism", "Params": [240.0, 320, 240] + [0.0] * 12},
         "T_Device_Camera": {"Translation": [0.0, 0.0, 0.0], "UnitQuaternion": [1.0, [0.0, 0.0, 0.0]]}},
        {"Label": "camera-rgb", "Projection": {"Name": "FisheyeRadTanThinPrism", "Params": [float(x) for x in params]},
         "T_Device_Camera": {"Translation": [float(x) for x in device_camera[:3, 3]],
                             "UnitQuaternion": [float(q[0]), [float(x) for x in q[1:]]]}},
    ]  # fmt: skip
    obj = {"tracking_timestamp_us": t_us, "utc_timestamp_ns": t_us * 1000 + 1, "CameraCalibrations": cams,
           "ImuCalibrations": []}  # fmt: skip
    text = json.dumps(obj)
    return json.dumps(text) if old_layout else text


def export_mps(life, out: str | Path, *, size: int = 64, seed: int = 0, point_stride: int = 4, noise: float = 0.002,
               outliers: float = 0.1, drop_tail: int = 2, as_zip: bool = True, rotate: int = 0) -> MpsExport:  # fmt: skip
    """Write ``life`` (with depth and poses) in the MPS / HD-EPIC layout under ``out`` (see the module doc).
    ``drop_tail``: the last video's trajectory ends this many frames early (frames with no pose);
    ``rotate``: the MP4 is the sensor image turned this many quarter turns clockwise (HD-EPIC: 1)."""
    from slife.ingest.aria.frames import rotate_pixels, rotation_display_from_raw

    out = Path(out)
    rng = np.random.default_rng(seed)
    vid_dir = out / "Videos" / "P00"
    slam_root = out / "SLAM" / "multi"
    vid_dir.mkdir(parents=True, exist_ok=True)
    slam_root.mkdir(parents=True, exist_ok=True)
    K0 = life.intrinsics[0]
    first = life.video_frames(0)[0]
    h, w = life.depth(int(first)).shape
    model = fisheye_for(K0, w, h, size)
    aria_params = to_aria_pixels(model, size, CALIB_SIZE)
    device_camera = _se3(_rotation([1.0, 0.3, 0.2], 12.0), np.array([0.06, -0.015, 0.008]))
    camera_device = np.linalg.inv(device_camera)
    worlds = [np.eye(4), _se3(_rotation([0.2, 0.1, 1.0], 40.0), np.array([2.5, -1.0, 0.7]))]
    # fisheye pixel -> ray in the sensor camera; the MP4 pixel (after the turn) samples that ray
    R_disp = rotation_display_from_raw(rotate)
    raw_xy = pixel_centers(size, size)
    shown = rotate_pixels(raw_xy, size, size, rotate)
    order = np.lexsort((shown[:, 0], shown[:, 1]))  # MP4 pixels row-major
    rays = model.unproject(raw_xy[order])  # sensor-camera rays; the pinhole camera of the life is the sensor camera
    files: dict[str, bytes] = {}
    multi: dict[str, str] = {}
    videos, syncs, offsets, graphs, tails = [], [], [], [], []
    fps = life.fps
    for v, entry in enumerate(life.manifest.videos):
        idx = life.video_frames(v)
        name = f"{life.name}-{v}"
        images = []
        for i in idx:
            K = life.intrinsics[i]
            images.append(_resample(life.image(int(i)), K, rays, size))
        path = vid_dir / f"{name}.mp4"
        _write_video(path, images, fps)
        videos.append(path)
        # device clock: a different, non-millisecond offset per video
        offset = int(1_000_000_000_000 * (v + 1) + 123_456_789 + 437_000 * (v + 1))
        local_ns = np.round(life.local_timestamps[idx] * 1e9).astype(np.int64)
        dev_ns = offset + local_ns
        rows = [[int(m), int(d - dev_ns[0]), int(d)] for m, d in zip(local_ns, dev_ns)]
        sync = vid_dir / f"{name}_mp4_to_vrs_time_ns.csv"
        sync.write_bytes(_csv(rows, ["mp4_time_ns", "relative_vrs_device_time_ns", "vrs_device_time_ns"]))
        syncs.append(sync)
        offsets.append(offset)
        # 1 kHz device trajectory in the video's graph world, through every frame's pose
        g = v % 2
        graphs.append(g)
        world = worlds[g]
        dev_poses = world @ life.poses[idx] @ camera_device
        tail = drop_tail if v == len(life.manifest.videos) - 1 else 0
        tails.append(tail)
        ms = 1_000_000
        t0 = (dev_ns[0] // ms - 20) * ms
        t1 = (dev_ns[-1] // ms + 20) * ms if tail == 0 else (dev_ns[len(idx) - 1 - tail] // ms + 1) * ms
        samples = np.arange(t0, t1 + 1, ms, dtype=np.int64)
        ext_t = np.concatenate([[dev_ns[0] - 30_000_000], dev_ns, [dev_ns[-1] + 30_000_000]])
        ext_p = np.concatenate([dev_poses[:1], dev_poses, dev_poses[-1:]])
        q = rotations_to_quaternions(ext_p[:, :3, :3])
        base = ext_t[0]
        traj, _ = interpolate_poses(samples - base, ext_t - base, ext_p[:, :3, 3], q)
        prefix = f"{v}/slam"
        files[f"{prefix}/closed_loop_trajectory.csv"] = trajectory_csv(samples, traj, GRAPH_UIDS[g])
        lines = [calibration_line(aria_params, device_camera, int(t // 1000), old_layout=v % 2 == 1)
                 for t in samples[:: max(1, len(samples) // 3)]]  # fmt: skip
        files[f"{prefix}/online_calibration.jsonl"] = ("\n".join(lines) + "\n").encode()
        files[f"{prefix}/semidense_points.csv.gz"] = gzip.compress(
            _points_csv(life, idx, world, GRAPH_UIDS[g], rng, point_stride, noise, outliers, uid0=1_000_000 * v))
        multi[f"/data/{name}_anonymized.vrs"] = str(v)
    files["vrs_to_multi_slam.json"] = json.dumps(multi).encode()
    if as_zip:
        mps = slam_root / "multi.zip"
        with zipfile.ZipFile(mps, "w", zipfile.ZIP_DEFLATED) as z:
            for rel, data in files.items():
                z.writestr(f"multi/{rel}", data)
    else:
        mps = slam_root
        for rel, data in files.items():
            (mps / rel).parent.mkdir(parents=True, exist_ok=True)
            (mps / rel).write_bytes(data)
    return MpsExport(out, videos, syncs, mps, model, size, device_camera, graphs, worlds, offsets, tails)


def _points_csv(life, idx: np.ndarray, world: np.ndarray, graph_uid: str, rng: np.random.Generator, stride: int,
                noise: float, outliers: float, uid0: int) -> bytes:  # fmt: skip
    """Semi-dense points: depth samples of the video's frames, one per 1 cm cell, with noise and std columns."""
    pts = []
    for i in idx:
        depth = life.depth(int(i)).astype(np.float64)
        xy = pixel_centers(*depth.shape, stride)
        z = depth[(xy[:, 1] - 0.5).astype(int), (xy[:, 0] - 0.5).astype(int)]
        ok = z > 0
        pts.append(backproject(xy[ok], z[ok], life.intrinsics[i], life.poses[i]))
    xyz = np.concatenate(pts)
    _, first = np.unique(np.floor(xyz / 0.01).astype(np.int64), axis=0, return_index=True)
    xyz = xyz[np.sort(first)]
    xyz = xyz + rng.normal(0, noise, xyz.shape)
    inv_std = rng.uniform(1e-5, 8e-4, len(xyz))
    dist_std = rng.uniform(1e-3, 0.04, len(xyz))
    bad = rng.random(len(xyz)) < outliers
    xyz[bad] += rng.normal(0, 0.5, (int(bad.sum()), 3))
    inv_std[bad] = rng.uniform(2e-3, 1e-2, int(bad.sum()))
    dist_std[bad] = rng.uniform(0.06, 0.5, int(bad.sum()))
    xyz = xyz @ world[:3, :3].T + world[:3, 3]
    rows = [[uid0 + k, graph_uid, f"{p[0]:.6f}", f"{p[1]:.6f}", f"{p[2]:.6f}", f"{a:.3e}", f"{b:.4f}"]
            for k, (p, a, b) in enumerate(zip(xyz, inv_std, dist_std))]  # fmt: skip
    return _csv(rows, POINTS_HEADER)
