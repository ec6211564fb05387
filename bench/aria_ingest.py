"""An HD-EPIC-like video with its MPS outputs, ingested with poses, against the ffmpeg CLI (issue #20).

Generates a panning H.264 clip at 1408 x 1408, 30 fps (``bench/ingest.py``'s peer clip), and for it an
MPS folder: a 1 kHz closed-loop trajectory, an online calibration, ``--points`` semi-dense points per
minute and the clip's ``_mp4_to_vrs_time_ns.csv``. Times, each as a process of its own (best of
``--repeats``, interleaved): the ffmpeg CLI extracting the frames alone (``-vf fps=2,scale=-2:256``),
``slife ingest`` without and with ``--aria-mps``. Target: ``slife ingest --aria-mps`` no slower than
the ffmpeg CLI.

    python bench/aria_ingest.py [--seconds 60] [--repeats 2] [--work DIR]
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import ffmpeg_time, make_peer_clip  # noqa: E402  (bench/ingest.py)

from slife.geometry import quaternions_to_rotations  # noqa: E402
from slife.world.mps_export import POINTS_HEADER, calibration_line, trajectory_csv  # noqa: E402

SIZE, FPS = 1408, 30
LENS = np.array([1216.0, 1439.5, 1441.2, 0.38, -0.21, 0.05, 0.12, -0.09, 0.02, 4e-4, -2e-4, -6e-4, 1e-4, 5e-4, -1e-4])


def fake_mps(folder: Path, clip: Path, seconds: float, points_per_minute: int) -> Path:
    """MPS files covering ``clip`` (device clock = MP4 time + an offset); returns the time-sync file."""
    rng = np.random.default_rng(0)
    slam = folder / "slam"
    slam.mkdir(parents=True, exist_ok=True)
    offset = 5_000_000_123_456
    ms = 1_000_000
    samples = np.arange(offset - 100 * ms, offset + int((seconds + 0.1) * 1e9), ms, dtype=np.int64)
    t = (samples - samples[0]) / 1e9
    poses = np.tile(np.eye(4), (len(t), 1, 1))
    poses[:, :3, 3] = np.stack([np.sin(t / 7), 0.1 * np.sin(t * 2), np.cos(t / 5)], axis=1)
    yaw = 0.5 * np.sin(t / 3)
    q = np.stack([np.cos(yaw / 2), np.zeros_like(yaw), np.sin(yaw / 2), np.zeros_like(yaw)], axis=1)
    poses[:, :3, :3] = quaternions_to_rotations(q)
    (slam / "closed_loop_trajectory.csv").write_bytes(trajectory_csv(samples, poses, "graph-0"))
    T = np.eye(4)
    T[:3, 3] = [0.05, -0.01, 0.0]
    lines = [calibration_line(LENS, T, int(s // 1000), old_layout=False) for s in samples[:: 60_000]]
    (slam / "online_calibration.jsonl").write_text("\n".join(lines) + "\n")
    n = int(points_per_minute * seconds / 60)
    xyz = rng.uniform(-4, 4, (n, 3))
    body = "\n".join(f"{k},graph-0,{p[0]:.5f},{p[1]:.5f},{p[2]:.5f},0.0004,0.01" for k, p in enumerate(xyz))
    (slam / "semidense_points.csv.gz").write_bytes(gzip.compress((",".join(POINTS_HEADER) + "\n" + body + "\n").encode()))
    frames = int(round(seconds * FPS))
    mp4 = (np.arange(frames) * 1e9 / FPS).round().astype(np.int64)
    sync = clip.with_name(clip.stem + "_mp4_to_vrs_time_ns.csv")
    sync.write_text("mp4_time_ns,relative_vrs_device_time_ns,vrs_device_time_ns\n"
                    + "\n".join(f"{m},{m},{m + offset}" for m in mp4) + "\n")  # fmt: skip
    return sync


def slife_time(clip: Path, life: Path, mps: Path | None) -> float:
    shutil.rmtree(life, ignore_errors=True)
    cmd = [sys.executable, "-m", "slife", "ingest", str(life), str(clip), "--fps", "2", "--short-side", "256", "--quiet"]
    if mps is not None:
        cmd += ["--aria-mps", str(mps)]
    t = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t


def main() -> None:
    import imageio_ffmpeg

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--points", type=int, default=50_000, help="semi-dense points per minute of video")
    ap.add_argument("--work", type=Path, default=None, help="keep the clip and MPS here (default: a temporary folder)")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="slife-aria-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    clip = work / "P00-bench.mp4"
    if not clip.exists():
        t = time.perf_counter()
        make_peer_clip(clip, args.seconds, (SIZE, SIZE), fps=FPS)
        print(f"clip: {args.seconds:g} s at {SIZE}x{SIZE} {FPS} fps in {time.perf_counter() - t:.1f} s")
    fake_mps(work / "mps", clip, args.seconds, args.points)
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    times: dict[str, list[float]] = {"ffmpeg": [], "slife": [], "slife --aria-mps": []}
    for _ in range(args.repeats):
        times["ffmpeg"].append(ffmpeg_time(exe, clip, work / "ff", 2.0, 256, skip=False)[0])
        times["slife"].append(slife_time(clip, work / "life", None))
        times["slife --aria-mps"].append(slife_time(clip, work / "life_aria", work / "mps"))
    best = {k: min(v) for k, v in times.items()}
    for k, v in best.items():
        print(f"{k:18s} {v:7.2f} s   ({best['ffmpeg'] / v:.2f}x ffmpeg)")
    ok = best["slife --aria-mps"] <= best["ffmpeg"]
    print(f"target: slife --aria-mps no slower than the ffmpeg CLI -> {'PASS' if ok else 'FAIL'}")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
