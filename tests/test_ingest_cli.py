"""`slife ingest` and `slife info` through slife.cli.main."""

from __future__ import annotations

import json

import numpy as np
import pytest

from slife.cli import main
from slife.ingest.synth import write_index_video
from slife.life import Life


@pytest.fixture()
def clips(tmp_path):
    return [write_index_video(tmp_path / f"c{i}.mp4", np.arange(48) / 24.0) for i in range(2)]


def test_ingest_then_info(tmp_path, clips, capsys):
    life = tmp_path / "life"
    rc = main(["ingest", str(life), *map(str, clips), "--fps", "4", "--short-side", "48", "--name", "yes"])
    out, err = capsys.readouterr()
    assert rc == 0
    assert "ingested" in out and "2 ingested" in out and str(clips[1]) in out
    assert "frame/s" in err  # the progress bar
    assert Life.open(life).name == "yes"  # a YAML-looking name stays a string
    assert len(Life.open(life)) == 2 * 8
    assert main(["info", str(life), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["videos"] == 2 and info["frames"] == 16 and info["fps"] == 4.0
    assert info["resolutions"] == ["64x48"] and info["hours"] == pytest.approx(4.0 / 3600, abs=1e-4)
    # a second run skips both, quietly
    assert main(["ingest", str(life), *map(str, clips), "--fps", "4", "--short-side", "48", "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_failed_video_exits_1_and_reports_on_stderr(tmp_path, clips, capsys):
    missing = tmp_path / "gone.mp4"
    rc = main(["ingest", str(tmp_path / "life"), str(clips[0]), str(missing), "--quiet"])
    out, err = capsys.readouterr()
    assert rc == 1
    assert f"{missing}: no such file" in err and out == ""
    assert len(Life.open(tmp_path / "life")) == 4  # 2 s at 2 fps


def test_config_file_and_set_and_conflicts(tmp_path, clips, capsys):
    cfg = tmp_path / "ingest.yaml"
    cfg.write_text("fps: 1.0\nshort_side: 32\njpeg_quality: 80\n")
    life = tmp_path / "life"
    args = ["ingest", str(life), str(clips[0]), "--config", str(cfg), "--set", "short_side=40", "--quiet"]
    assert main(args) == 0
    lf = Life.open(life)
    assert lf.fps == 1.0 and lf.manifest.short_side == 40 and lf[0].image.shape == (40, 53, 3)
    capsys.readouterr()
    # a different fps for the same life: refused with exit status 2, nothing changed
    assert main(["ingest", str(life), str(clips[0]), str(clips[1]), "--fps", "2", "--quiet"]) == 2
    assert "fps" in capsys.readouterr().err
    assert len(Life.open(life).manifest.videos) == 1
    assert main(["ingest", str(life), str(clips[0]), "--set", "jpeg_quality=0", "--quiet"]) == 2
    assert "jpeg_quality" in capsys.readouterr().err


def test_life_dir_that_is_a_file_is_refused(tmp_path, clips, capsys):
    target = tmp_path / "life.txt"
    target.write_text("x")
    assert main(["ingest", str(target), str(clips[0]), "--quiet"]) == 2
    assert f"{target}: exists and is not a directory" in capsys.readouterr().err


def test_ingest_jobs_decodes_in_parallel_and_commits_in_order(tmp_path):
    """--jobs 2: the same life as one video after the other (frames, timestamps, source frames,
    order), a broken video reported and the others kept, and a re-run that skips everything."""
    clips = [write_index_video(tmp_path / f"c{i}.mp4", np.arange(24 + 12 * i) / 24.0) for i in range(3)]
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    videos = [str(clips[0]), str(broken), str(clips[1]), str(clips[2])]
    flags = ["--fps", "4", "--short-side", "48", "--quiet"]
    assert main(["ingest", str(tmp_path / "seq"), *videos, *flags]) == 1  # 1: a video failed
    assert main(["ingest", str(tmp_path / "par"), *videos, *flags, "--jobs", "2"]) == 1
    seq, par = Life.open(tmp_path / "seq"), Life.open(tmp_path / "par")
    assert [v.source for v in par.manifest.videos] == [v.source for v in seq.manifest.videos] == [videos[0], *videos[2:]]
    assert [v.order for v in par.manifest.videos] == [0, 2, 3]
    np.testing.assert_array_equal(par.timestamps, seq.timestamps)
    assert len(par) == len(seq) == 4 * (1 + 1.5 + 2)
    for i in range(len(par)):
        np.testing.assert_array_equal(par.image(i), seq.image(i))
    assert not list((tmp_path / "par" / "shards").glob("*.partial"))
    stamp = (tmp_path / "par" / "life.json").stat().st_mtime_ns
    assert main(["ingest", str(tmp_path / "par"), str(clips[0]), str(broken), str(clips[1]), str(clips[2]), *flags,
                 "--jobs", "2"]) == 1  # fmt: skip
    assert (tmp_path / "par" / "life.json").stat().st_mtime_ns == stamp  # finished videos skipped, nothing rewritten


def test_the_command_line_and_ingest_run_without_importing_torch(tmp_path, clips):
    """`slife ingest` (and `slife --help`) must not pay for torch, scipy or OpenGL at start: the parser
    registers every subcommand, whose heavy imports belong in the handlers."""
    import subprocess
    import sys

    code = ("import sys; from slife.cli import main; "
            f"rc = main(['ingest', {str(tmp_path / 'life')!r}, {str(clips[0])!r}, '--fps', '4', '--short-side', '48', '--quiet']); "
            "print(rc, sorted(m for m in ('torch', 'scipy', 'OpenGL', 'matplotlib') if m in sys.modules))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split(None, 1) == ["0", "[]\n"]
