"""Decoder threading chosen from the first packet: slices per H.264 frame, and the decoded frames do
not depend on the choice."""

from __future__ import annotations

import av
import numpy as np
import pytest

from slife.ingest import video as video_mod
from slife.ingest.synth import read_index, write_index_video
from slife.ingest.video import DecodeStats, decode_frames, h264_slices_per_frame, open_video, probe


def first_packet(path) -> tuple[bytes | None, bytes]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packet = next(p for p in container.demux(stream) if p.size)
        return stream.codec_context.extradata, bytes(packet)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".ts"])  # length-prefixed (avcC) and Annex B
@pytest.mark.parametrize("slices", [1, 2, 3])
def test_slices_per_frame_read_from_the_bitstream(tmp_path, suffix, slices):
    path = write_index_video(tmp_path / f"v{suffix}", np.arange(12) / 24.0, options={"slices": str(slices)})
    extradata, packet = first_packet(path)
    assert h264_slices_per_frame(extradata, packet) == slices


def test_slices_per_frame_rejects_garbage():
    avcc = bytes([1, 0x64, 0, 0x1E, 0xFF])  # 4-byte NAL lengths
    assert h264_slices_per_frame(avcc, b"\x00\x00\x10\x00\x65") is None  # length runs past the packet
    assert h264_slices_per_frame(None, b"no start code here") is None
    assert h264_slices_per_frame(None, b"\x00\x00\x01\x06\x05") is None  # SEI only: no coded slice


@pytest.mark.parametrize(
    ("cores", "slices", "threaded", "expected"),
    [(2, 2, True, ("slice", 2)), (2, 1, True, ("frame", 2)), (2, 3, True, ("frame", 2)),
     (4, 2, True, ("frame", 4)), (1, 2, True, ("none", 1)), (2, 2, False, ("none", 1))],
)
def test_threading_follows_slices_and_cores(tmp_path, monkeypatch, cores, slices, threaded, expected):
    path = write_index_video(tmp_path / "v.mp4", np.arange(12) / 24.0, options={"slices": str(slices)})
    monkeypatch.setattr(video_mod, "_usable_cpus", lambda: cores)
    container, stream = open_video(path)
    with container:
        stats = DecodeStats()
        frames = list(decode_frames(container, stream, probe(container, stream), stats, threaded=threaded))
        assert (stats.threading, stream.thread_count) == expected
        assert stream.thread_type.name == {"slice": "SLICE", "frame": "AUTO", "none": "NONE"}[expected[0]]
        assert [read_index(f.to_ndarray(format="rgb24")) for _, _, f in frames] == list(range(12))


def test_decoded_pixels_do_not_depend_on_threading(tmp_path, monkeypatch):
    path = write_index_video(tmp_path / "v.mp4", np.arange(30) / 30.0, options={"slices": "2", "crf": "30"})
    monkeypatch.setattr(video_mod, "_usable_cpus", lambda: 2)
    decoded = {}
    for threaded in (True, False):
        container, stream = open_video(path)
        with container:
            stats = DecodeStats()
            frames = decode_frames(container, stream, probe(container, stream), stats, threaded=threaded)
            decoded[stats.threading] = [(i, t, f.to_ndarray(format="rgb24")) for i, t, f in frames]
    assert set(decoded) == {"slice", "none"}
    for (i, t, a), (j, u, b) in zip(decoded["slice"], decoded["none"], strict=True):
        assert (i, t) == (j, u) and np.array_equal(a, b)
