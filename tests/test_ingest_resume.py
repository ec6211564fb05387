"""Resumable ingest: skip finished videos, redo changed ones, survive interruptions, refuse conflicts."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from slife.errors import SlifeError
from slife.ingest import IngestConfig, ingest_life
from slife.ingest import pipeline
from slife.ingest.synth import read_index, write_index_video
from slife.life import Life, LifeFormatError, read_manifest

CFG = IngestConfig(fps=2.0, short_side=64)


@pytest.fixture()
def clips(tmp_path) -> list[Path]:
    return [
        write_index_video(tmp_path / f"clip{i}.mp4", np.arange(60) / 30.0, indices=range(100 * i, 100 * i + 60))
        for i in range(3)
    ]


def leftovers(life_dir: Path) -> list[str]:
    return sorted(p.name for p in (life_dir / "shards").iterdir() if p.name.endswith(".partial"))


def test_rerun_skips_finished_videos(tmp_path, clips):
    life_dir = tmp_path / "life"
    first = ingest_life(life_dir, clips, CFG, progress=False)
    assert [v.status for v in first.videos] == ["ingested"] * 3
    stamps = {p.name: p.stat().st_mtime_ns for p in (life_dir / "shards").iterdir()}
    again = ingest_life(life_dir, clips, CFG, progress=False)
    assert [v.status for v in again.videos] == ["skipped"] * 3
    assert [v.frames for v in again.videos] == [v.frames for v in first.videos]
    assert {p.name: p.stat().st_mtime_ns for p in (life_dir / "shards").iterdir()} == stamps


def test_changed_file_is_reingested(tmp_path, clips):
    life_dir = tmp_path / "life"
    ingest_life(life_dir, clips, CFG, progress=False)
    write_index_video(clips[1], np.arange(90) / 30.0, indices=range(500, 590))  # longer, new content
    os.utime(clips[1], ns=(1, 10**18))  # make sure the mtime differs even on coarse clocks
    report = ingest_life(life_dir, clips, CFG, progress=False)
    assert [v.status for v in report.videos] == ["skipped", "ingested", "skipped"]
    life = Life.open(life_dir)
    assert len(life.manifest.videos) == 3
    assert [read_index(life.image(int(i))) for i in life.video_frames(1)] == [500, 515, 530, 545, 560, 575, 589]
    assert read_index(life.image(int(life.video_frames(2)[0]))) == 200


def test_append_videos_to_a_life(tmp_path, clips):
    life_dir = tmp_path / "life"
    ingest_life(life_dir, clips[:1], CFG, progress=False)
    report = ingest_life(life_dir, clips, CFG, progress=False)
    assert [v.status for v in report.videos] == ["skipped", "ingested", "ingested"]
    assert len(Life.open(life_dir).manifest.videos) == 3


def test_interrupted_ingest_loses_nothing_and_resumes(tmp_path, clips, monkeypatch):
    life_dir = tmp_path / "life"
    real_write = pipeline._write
    calls = {"n": 0}

    def failing_write(shard, item):
        calls["n"] += 1
        if calls["n"] == 5 + 5 + 3:  # videos 0 and 1 have 5 frames each: die inside video 2
            raise KeyboardInterrupt
        real_write(shard, item)

    monkeypatch.setattr(pipeline, "_write", failing_write)
    with pytest.raises(KeyboardInterrupt):
        ingest_life(life_dir, clips, CFG, progress=False)
    manifest = read_manifest(life_dir)
    assert [v.order for v in manifest.videos] == [0, 1]
    assert leftovers(life_dir) == []
    assert sorted(p.name for p in (life_dir / "shards").iterdir()) == [
        "00000_clip0.npz", "00000_clip0.tar", "00001_clip1.npz", "00001_clip1.tar",
    ]
    life = Life.open(life_dir)
    assert [read_index(life.image(i)) for i in range(len(life))] == [0, 15, 30, 45, 59, 100, 115, 130, 145, 159]

    monkeypatch.setattr(pipeline, "_write", real_write)
    report = ingest_life(life_dir, clips, CFG, progress=False)
    assert [v.status for v in report.videos] == ["skipped", "skipped", "ingested"]
    assert len(Life.open(life_dir)) == 15


def test_killed_ingest_partial_files_are_cleaned(tmp_path, clips):
    life_dir = tmp_path / "life"
    ingest_life(life_dir, clips[:1], CFG, progress=False)
    # what a SIGKILL mid-video leaves behind: partial shard files that the manifest does not list
    (life_dir / "shards" / "00001_clip1.tar.partial").write_bytes(b"half a tar")
    (life_dir / "shards" / "00001_clip1.npz.partial").write_bytes(b"")
    assert len(Life.open(life_dir)) == 5  # readers never see them
    report = ingest_life(life_dir, clips, CFG, progress=False)
    assert [v.status for v in report.videos] == ["skipped", "ingested", "ingested"]
    assert leftovers(life_dir) == []


def test_conflicting_fps_is_refused(tmp_path, clips):
    life_dir = tmp_path / "life"
    ingest_life(life_dir, clips[:1], CFG, progress=False)
    with pytest.raises(LifeFormatError, match="fps"):
        ingest_life(life_dir, clips, IngestConfig(fps=5.0, short_side=64), progress=False)
    assert len(read_manifest(life_dir).videos) == 1


def test_reordering_and_duplicates_are_refused(tmp_path, clips):
    life_dir = tmp_path / "life"
    ingest_life(life_dir, clips[:2], CFG, progress=False)
    with pytest.raises(SlifeError, match="order cannot change") as refused:
        ingest_life(life_dir, [clips[1], clips[0]], CFG, progress=False)
    assert refused.traceback  # its frames (and the writer in them) are alive: the lock must be released anyway
    ingest_life(life_dir, clips, CFG, progress=False)
    with pytest.raises(SlifeError, match="listed twice"):
        ingest_life(tmp_path / "other", [clips[0], clips[0]], CFG, progress=False)
    assert [v.order for v in read_manifest(life_dir).videos] == [0, 1, 2]
