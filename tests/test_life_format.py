"""The life frame store: round trips, atomic commits, manifest rules, bad files."""

import tarfile
from pathlib import Path

import numpy as np
import pytest

from slife.life import Life, LifeFormatError, LifeWriter, read_manifest


def _frame(value: int, h: int = 48, w: int = 64) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = value
    img[..., 1] = np.arange(w, dtype=np.uint8)[None, :] * 2
    return img


def _write_video(writer: LifeWriter, source: str, order: int, n: int, fps: float = 2.0, **extra) -> None:
    shard = writer.open_shard(source, order)
    for i in range(n):
        shard.add(_frame(10 * i + order), i / fps, **extra)
    writer.add_video(shard, source=source, order=order, duration=n / fps)


def test_round_trip_two_videos_global_timestamps(tmp_path: Path) -> None:
    writer = LifeWriter(tmp_path, fps=2.0, short_side=48)
    _write_video(writer, "a.mp4", 0, 4)
    _write_video(writer, "b.mp4", 1, 3)
    life = Life.open(tmp_path)
    assert len(life) == 7
    assert life.hours == pytest.approx(3.5 / 3600)
    np.testing.assert_allclose(life.timestamps, [0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0])
    np.testing.assert_array_equal(life.video_index, [0, 0, 0, 0, 1, 1, 1])
    frame = life[5]
    assert frame.image.shape == (48, 64, 3) and frame.image.dtype == np.uint8
    assert abs(int(frame.image[..., 0].mean()) - 11) <= 2  # JPEG keeps the flat channel value
    assert frame.timestamp == pytest.approx(2.5)
    assert life[-1].timestamp == pytest.approx(3.0)
    with pytest.raises(IndexError):
        life.image(7)
    # the shard is a plain tar that standard tools can list
    names = tarfile.open(tmp_path / life.manifest.videos[0].shard).getnames()
    assert names == ["000000.jpg", "000001.jpg", "000002.jpg", "000003.jpg"]


def test_depth_and_poses_round_trip(tmp_path: Path) -> None:
    writer = LifeWriter(tmp_path, fps=1.0, short_side=48, kind="world", has_depth=True, has_poses=True)
    shard = writer.open_shard("gen", 0)
    for i in range(3):
        pose = np.eye(4)
        pose[:3, 3] = [i, 0, 0]
        depth = np.full((48, 64), 1.234 + i)
        depth[0, 0] = 0.0
        shard.add(_frame(i), float(i), depth=depth, pose=pose, intrinsics=np.diag([50.0, 50.0, 1.0]))
    writer.add_video(shard, source="gen", order=0, duration=3.0)
    life = Life.open(tmp_path)
    depth = life.depth(2)
    assert depth.dtype == np.float32 and depth[1, 1] == pytest.approx(3.234, abs=1e-3)
    assert depth[0, 0] == 0.0
    assert life.poses is not None and life.poses[2, 0, 3] == 2.0
    assert life.intrinsics is not None and life.intrinsics[1, 0, 0] == 50.0


def test_shard_missing_depth_is_rejected(tmp_path: Path) -> None:
    writer = LifeWriter(tmp_path, fps=1.0, short_side=48, has_depth=True)
    shard = writer.open_shard("gen", 0)
    with pytest.raises(ValueError, match="depth"):
        shard.add(_frame(0), 0.0)
    shard.abort()


def test_aborted_shard_leaves_no_trace_and_keeps_finished_videos(tmp_path: Path) -> None:
    writer = LifeWriter(tmp_path, fps=2.0, short_side=48)
    _write_video(writer, "a.mp4", 0, 2)
    with pytest.raises(RuntimeError):
        with writer.open_shard("b.mp4", 1) as shard:
            shard.add(_frame(1), 0.0)
            raise RuntimeError("killed mid-video")
    assert sorted(p.name for p in (tmp_path / "shards").iterdir()) == ["00000_a.npz", "00000_a.tar"]
    assert len(Life.open(tmp_path)) == 2


def test_leftover_partials_are_cleaned_on_reopen(tmp_path: Path) -> None:
    writer = LifeWriter(tmp_path, fps=2.0, short_side=48)
    shard = writer.open_shard("b.mp4", 0)
    shard.add(_frame(1), 0.0)  # simulate a kill: never committed nor aborted
    assert list((tmp_path / "shards").glob("*.partial"))
    writer.close()  # a killed writer's lock goes with its process
    LifeWriter(tmp_path, fps=2.0, short_side=48)
    assert not list((tmp_path / "shards").glob("*.partial"))
    assert len(Life.open(tmp_path)) == 0


def test_reingest_replaces_entry_and_old_files(tmp_path: Path) -> None:
    writer = LifeWriter(tmp_path, fps=2.0, short_side=48)
    _write_video(writer, "a.mp4", 0, 2)
    _write_video(writer, "a.mp4", 0, 5)
    manifest = read_manifest(tmp_path)
    assert manifest is not None and [v.frames for v in manifest.videos] == [5]
    assert len(Life.open(tmp_path)) == 5
    # the new shard got fresh names (the old files stayed valid until the manifest switched), and the
    # replaced files are gone
    assert manifest.videos[0].shard == "shards/00000_a-r1.tar"
    assert sorted(p.name for p in (tmp_path / "shards").iterdir()) == ["00000_a-r1.npz", "00000_a-r1.tar"]


def test_conflicting_fps_is_refused(tmp_path: Path) -> None:
    LifeWriter(tmp_path, fps=2.0, short_side=48)
    with pytest.raises(LifeFormatError, match="life.json.*fps=2.0"):
        LifeWriter(tmp_path, fps=5.0, short_side=48)


def test_bad_life_directories_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(LifeFormatError, match="not a life directory"):
        Life.open(tmp_path)
    (tmp_path / "life.json").write_text("{not json")
    with pytest.raises(LifeFormatError, match="life.json: malformed"):
        Life.open(tmp_path)


def test_truncated_shard_is_reported(tmp_path: Path) -> None:
    writer = LifeWriter(tmp_path, fps=2.0, short_side=48)
    _write_video(writer, "a.mp4", 0, 3)
    life = Life.open(tmp_path)
    tar = tmp_path / life.manifest.videos[0].shard
    tar.write_bytes(tar.read_bytes()[:700])
    with pytest.raises(LifeFormatError, match="truncated"):
        Life.open(tmp_path).image(2)
