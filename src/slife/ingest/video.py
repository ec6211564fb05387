"""Open and decode one source video with PyAV, robustly: validate the input, decode packet by packet,
survive corrupt packets and truncated files, and report what was recovered.

Times are local: seconds since the stream's origin (its ``start_time``, or the first frame if that is
earlier or unknown), so streams that start at a nonzero timestamp (MPEG-TS, edited MP4) begin at 0.
"""

from __future__ import annotations

import contextlib
import heapq
import math
import os
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator

import av
import av.logging

from slife.errors import SlifeError

# Demuxers that read single images, not videos: a PNG renamed to .mp4 opens as ``png_pipe``.
_IMAGE_FORMATS = {"image2", "image2pipe", "tty", "apng"}
# A stored duration this much shorter than declared means the stream broke off (truncated file).
_TRUNCATION_SLACK_S = 0.5
# After a decode error, frames are dropped until the next intact keyframe, but for at most this long
# (streams with intra refresh have no keyframes; typical keyframe intervals are 0.5-10 s).
_MAX_DAMAGE_S = 10.0


class VideoInputError(SlifeError):
    """A source video is missing, not a video, or has no decodable frame; the message names the file."""


@dataclass(frozen=True)
class VideoProbe:
    """What the container says about the video stream, before decoding."""

    width: int
    height: int
    codec: str
    container_format: str
    declared_duration: float | None  # seconds (stream duration, or container duration if single-stream)
    nominal_frame_duration: float | None  # 1 / average frame rate
    estimated_frames: int | None  # for progress bars only
    sample_aspect: Fraction | None = None  # pixel width / height when not square (anamorphic video)


@dataclass
class DecodeStats:
    """Filled in while decoding; read after the frame iterator is exhausted."""

    decoded: int = 0  # frames the decoder produced (source_frame indices count these)
    dropped: int = 0  # of those, damaged frames left out (corrupt, or referencing a lost packet)
    bad_packets: int = 0
    first_error: str | None = None
    first_error_time: float | None = None  # local time of the last good frame before the first error
    demux_error: str | None = None  # the container could not be read to its end
    last_time: float | None = None
    last_end: float | None = None  # last_time + that frame's duration
    threading: str | None = None  # decoder threading chosen from the first packet: slice, frame, none


@contextlib.contextmanager
def quiet_ffmpeg() -> Iterator[None]:
    """Silence FFmpeg's own log lines (we report errors ourselves); restores the previous level."""
    previous = av.logging.get_level()
    av.logging.set_level(av.logging.PANIC)
    try:
        yield
    finally:
        av.logging.set_level(previous)


def open_video(path: str | Path) -> tuple[Any, Any]:
    """Open ``path`` and return ``(container, video_stream)``, or raise VideoInputError.

    The decoder's threading is chosen later, from the first packet (see :func:`configure_threads`).
    """
    path = Path(path)
    if not path.exists():
        raise VideoInputError(f"{path}: no such file")
    if path.is_dir():
        raise VideoInputError(f"{path}: is a directory, not a video file")
    if path.stat().st_size == 0:
        raise VideoInputError(f"{path}: empty file, not a video")
    try:
        container = av.open(str(path), mode="r")
    except av.error.FFmpegError as exc:
        raise VideoInputError(f"{path}: not a readable video file ({_ffmpeg_reason(exc)})") from exc
    except OSError as exc:
        raise VideoInputError(f"{path}: cannot open: {exc.strerror or exc}") from exc
    fmt = container.format.name
    if fmt in _IMAGE_FORMATS or fmt.endswith("_pipe"):
        container.close()
        raise VideoInputError(f"{path}: is a still image ({fmt.removesuffix('_pipe')}), not a video")
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["no"]
        container.close()
        raise VideoInputError(f"{path}: has no video stream ({', '.join(kinds)} streams only)")
    return container, container.streams.video[0]


def configure_threads(stream: Any, first_packet: bytes | None, threaded: bool = True, cores: int | None = None) -> str:
    """Set the decoder's threading before it opens; returns ``"slice"``, ``"frame"`` or ``"none"``.

    One thread per usable core (FFmpeg's default, cores + 1, oversubscribes small machines: 1130 vs
    1290 frames/s on 2 cores). Slice threads when an H.264 frame has exactly one slice per core (as
    PyAV's and other sliced-thread encoders write on a machine of that size): the slices decode in
    parallel with no waiting on reference frames (2 slices on 2 cores: 1250 vs 1160 frames/s).
    Frame threads otherwise: with one slice there is nothing to split (830 vs 1290), and uneven or
    many slices keep threads idle (3 slices: 850 vs 1060; 4: 940 vs 1000). Measured on 640x360
    H.264, see docs/ingest.md.
    """
    cores = cores or _usable_cpus()
    if not threaded or cores == 1:
        stream.thread_type, stream.thread_count = "NONE", 1
        return "none"
    cc = stream.codec_context
    slices = h264_slices_per_frame(cc.extradata, first_packet) if cc.name == "h264" and first_packet else None
    if slices == cores:
        stream.thread_type, stream.thread_count = "SLICE", cores
        return "slice"
    stream.thread_type, stream.thread_count = "AUTO", cores  # FFmpeg picks frame threads when it can
    return "frame"


def h264_slices_per_frame(extradata: bytes | None, packet: bytes) -> int | None:
    """Coded slices (VCL NAL units) in one H.264 access unit, or None if it cannot be parsed.

    Handles both packet layouts: length-prefixed NAL units (MP4/MKV, ``avcC`` extradata gives the
    prefix size) and Annex B start codes (MPEG-TS, raw ``.h264``).
    """
    data = bytes(packet)
    if extradata and len(extradata) >= 5 and extradata[0] == 1:  # avcC: lengthSizeMinusOne in byte 4
        size = (extradata[4] & 0x03) + 1
        types = []
        i = 0
        while i + size < len(data):
            length = int.from_bytes(data[i : i + size], "big")
            i += size
            if length <= 0 or i + length > len(data):
                return None
            types.append(data[i] & 0x1F)
            i += length
    else:
        parts = re.split(b"\x00\x00\x01", data)[1:]
        if not parts:
            return None
        types = [part[0] & 0x1F for part in parts if part]
    slices = sum(1 for t in types if t in (1, 5))  # non-IDR and IDR coded slices
    return slices or None


def _usable_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _ffmpeg_reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).rstrip(".")


def _rate(stream: Any) -> Fraction | None:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return Fraction(rate)
    return None


def probe(container: Any, stream: Any) -> VideoProbe:
    """Stream metadata used for durations, truncation checks and progress estimates."""
    declared = None
    if stream.duration and stream.time_base:
        declared = float(stream.duration * stream.time_base)
    elif container.duration and len(container.streams) == 1:
        # e.g. Matroska: the segment duration counts from timestamp 0, not from the first frame
        start = container.start_time / av.time_base if container.start_time else 0.0
        declared = max(0.0, container.duration / av.time_base - start)
    rate = _rate(stream)
    frame_dur = float(1 / rate) if rate else None
    est = stream.frames or None
    if est is None and declared and rate:
        est = int(math.ceil(declared * rate))
    cc = stream.codec_context
    return VideoProbe(
        width=int(cc.width or stream.width or 0),
        height=int(cc.height or stream.height or 0),
        codec=cc.name,
        container_format=container.format.name,
        declared_duration=declared,
        nominal_frame_duration=frame_dur,
        estimated_frames=est,
        sample_aspect=_sample_aspect(stream),
    )


def _sample_aspect(stream: Any) -> Fraction | None:
    """The stream's sample (pixel) aspect ratio if it is known and not square."""
    sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    if not sar or sar <= 0 or sar == 1:
        return None
    return Fraction(sar)


# Codecs whose FFmpeg decoders honour skip_frame = NONREF (frames no other frame references).
SKIP_CODECS = {"h264", "hevc", "mpeg2video", "mpeg4", "vp8", "vp9", "av1"}
# "auto" skips only when the stream has at least this many frames per kept frame: the nearest
# reference frame is then at most ~2 source frames from the nearest frame, under 10 % of the gap
# between kept frames (60 fps -> 2 fps: 30 frames per kept frame).
SKIP_MIN_RATIO = 10.0


def skip_nonref(mode: str, info: VideoProbe, fps: float) -> bool:
    """Whether to skip decoding non-reference frames (``IngestConfig.skip_frames``)."""
    if mode == "none":
        return False
    if mode == "nonref":
        return True
    rate = 1.0 / info.nominal_frame_duration if info.nominal_frame_duration else 0.0
    return info.codec in SKIP_CODECS and rate >= SKIP_MIN_RATIO * fps


def decode_frames(
    container: Any, stream: Any, info: VideoProbe, stats: DecodeStats, threaded: bool = True, skip: bool = False,
    cores: int | None = None,
) -> Iterator[tuple[int, float, Any]]:
    """Yield ``(index, local_time, av.VideoFrame)`` in presentation order.

    A packet that fails to decode is counted in ``stats``; frames after it are dropped until the next
    intact keyframe (they would show concealment garbage; at most ``_MAX_DAMAGE_S`` of them), as are
    frames the decoder flags corrupt. The decoder's threading is set from the first packet
    (:func:`configure_threads`, recorded in ``stats.threading``). A read error of the container ends
    the stream. Frames without a timestamp get the previous one plus the nominal frame duration.

    ``skip``: the decoder drops non-reference frames (FFmpeg ``skip_frame = NONREF``); the index of a
    frame is still its position in presentation order: the number of packets with an earlier
    timestamp (every packet is demuxed; a decoder shows frames in timestamp order).
    """
    origin: int | None = None
    last_index, shown = -1, 0
    pending_pts: list[int] = []  # with skip: timestamps of packets not yet shown (a min-heap)
    damaged = False
    damaged_since: float | None = None  # local time of the first damaged frame
    tb = float(stream.time_base) if stream.time_base else 0.0
    step = info.nominal_frame_duration or 0.0
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except (av.error.FFmpegError, OSError) as exc:
            stats.demux_error = _ffmpeg_reason(exc)
            _note_error(stats, stats.demux_error)
            packet = None  # flush what the decoder still holds
        if stats.threading is None:
            has_data = packet is not None and packet.size > 0
            stats.threading = configure_threads(stream, bytes(packet) if has_data else None, threaded, cores)
            if skip:
                stream.codec_context.skip_frame = "NONREF"
        if skip and packet is not None and packet.pts is not None:
            heapq.heappush(pending_pts, int(packet.pts))
        try:
            frames = stream.decode(packet)
        except av.error.FFmpegError as exc:
            stats.bad_packets += 1
            _note_error(stats, _ffmpeg_reason(exc))
            damaged = True
            frames = []
        for frame in frames:
            corrupt = frame.is_corrupt
            if corrupt:
                damaged = True
                _note_error(stats, "corrupt frame")
            elif damaged and frame.key_frame:
                damaged = False
            pts = frame.pts
            if pts is not None and origin is None:
                start = stream.start_time
                origin = pts if start is None else min(int(start), pts)
            if pts is not None and origin is not None and tb:
                time = (pts - origin) * tb
            else:
                time = (stats.last_time + step) if stats.last_time is not None else 0.0
            if stats.last_time is not None and time < stats.last_time:
                time = stats.last_time
            if damaged and damaged_since is None:
                damaged_since = time
            if damaged and not corrupt and time - damaged_since > _MAX_DAMAGE_S:
                damaged = False  # no keyframe in sight (intra refresh?): keep frames again
            if not damaged:
                damaged_since = None
            dur = frame.duration * tb if frame.duration and tb else step
            stats.last_time = time
            stats.last_end = time + dur
            if skip:  # frames before this one in presentation order, decoded or not
                while pending_pts and frame.pts is not None and pending_pts[0] <= frame.pts:
                    if heapq.heappop(pending_pts) < frame.pts:
                        shown += 1
                index = max(shown, last_index + 1)
                shown = index + 1
            else:
                index = stats.decoded
            last_index = index
            stats.decoded += 1
            if corrupt or damaged:
                stats.dropped += 1
                continue
            yield index, time, frame
        if packet is None:
            break


def _note_error(stats: DecodeStats, message: str) -> None:
    if stats.first_error is None:
        stats.first_error = message
        stats.first_error_time = stats.last_time if stats.last_time is not None else 0.0


def stream_duration(info: VideoProbe, stats: DecodeStats) -> tuple[float, bool]:
    """``(duration, broken)``: seconds of video the life covers, and whether the stream broke off early.

    An intact stream covers its declared duration (or its last frame's end if that is later or the
    duration is unknown). A stream that broke off (read error, corrupt packets, or decoded frames
    ending well before the declared duration) covers only what was recovered.
    """
    recovered = stats.last_end or 0.0
    declared = info.declared_duration
    slack = max(_TRUNCATION_SLACK_S, 2 * (info.nominal_frame_duration or 0.0))
    short = declared is not None and recovered < declared - slack
    broken = bool(stats.demux_error or stats.bad_packets or stats.dropped or short)
    if broken or declared is None:
        return recovered, broken
    return max(declared, recovered), broken


def output_size(
    width: int, height: int, short_side: int, sample_aspect: Fraction | None = None
) -> tuple[int, int]:
    """``(width, height)`` of a stored frame: square pixels, short side scaled to ``short_side``.

    A non-square ``sample_aspect`` (pixel width / height, e.g. 4:3 for anamorphic 480x360 shown as
    640x360) stretches the width to the display proportions first. The display aspect ratio is kept
    and nothing is upscaled beyond the display size.
    """
    sar = sample_aspect if sample_aspect and sample_aspect > 0 else Fraction(1)
    display_w, display_h = width * sar, Fraction(height)
    scale = min(Fraction(1), short_side / min(display_w, display_h))
    return max(1, round(display_w * scale)), max(1, round(display_h * scale))
