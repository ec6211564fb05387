"""Videos -> life: decode each source video, keep frames on a fixed-rate time grid, resize, JPEG-encode
and commit one shard per video through :class:`slife.life.LifeWriter`.

One video at a time: the main thread demuxes and decodes (FFmpeg threads inside), a small thread pool
converts the kept frames (swscale resize to RGB, display rotation) and JPEG-encodes them; the main
thread writes them into the shard in order. Each video is committed atomically, so an interrupted
ingest keeps every finished video and a re-run continues where it stopped.
"""

from __future__ import annotations

import collections
import io
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence


from slife.errors import SlifeError
from slife.ingest.config import IngestConfig
from slife.ingest.select import Candidate, NearestSelector
from slife.ingest.video import (
    DecodeStats,
    VideoInputError,
    decode_frames,
    open_video,
    output_size,
    probe,
    quiet_ffmpeg,
    skip_nonref,
    stream_duration,
)
from slife.life import MANIFEST, FinishedShard, LifeWriter, ShardWriter, source_fingerprint

STATUSES = ("ingested", "recovered", "skipped", "failed")


@dataclass
class VideoResult:
    """What happened to one source video."""

    source: str
    order: int
    status: str  # one of STATUSES; "recovered" = stored, but the stream was corrupt or truncated
    frames: int = 0  # frames stored in the life
    decoded: int = 0  # source frames decoded
    duration: float = 0.0  # seconds of video the life covers
    seconds: float = 0.0  # wall-clock time spent
    message: str | None = None  # error (failed) or warning (recovered)


@dataclass
class IngestReport:
    life_dir: Path
    videos: list[VideoResult] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)  # videos already in the life but not in this run
    seconds: float = 0.0

    @property
    def failed(self) -> list[VideoResult]:
        return [v for v in self.videos if v.status == "failed"]

    @property
    def decoded(self) -> int:
        return sum(v.decoded for v in self.videos)

    @property
    def frames(self) -> int:
        return sum(v.frames for v in self.videos if v.status != "skipped")


def ingest_life(
    life_dir: str | Path,
    videos: Sequence[str | Path],
    cfg: IngestConfig | None = None,
    progress: bool = True,
) -> IngestReport:
    """Ingest ``videos`` (in life order) into ``life_dir``; returns a per-video report.

    With ``cfg.aria.mps`` set, every video's Aria MPS inputs (SLAM folder, time-sync file) are resolved
    before anything is decoded, and each video's poses, intrinsics and semi-dense points are written
    into its shard before it is committed (slife.ingest.aria).

    Finished videos (same source path, unchanged file) are skipped; changed files are re-ingested.
    A video that cannot be read at all is reported as failed and the others still go in. Raises
    SlifeError for problems with the life itself (conflicting fps/short side, reordered videos).
    """
    cfg = cfg or IngestConfig()
    life_dir = Path(life_dir)
    sources = [os.path.abspath(os.fspath(v)) for v in videos]
    _check_duplicates(sources, videos)
    if life_dir.exists() and not life_dir.is_dir():
        raise SlifeError(f"{life_dir}: exists and is not a directory; a life is a directory")
    geometry = None
    if cfg.aria.mps is not None:
        from slife.ingest.aria.frames import AriaGeometry

        geometry = AriaGeometry(cfg.aria, list(videos))
    writer = LifeWriter(life_dir, name=cfg.name, fps=cfg.fps, short_side=cfg.short_side, kind="video",
                        has_poses=geometry is not None, meta=geometry.meta() if geometry else None)  # fmt: skip
    try:  # a refused run releases the life (its lock) before it says why
        _check_order(writer, sources, life_dir / MANIFEST)
        if geometry is not None and writer.manifest.meta.get("aria") != geometry.meta()["aria"]:
            raise SlifeError(f"{life_dir / MANIFEST}: the life was ingested with Aria settings "
                             f"{writer.manifest.meta.get('aria')}, this run asks for {geometry.meta()['aria']}; "
                             "use a new directory")  # fmt: skip
    except BaseException:
        writer.close()
        raise
    report = IngestReport(life_dir=life_dir)
    report.unlisted = [v.source for v in writer.manifest.videos if v.source not in sources]
    start = time.perf_counter()
    bar = _progress_bar(progress, writer.manifest.name)
    try:
        with quiet_ffmpeg():
            if cfg.jobs > 1 and len(videos) > 1:
                report.videos = _ingest_parallel(writer, [Path(v) for v in videos], sources, cfg, bar, geometry)
            else:
                for order, (path, source) in enumerate(zip(videos, sources)):
                    report.videos.append(ingest_video(writer, Path(path), source, order, cfg, bar, geometry))
    finally:
        writer.close()
        if bar is not None:
            bar.close()
    report.seconds = time.perf_counter() - start
    return report


def _decode_job(life_dir: Path, stem: str, path: Path, source: str, order: int, cfg: IngestConfig,
                cores: int) -> DecodedVideo:  # fmt: skip
    with quiet_ffmpeg():
        return decode_video(life_dir, stem, path, source, order, cfg, None, cores)


def _ingest_parallel(writer: LifeWriter, paths: list[Path], sources: list[str], cfg: IngestConfig, bar: Any,
                     geometry: Any = None) -> list[VideoResult]:  # fmt: skip
    """``cfg.jobs`` worker processes decode videos into ``.partial`` shards (decoder threads and JPEG
    threads split so the workers do not oversubscribe the cores); this process, which holds the
    life's lock, commits them in life order as they come."""
    import dataclasses
    import multiprocessing
    import signal
    from concurrent.futures import ProcessPoolExecutor

    from slife.workers import ignore_in_worker, starting_workers

    from slife.ingest.video import _usable_cpus

    jobs = min(cfg.jobs, len(paths))
    cores = max(1, _usable_cpus() // jobs)
    worker_cfg = dataclasses.replace(cfg, threads=min(cfg.threads, cores) if cfg.threads else 0)
    results: list[VideoResult | None] = [None] * len(paths)
    fingerprints = [source_fingerprint(p) if p.is_file() else "" for p in paths]
    quiet = (signal.SIGINT,)  # Ctrl-C reaches the workers too: this process alone answers it (slife.workers)
    pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"), initializer=ignore_in_worker,
                               initargs=(quiet,))  # fmt: skip
    try:
        futures: dict[int, Future] = {}
        with starting_workers(quiet):
            for order, (path, source, fp) in enumerate(zip(paths, sources, fingerprints)):
                results[order] = _skipped(writer, source, order, fp)
                if results[order] is None:
                    futures[order] = pool.submit(_decode_job, writer.life_dir, writer.shard_stem(source, order), path,
                                                 source, order, worker_cfg, cores)  # fmt: skip
        for order in sorted(futures):  # commit in life order, each as soon as it and all before it are done
            decoded = futures[order].result()
            results[order] = commit_video(writer, decoded, fingerprints[order], geometry)
            if bar is not None:
                bar.update(decoded.result.decoded)
    except BaseException:  # Ctrl-C, a failed commit: stop the decoding now (their .partial files are cleaned)
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            proc.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return [r for r in results if r is not None]


def _check_duplicates(sources: list[str], videos: Sequence[str | Path]) -> None:
    seen: dict[str, int] = {}
    for i, src in enumerate(sources):
        if src in seen:
            raise SlifeError(
                f"{videos[i]}: listed twice (positions {seen[src] + 1} and {i + 1}); a life lists each video once"
            )
        seen[src] = i


def _check_order(writer: LifeWriter, sources: list[str], where: Path) -> None:
    """Refuse a video list that reorders the videos already in the life (timestamps would change)."""
    for entry in writer.manifest.videos:
        listed = sources[entry.order] if entry.order < len(sources) else None
        if listed is not None and listed != entry.source:
            raise SlifeError(
                f"{where}: video #{entry.order + 1} of this life is {entry.source}, but this run lists "
                f"{listed} at that position; a life's video order cannot change (use a new directory)"
            )
        if listed is None and entry.source in sources:
            raise SlifeError(
                f"{where}: {entry.source} is video #{entry.order + 1} of this life but position "
                f"{sources.index(entry.source) + 1} in this run; a life's video order cannot change"
            )


def _progress_bar(enabled: bool, name: str) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=0, unit="frame", desc=f"ingest {name}", dynamic_ncols=True, smoothing=0.1)


def ingest_video(
    writer: LifeWriter, path: Path, source: str, order: int, cfg: IngestConfig, bar: Any = None, geometry: Any = None
) -> VideoResult:
    """Ingest one video as shard number ``order``; input problems give a "failed" result, not an exception."""
    fingerprint = source_fingerprint(path) if path.is_file() else ""
    skipped = _skipped(writer, source, order, fingerprint)
    if skipped is not None:
        return skipped
    decoded = decode_video(writer.life_dir, writer.shard_stem(source, order), path, source, order, cfg, bar)
    return commit_video(writer, decoded, fingerprint, geometry)


def _skipped(writer: LifeWriter, source: str, order: int, fingerprint: str) -> VideoResult | None:
    """The "skipped" result when ``source`` is already in the life, unchanged, at position ``order``."""
    done = writer.finished(source, fingerprint) if fingerprint else None
    if done is None or done.order != order:
        return None
    return VideoResult(source, order, "skipped", frames=done.frames, duration=done.duration)


@dataclass
class DecodedVideo:
    """One video decoded into a shard that is not committed yet (picklable: a worker's answer)."""

    result: VideoResult
    shard: FinishedShard | None  # None when the video failed


def decode_video(life_dir: Path, stem: str, path: Path, source: str, order: int, cfg: IngestConfig, bar: Any = None,
                 cores: int | None = None) -> DecodedVideo:  # fmt: skip
    """Decode ``path`` into the shard ``shards/<stem>`` (``.partial`` files, see FinishedShard);
    ``cores``: the decoder's threads (default: every usable core)."""
    t0 = time.perf_counter()
    result = VideoResult(source=source, order=order, status="failed")
    shard = None
    try:
        container, stream = open_video(path)
        try:
            shard = _decode_to_shard(life_dir, stem, container, stream, path, cfg, bar, result, cores)
        finally:
            container.close()
    except VideoInputError as exc:
        result.status, result.message = "failed", str(exc)
    finally:
        result.seconds = time.perf_counter() - t0
    return DecodedVideo(result, shard)


def commit_video(writer: LifeWriter, decoded: DecodedVideo, fingerprint: str, geometry: Any = None) -> VideoResult:
    """Record a decoded video in the life (atomically; replaces an older entry of the same source).
    ``geometry`` (an AriaGeometry) first adds the frames' poses to the uncommitted shard; if that fails
    the shard is removed and the error raised (the videos before it stay committed)."""
    result = decoded.result
    if decoded.shard is None:
        return result
    if geometry is not None:
        shard = decoded.shard
        try:
            summary = geometry.annotate(result.source, shard.life_dir / f"{shard.npz_rel}.partial", shard.width, shard.height)
        except BaseException:
            shard.abort()
            raise
        if summary["posed"] < summary["frames"]:
            note = f"{summary['frames'] - summary['posed']} of {summary['frames']} frames have no pose (outside the trajectory or in a gap)"
            result.message = f"{result.message}; {note}" if result.message else note
    entry = writer.add_video(decoded.shard, source=result.source, order=result.order, duration=result.duration,
                             fingerprint=fingerprint, warning=result.message)  # fmt: skip
    result.frames, result.duration = entry.frames, entry.duration
    return result


def _decode_to_shard(
    life_dir: Path,
    stem: str,
    container: Any,
    stream: Any,
    path: Path,
    cfg: IngestConfig,
    bar: Any,
    result: VideoResult,
    cores: int | None,
) -> FinishedShard:
    info = probe(container, stream)
    if bar is not None:
        bar.total = (bar.total or 0) + (info.estimated_frames or 0)
        bar.set_postfix_str(path.name, refresh=False)
    stats = DecodeStats()
    with ShardWriter(life_dir, stem) as shard:  # an exception or Ctrl-C removes the partial shard
        skip = skip_nonref(cfg.skip_frames, info, cfg.fps)
        frames = decode_frames(container, stream, info, stats, threaded=cfg.decode_threads, skip=skip, cores=cores)
        duration, broken = _fill_shard(shard, frames, info, stats, cfg, bar)
        result.decoded = stats.decoded
        if len(shard) == 0:
            shard.abort()
            reason = stats.first_error or "the stream holds no frames"
            raise VideoInputError(f"{path}: no frame could be decoded ({reason}); the video is corrupt or empty")
        finished = shard.finish()
    result.status = "recovered" if broken else "ingested"
    result.frames, result.duration = len(finished), duration
    result.message = _warning(info.declared_duration, duration, stats) if broken else None
    return finished


def _fill_shard(
    shard: ShardWriter, frames: Any, info: Any, stats: DecodeStats, cfg: IngestConfig, bar: Any
) -> tuple[float, bool]:
    """Select, convert (in the pool) and append frames in order; returns ``(duration, broken)``."""
    selector = NearestSelector(cfg.fps)
    convert = _Converter(cfg, info.sample_aspect)
    pool = ThreadPoolExecutor(cfg.threads, thread_name_prefix="slife-jpeg") if cfg.threads > 0 else None
    pending: collections.deque[tuple[Candidate, Future | bytes]] = collections.deque()
    max_pending = 4 * max(cfg.threads, 1)  # bounds the decoded frames held in memory

    def submit(cands: list[Candidate]) -> None:
        for cand in cands:
            pending.append((cand, pool.submit(convert, cand.payload) if pool else convert(cand.payload)))

    try:
        unreported = 0
        for index, local_time, frame in frames:
            submit(selector.push(index, local_time, frame))
            while len(pending) > max_pending:
                _write(shard, pending.popleft())
            unreported += 1
            if bar is not None and unreported >= 16:
                bar.update(unreported)
                unreported = 0
        duration, broken = stream_duration(info, stats)
        submit(selector.finish(duration))
        while pending:
            _write(shard, pending.popleft())
        if bar is not None and unreported:
            bar.update(unreported)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return duration, broken


def _write(shard: ShardWriter, item: tuple[Candidate, Future | bytes]) -> None:
    cand, job = item
    jpeg = job.result() if isinstance(job, Future) else job
    shard.add(None, cand.time, jpeg=jpeg, source_frame=cand.index)


def _warning(declared: float | None, duration: float, stats: DecodeStats) -> str:
    """Says how many frames were recovered and where the stream broke."""
    if stats.first_error is not None:
        at = stats.first_error_time or 0.0
        if stats.demux_error:
            what = f"read error ({stats.demux_error})"
        elif stats.bad_packets:
            what = f"{stats.bad_packets} undecodable packet(s)"
        else:
            what = "corrupt frames"
        cause = f"stream broke at {at:.2f} s: {what}"
        if stats.dropped:
            cause += f"; {stats.dropped} damaged frame(s) dropped (up to the next intact keyframe, at most 10 s)"
        covered = f"{duration:.2f} s" + (f" of {declared:.2f} s declared" if declared else "")
    else:
        cause = f"stream ends at {duration:.2f} s of {declared or 0.0:.2f} s declared (truncated file?)"
        covered = f"{duration:.2f} s"
    return f"{cause}; recovered {stats.decoded - stats.dropped} frames covering {covered}"


class _Converter:
    """Decoded frame -> JPEG bytes of the resized RGB image; one swscale context per thread."""

    _TRANSPOSE = {1: "ROTATE_90", 2: "ROTATE_180", 3: "ROTATE_270"}  # counter-clockwise turns

    def __init__(self, cfg: IngestConfig, sample_aspect: Fraction | None = None):
        self.short_side = cfg.short_side
        self.sample_aspect = sample_aspect
        self.quality = cfg.jpeg_quality
        self.interpolation = cfg.interpolation.upper()
        self.autorotate = cfg.autorotate
        self._local = threading.local()

    def __call__(self, frame: Any) -> bytes:
        from av.video.reformatter import VideoReformatter
        from PIL import Image

        reformatter = getattr(self._local, "reformatter", None)
        if reformatter is None:
            reformatter = self._local.reformatter = VideoReformatter()
        width, height = output_size(frame.width, frame.height, self.short_side, self.sample_aspect)
        # planar GBR out of swscale, interleaved by Pillow: cheaper than packed rgb24 (640x360 ->
        # 455x256: 0.37 vs 1.1 ms; rgb24 has a fast path only for even widths, and that one is less
        # precise); at odd widths the pixels are identical
        planar = reformatter.reformat(  # one swscale thread: the pool already runs one frame per core
            frame, width=width, height=height, format="gbrp", interpolation=self.interpolation, threads=1
        )
        g, b, r = (Image.frombuffer("L", (width, height), p, "raw", "L", p.line_size, 1) for p in planar.planes)
        image = Image.merge("RGB", (r, g, b))
        turns = round((getattr(frame, "rotation", 0) or 0) / 90) % 4 if self.autorotate else 0
        if turns:  # display matrix: show the frame rotated counter-clockwise by frame.rotation degrees
            image = image.transpose(getattr(Image.Transpose, self._TRANSPOSE[turns]))
        buf = io.BytesIO()
        image.save(buf, format="JPEG", quality=self.quality)
        return buf.getvalue()
