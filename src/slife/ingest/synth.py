"""Small videos with known content, for tests and benchmarks.

``write_index_video`` writes frames whose pixels spell their own index in binary (``BITS`` vertical
bars, white = 1), at the presentation times you choose (constant or variable frame rate, any start
offset). ``read_index`` recovers the index from a decoded, resized, JPEG-compressed frame, so a test
can check exactly which source frames a life kept.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np

BITS = 10  # indices 0..1023


def index_image(index: int, width: int = 128, height: int = 96) -> np.ndarray:
    """H x W x 3 uint8: BITS vertical bars, bar b white iff bit b (most significant first) of ``index``."""
    if not 0 <= index < 2**BITS:
        raise ValueError(f"index {index} does not fit in {BITS} bits")
    bits = [(index >> (BITS - 1 - b)) & 1 for b in range(BITS)]
    cols = (np.arange(width) * BITS) // width
    row = np.asarray(bits, dtype=np.uint8)[cols] * 255
    return np.repeat(np.repeat(row[None, :, None], height, axis=0), 3, axis=2)


def read_index(image: np.ndarray) -> int:
    """Inverse of :func:`index_image` for a (resized, compressed) copy of it."""
    gray = np.asarray(image, dtype=np.float64).mean(axis=2)
    width = gray.shape[1]
    value = 0
    for b in range(BITS):
        lo, hi = (b * width) // BITS, ((b + 1) * width) // BITS
        margin = max(1, (hi - lo) // 4)  # bar centres only: edges blur under resize + compression
        value = (value << 1) | int(gray[:, lo + margin : hi - margin].mean() > 127.5)
    return value


def write_index_video(
    path: str | Path,
    times: Sequence[float],
    *,
    size: tuple[int, int] = (128, 96),
    codec: str = "libx264",
    time_base: Fraction = Fraction(1, 1000),
    gop: int = 10,
    options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
    indices: Sequence[int] | None = None,
) -> Path:
    """Write frame ``i`` (showing ``indices[i]``, default ``i``) at presentation time ``times[i]`` seconds.

    ``times`` may start at any offset and be irregular (variable frame rate). The container follows
    the file suffix (.mp4, .mkv, .ts, ...); ``container_options={"movflags": "faststart"}`` puts an
    MP4's index first, so that a truncated copy stays readable.
    """
    import av

    path = Path(path)
    width, height = size
    times = [float(t) for t in times]
    if any(b <= a for a, b in zip(times, times[1:])):
        raise ValueError("times must be strictly increasing")
    pts = [round(t / time_base) for t in times]
    indices = list(range(len(times))) if indices is None else list(indices)
    gaps = np.diff(times) if len(times) > 1 else np.array([1 / 30])
    rate = Fraction(1 / float(np.median(gaps))).limit_denominator(1000)
    codec_options = {"preset": "ultrafast", "crf": "12"} if codec == "libx264" else {}
    codec_options.update(options or {})
    with av.open(str(path), "w", options=container_options or {}) as out:
        stream = out.add_stream(codec, rate=rate, options=codec_options)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
        stream.codec_context.gop_size = gop
        # frame threads: PyAV's default (sliced threads) makes x264 write one slice per core of the
        # machine; pass options={"slices": "N"} for N slices per frame on every machine
        stream.codec_context.thread_type = "FRAME"
        for p, index in zip(pts, indices):
            frame = av.VideoFrame.from_ndarray(index_image(index, width, height), format="rgb24")
            frame.pts = p
            frame.time_base = time_base
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path
