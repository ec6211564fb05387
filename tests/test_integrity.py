"""Files a user is handed are untrusted (issue #12): they can't run code or make slife delete data."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from slife.config import to_dict
from slife.errors import SlifeError
from slife.life import Life, LifeFormatError, LifeWriter, read_manifest
from slife.locking import LOCK_FILE, DirLock, LockedError
from slife.model.checkpoint import CheckpointError, list_checkpoints, load_model, read_checkpoint, save_checkpoint
from slife.model.config import model_config
from slife.model.croco import CroCo
from tests.test_life_format import _write_video


class _RunsCommand:
    """Unpickling this calls os.system: what a malicious checkpoint would carry."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _tiny_payload() -> dict:
    model = CroCo(model_config("tiny", img_size=32, patch_size=16, enc_dim=16, enc_heads=2, enc_depth=1,
                               dec_dim=16, dec_heads=2, dec_depth=1))  # fmt: skip
    return {"model_config": to_dict(model.cfg), "model": model.state_dict(), "step": 3, "hours_seen": 0.5}


def test_a_checkpoint_with_a_pickled_command_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "run" / "checkpoints" / "hours_0.5.pt"
    save_checkpoint(path, {**_tiny_payload(), "extra": _RunsCommand(marker)})
    for read in (read_checkpoint, load_model, lambda p: list_checkpoints(p.parent.parent)):
        with pytest.raises(CheckpointError, match=r"hours_0\.5\.pt: refused.*could run code"):
            read(path)
    assert not marker.exists()
    # the user can vouch for a file they made: then it loads (and, being theirs, runs what it holds)
    read_checkpoint(path, trust=True)
    assert marker.exists()


def test_slife_checkpoints_load_without_trust(tmp_path: Path) -> None:
    path = tmp_path / "ok.pt"
    save_checkpoint(path, {**_tiny_payload(), "rng": {"torch": torch.get_rng_state()}, "train_config": {"a": [1, 2.0]}})
    model, meta = load_model(path)
    assert meta["step"] == 3 and isinstance(model, CroCo)


def test_list_checkpoints_rejects_non_numeric_metadata(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "checkpoints" / "hours_1.pt", {**_tiny_payload(), "hours_seen": "lots"})
    with pytest.raises(CheckpointError, match="hours_1.pt: hours_seen/step are not numbers"):
        list_checkpoints(tmp_path)


@pytest.mark.parametrize("bad", ["/etc/hostname", "../outside/file", "shards/../../x", "shards/sub/x.tar", ".x", 7])
def test_manifest_paths_outside_the_life_are_refused_and_nothing_is_deleted(tmp_path: Path, bad) -> None:
    life_dir, outside = tmp_path / "life", tmp_path / "outside" / "file"
    outside.parent.mkdir()
    outside.write_text("precious")
    with LifeWriter(life_dir, fps=2.0, short_side=48) as writer:
        _write_video(writer, "a.mp4", 0, 2)
    data = json.loads((life_dir / "life.json").read_text())
    data["videos"][0]["shard"] = bad
    (life_dir / "life.json").write_text(json.dumps(data))
    refused = r"life.json: (video file .* refusing it|malformed life manifest: .*shard: expected a string)"
    with pytest.raises(LifeFormatError, match=refused):
        Life.open(life_dir)
    with pytest.raises(LifeFormatError, match=refused):
        LifeWriter(life_dir, fps=2.0, short_side=48)  # a re-ingest would delete the replaced entry's files
    assert outside.read_text() == "precious"


def test_a_shard_symlinked_out_of_the_life_is_refused(tmp_path: Path) -> None:
    life_dir = tmp_path / "life"
    with LifeWriter(life_dir, fps=2.0, short_side=48) as writer:
        _write_video(writer, "a.mp4", 0, 2)
    manifest = read_manifest(life_dir)
    tar = life_dir / manifest.videos[0].shard
    moved = tmp_path / "elsewhere.tar"
    tar.rename(moved)
    tar.symlink_to(moved)
    with pytest.raises(LifeFormatError, match="resolves outside"):
        Life.open(life_dir)
    assert moved.exists()


# ---- one writer at a time -------------------------------------------------------------------------
def test_a_second_life_writer_is_refused_until_the_first_closes(tmp_path: Path) -> None:
    first = LifeWriter(tmp_path, fps=2.0, short_side=48)
    _write_video(first, "a.mp4", 0, 2)
    with pytest.raises(LockedError, match=rf"{tmp_path}: locked by pid {os.getpid()} \(writing the life\) since"):
        LifeWriter(tmp_path, fps=2.0, short_side=48)
    assert [v.source for v in read_manifest(tmp_path).videos] == ["a.mp4"]  # the refused writer touched nothing
    first.close()
    with LifeWriter(tmp_path, fps=2.0, short_side=48) as second:
        _write_video(second, "b.mp4", 1, 2)
    assert len(Life.open(tmp_path)) == 4


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    (tmp_path / LOCK_FILE).write_text("999999 0 slife train\n")  # text left behind, no flock held
    with DirLock(tmp_path, "slife train"):
        assert (tmp_path / LOCK_FILE).read_text().split()[0] == str(os.getpid())


def test_two_trainings_into_one_run_directory(tmp_path: Path) -> None:
    from lives import make_test_life
    from slife.train import train
    from tests.test_train_loop import _cfg

    life = make_test_life(tmp_path / "life", durations=(6.0,), fps=2.0)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("kept: true\n")
    with DirLock(run, "slife train"):  # as if another `slife train --out run` were running
        with pytest.raises(LockedError, match="run: locked by pid"):
            train(life.dir, run, _cfg(), progress=False)
    assert (run / "config.yaml").read_text() == "kept: true\n"  # nothing moved aside
    assert not (run / "checkpoints").exists()


# ---- OS errors are user errors --------------------------------------------------------------------
def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    from slife.atomic import atomic_open

    path = tmp_path / "last.pt"
    save_checkpoint(path, _tiny_payload())
    before = path.read_bytes()
    with pytest.raises(OSError, match="No space left"):
        with atomic_open(path, "wb") as fh:
            fh.write(b"half a checkpoint")
            raise OSError(28, "No space left on device", str(path))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_cli_prints_os_errors_as_one_line_with_their_own_exit_code(tmp_path: Path, monkeypatch, capsys) -> None:
    import errno

    from slife import cli
    from slife.errors import EXIT_OS_ERROR

    def full_disk(args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "life" / "shards" / "x.tar"))

    monkeypatch.setattr(cli, "cmd_info", full_disk, raising=False)
    parser = cli.build_parser()
    args = parser.parse_args(["info", str(tmp_path)])
    monkeypatch.setattr(cli, "build_parser", lambda: _FixedParser(args, full_disk))
    assert cli.main(["info", str(tmp_path)]) == EXIT_OS_ERROR
    err = capsys.readouterr().err.strip()
    assert err == f"slife info: error: {tmp_path}/life/shards/x.tar: No space left on device"


class _FixedParser:
    def __init__(self, args, func) -> None:
        self.args = args
        self.args.func = func

    def parse_args(self, argv):
        return self.args


def test_info_into_a_closed_pipe_is_quiet(tmp_path: Path) -> None:
    """`slife info LIFE | head`: the reader is gone before slife writes (a pipe with no reader)."""
    import subprocess
    import sys

    from lives import make_test_life

    life = make_test_life(tmp_path / "life", durations=(3.0,), fps=2.0)
    script = (
        "import os, sys\n"
        "r, w = os.pipe(); os.close(r); os.dup2(w, 1)\n"
        "from slife.cli import main\n"
        f"code = main(['info', {str(life.dir)!r}])\n"
        "sys.stderr.write(f'exit {code}')\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.stderr.strip() == "exit 0", proc.stderr


# ---- verify -------------------------------------------------------------------------------------
def test_verify_finds_a_corrupt_jpeg_and_training_names_the_frame(tmp_path: Path, capsys) -> None:
    from slife.cli import main
    from lives import make_test_life

    life = make_test_life(tmp_path / "life", durations=(3.0,), fps=2.0)
    assert life.verify() == []
    assert main(["info", "--verify", str(life.dir)]) == 0
    assert "verify      ok: 6 frames decoded" in capsys.readouterr().out
    offset, size = (int(x) for x in life._jpeg[4])
    tar = life.dir / life.manifest.videos[0].shard
    data = bytearray(tar.read_bytes())
    data[offset + 2 : offset + size] = b"\xff" * (size - 2)  # the JPEG's body is garbage now
    tar.write_bytes(bytes(data))
    broken = Life.open(life.dir)
    where = f"{tar}, frame 4 of video 0 (life frame 4)"
    problems = broken.verify()
    assert len(problems) == 1 and problems[0].startswith(f"{where}: cannot decode the JPEG")
    assert main(["info", "--verify", str(life.dir)]) == 2
    assert where in capsys.readouterr().out
    with pytest.raises(LifeFormatError, match=r"frame 4 of video 0 \(life frame 4\): cannot decode"):
        broken.image(4)

    from slife.pairs.dataset import PairBatches
    from slife.pairs.samplers import AugmentedSampler

    ds = PairBatches(broken, AugmentedSampler(len(broken)), [len(broken)] * 4, 32, 8, 16, patch_size=8)
    with pytest.raises(LifeFormatError, match=r"frame 4 of video 0 \(life frame 4\): cannot decode"):
        ds[0]  # 16 draws from 6 frames hit frame 4


# ---- signals --------------------------------------------------------------------------------------
@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT", "SIGUSR1"])
def test_a_signal_saves_last_pt_and_the_resumed_run_matches_a_straight_one(tmp_path: Path, monkeypatch, signame) -> None:
    import signal

    import slife.train.loop as loop
    from slife.cli import main
    from lives import make_test_life
    from slife.train import train
    from slife.train.signals import TrainingStopped
    from tests.test_train_loop import _cfg

    torch.set_num_threads(1)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)}
    life = make_test_life(tmp_path / "life", durations=(6.0,), fps=2.0)
    real_lr_at = loop.lr_at

    def lr_at(step, *args, **kwargs):  # the signal arrives while step 5 (0-based) runs
        if step == 5:
            os.kill(os.getpid(), getattr(signal, signame))
        return real_lr_at(step, *args, **kwargs)

    monkeypatch.setattr(loop, "lr_at", lr_at)
    with pytest.raises(TrainingStopped, match=rf"stopped by {signame} after step 6 of 8; saved .*last.pt"):
        train(life.dir, tmp_path / "run", _cfg(), progress=False)
    assert read_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["step"] == 6
    log = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert log[-1] == {"event": "stopped", "signal": signame, "step": 6}
    cli_run = ["train", str(life.dir), "--out", str(tmp_path / "cli"), "--no-progress", *sum((["--set", o] for o in _cfg_overrides()), [])]
    assert main(cli_run) == 128 + getattr(signal, signame)
    monkeypatch.setattr(loop, "lr_at", real_lr_at)
    resumed = train(life.dir, tmp_path / "run", _cfg(), progress=False)
    straight = train(life.dir, tmp_path / "straight", _cfg(), progress=False)
    assert resumed.resumed_from == 6 and resumed.steps == 8
    a, b = resumed.model.state_dict(), straight.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert {s: signal.getsignal(s) for s in handlers} == handlers  # the handlers are restored


def _cfg_overrides() -> list[str]:
    from tests.test_train_loop import FAST

    return list(FAST)


@pytest.mark.parametrize("minutes", ["inf", "1e9", "nan", "0"])
def test_world_refuses_impossible_lengths_before_planning(tmp_path: Path, capsys, minutes) -> None:
    from slife.cli import main

    assert main(["world", "make", str(tmp_path / "w"), "--minutes", minutes, "--quiet"]) == 2
    assert "--minutes" in capsys.readouterr().err and not (tmp_path / "w").exists()


# ---- evaluation data ------------------------------------------------------------------------------
@pytest.mark.parametrize("content", [b"garbage bytes, not MATLAB", None])
def test_a_bad_nyu_split_file_is_named(tmp_path: Path, content) -> None:
    import scipy.io

    from slife.evaluate.datasets import read_nyu_split

    split = tmp_path / "splits.mat"
    if content is None:
        scipy.io.savemat(split, {"testNdxs": np.array([[0.5], [-3]]), "trainNdxs": np.array([[1]])})
    else:
        split.write_bytes(content)
    with pytest.raises(SlifeError, match=rf"{split}: (cannot read split file|testNdxs must hold 1-based)"):
        read_nyu_split(split, "test")


def test_missing_hpatches_homographies_are_reported(tmp_path: Path) -> None:
    from slife.evaluate.datasets import HPatchesPairs
    from tests.test_eval_datasets import write_hpatches

    write_hpatches(tmp_path, {"v_astro": "astronaut"}, ks=(2, 3))
    with pytest.warns(UserWarning, match=r"3 pair\(s\) skipped, no homography file: .*v_astro/H_1_4"):
        pairs = HPatchesPairs(tmp_path)
    assert len(pairs) == 2 and len(pairs.missing) == 3


@pytest.mark.parametrize("args", [["--img-size", "0"], ["--patch-size", "0"], ["--pairs", "0"]])
def test_testset_arguments_out_of_range_are_errors(tmp_path: Path, capsys, args) -> None:
    from slife.cli import main
    from lives import make_test_life

    life = make_test_life(tmp_path / "life", durations=(3.0,), fps=2.0)
    assert main(["align", "testset", str(life.dir), "--out", str(tmp_path / "t.npz"), *args]) == 2
    assert "make_testset:" in capsys.readouterr().err and not (tmp_path / "t.npz").exists()


def test_two_ingest_processes_into_one_life_lose_nothing(tmp_path: Path) -> None:
    """The issue's race: two `slife ingest` into one life, started together. One writes, the other is
    refused with the lock's owner (exit 2) before it touches anything; ingesting again afterwards adds
    only what is missing, and every video is in the manifest exactly once."""
    import subprocess
    import sys

    from slife.ingest.synth import write_index_video

    clips = [str(write_index_video(tmp_path / f"c{i}.mp4", np.arange(96) / 24.0)) for i in range(4)]
    life = tmp_path / "life"
    cmd = [sys.executable, "-m", "slife.cli", "ingest", str(life), "--fps", "4", "--short-side", "48", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(cmd + clips, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]  # fmt: skip
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes[0] == 0, results
    if codes[1] != 0:  # they overlapped: the second was refused, naming the owner
        assert codes[1] == 2 and any("locked by pid" in err for _, err in results), results
    assert subprocess.run(cmd + clips, env=env, timeout=300).returncode == 0
    sources = [v.source for v in read_manifest(life).videos]
    assert sorted(sources) == sorted(clips) and len(Life.open(life)) == 4 * 16
