"""Per-life training: milestones, logs, exact resume, NaN handling, config checks, CLI."""

import json

import numpy as np
import pytest
import torch

from slife.cli import main
from slife.config import load_config
from slife.errors import SlifeError
from slife.model.checkpoint import list_checkpoints, load_model, read_checkpoint
from lives import make_test_life
from slife.train import TrainConfig, TrainingDiverged, train

FAST = [
    "model.overrides={img_size: 32, patch_size: 8, enc_dim: 32, enc_heads: 2, enc_depth: 1, dec_dim: 32, dec_heads: 2, dec_depth: 1}",
    "batch_size=4",
    "steps=8",
    "milestones=[0.002, 0.004, 1.0]",
    "log_every=2",
    "tensorboard=false",
    "optim.lr=1e-3",
]


def _cfg(*extra):
    return load_config(TrainConfig, None, [*FAST, *extra])


@pytest.fixture(scope="module")
def life(tmp_path_factory):
    return make_test_life(tmp_path_factory.mktemp("life") / "life", durations=(12.0, 8.0), fps=3.0)


def _weights(path):
    return read_checkpoint(path)["model"]


def test_train_writes_milestones_logs_and_config(life, tmp_path):
    torch.set_num_threads(1)
    run = tmp_path / "run"
    res = train(life.dir, run, _cfg("tensorboard=true"), progress=False)
    assert res.steps == res.total_steps == 8 and res.pairs_seen == 32 and res.resumed_from == 0
    assert np.isfinite(res.final_loss) and res.pairs_per_s > 0
    final = f"hours_{life.hours:g}"
    names = sorted(p.name for p in (run / "checkpoints").glob("*.pt"))
    assert names == sorted(["hours_0.002.pt", "hours_0.004.pt", f"{final}.pt", "last.pt"])
    infos = list_checkpoints(run)
    assert [c.name for c in infos] == ["hours_0.002", "hours_0.004", final]
    # written at the first step whose streamed window reaches the milestone (20 s life, 8 steps: 2.5 s per step)
    assert [c.step for c in infos] == [3, 6, 8]
    assert infos[0].hours_seen >= 0.002 > (infos[0].step - 1) * 2.5 / 3600
    assert infos[-1].hours_seen == pytest.approx(life.hours)
    meta = read_checkpoint(run / "checkpoints" / "last.pt")
    assert meta["step"] == 8 and "optimizer" in meta and meta["life"] == life.name
    assert "optimizer" not in read_checkpoint(infos[0].path)
    model, info = load_model(infos[-1].path)
    assert model.cfg.img_size == 32 and info["pairs_seen"] == 32
    lines = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    steps = [x["step"] for x in lines if "loss" in x]
    assert steps == [2, 4, 6, 8] and all(np.isfinite(x["loss"]) for x in lines if "loss" in x)
    assert lines[0]["event"] == "start" and lines[0]["pairs"] == {"temporal": 0.5, "spatial": 0.5}
    assert load_config(TrainConfig, run / "config.yaml") == _cfg("tensorboard=true")
    assert any((run / "tb").iterdir())
    # the model's weights equal the final checkpoint's
    for k, v in res.model.state_dict().items():
        assert torch.equal(v, meta["model"][k])


def test_resume_gives_the_same_weights(life, tmp_path):
    torch.set_num_threads(1)
    straight = train(life.dir, tmp_path / "a", _cfg(), progress=False)
    part = train(life.dir, tmp_path / "b", _cfg(), progress=False, stop_after=3)
    assert part.steps == 3 and read_checkpoint(tmp_path / "b/checkpoints/last.pt")["step"] == 3
    rest = train(life.dir, tmp_path / "b", _cfg(), progress=False)
    assert rest.resumed_from == 3 and rest.steps == 8
    a, b = _weights(tmp_path / "a/checkpoints/last.pt"), _weights(tmp_path / "b/checkpoints/last.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert rest.final_loss == straight.final_loss
    for name in ("hours_0.002.pt", "hours_0.004.pt"):
        a, b = _weights(tmp_path / "a/checkpoints" / name), _weights(tmp_path / "b/checkpoints" / name)
        assert all(torch.equal(a[k], b[k]) for k in a)
    log_steps = [json.loads(x).get("step") for x in (tmp_path / "b/log.jsonl").read_text().splitlines()]
    assert [s for s in log_steps if s is not None].count(8) >= 1
    again = train(life.dir, tmp_path / "b", _cfg(), progress=False)  # finished: nothing to do
    assert again.steps == 8 and again.checkpoints == []


def test_resident_frames_train_and_resume_exactly(life, tmp_path):
    """data.resident: batches cut from frames held on the device (here the CPU); a resumed run still
    equals a straight one, with shifted pairs and jitter in the mix."""
    torch.set_num_threads(1)
    extra = ("data.resident=true", "data.shifted.share=0.5")
    straight = train(life.dir, tmp_path / "a", _cfg(*extra), progress=False)
    train(life.dir, tmp_path / "b", _cfg(*extra), progress=False, stop_after=3)
    rest = train(life.dir, tmp_path / "b", _cfg(*extra), progress=False)
    assert rest.resumed_from == 3 and rest.steps == 8 and rest.final_loss == straight.final_loss
    a, b = _weights(tmp_path / "a/checkpoints/last.pt"), _weights(tmp_path / "b/checkpoints/last.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    cpu = train(life.dir, tmp_path / "c", _cfg("data.shifted.share=0.5"), progress=False)
    assert abs(cpu.final_loss - straight.final_loss) < 0.05 * cpu.final_loss  # the same samples, to a grey level


def test_pairs_that_can_teach_train_and_resume_exactly(life, tmp_path, monkeypatch):
    """data.jitter_per_pair, aligned_crops (+ crop_patches), temporal.min_overlap and pooled_target
    together, on the CPU path and with resident frames: training runs, the loss is pooled, and a
    resumed run equals a straight one."""
    from slife.model.croco import CroCo

    torch.set_num_threads(1)
    pools = []
    real_loss = CroCo.loss

    def spy(self, pred, tgt, mask, pool=1):
        pools.append(pool)
        return real_loss(self, pred, tgt, mask, pool=pool)

    monkeypatch.setattr(CroCo, "loss", spy)
    extra = ("data.sampler=temporal", "data.temporal.min_overlap=0.2", "data.jitter_per_pair=true",
             "data.aligned_crops=true", "data.crop_patches=1", "data.pooled_target=2")  # fmt: skip
    straight = train(life.dir, tmp_path / "a", _cfg(*extra), progress=False)
    assert np.isfinite(straight.final_loss) and set(pools) == {2}
    train(life.dir, tmp_path / "b", _cfg(*extra, "data.resident=true"), progress=False, stop_after=3)
    rest = train(life.dir, tmp_path / "b", _cfg(*extra, "data.resident=true"), progress=False)
    assert rest.resumed_from == 3 and abs(rest.final_loss - straight.final_loss) < 0.05 * straight.final_loss
    assert list((life.dir / "pairs").glob("covisible-*.npz"))


def test_nan_loss_stops_and_keeps_last_good_checkpoint(life, tmp_path, monkeypatch):
    from slife.model.croco import CroCo

    real_loss = CroCo.loss
    calls = {"n": 0}

    def flaky(self, pred, tgt, mask, pool=1):
        calls["n"] += 1
        value = real_loss(self, pred, tgt, mask, pool=pool)
        return value * float("nan") if calls["n"] == 6 else value

    monkeypatch.setattr(CroCo, "loss", flaky)
    run = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match=r"loss is nan at step 6 of 8.*last\.pt \(step 4\)"):
        train(life.dir, run, _cfg("save_every_steps=2"), progress=False)
    last = read_checkpoint(run / "checkpoints" / "last.pt")
    assert last["step"] == 4 and all(torch.isfinite(v).all() for v in last["model"].values())
    assert json.loads((run / "log.jsonl").read_text().splitlines()[-1])["event"] == "diverged"


def test_refuses_to_mix_configs_unless_forced(life, tmp_path):
    run = tmp_path / "run"
    train(life.dir, run, _cfg(), progress=False, stop_after=2)
    with pytest.raises(SlifeError, match=r"config\.yaml: .*different config \(differs in: seed\)"):
        train(life.dir, run, _cfg("seed=1"), progress=False)
    res = train(life.dir, run, _cfg("seed=1", "data.workers=0"), progress=False, force=True)
    assert res.resumed_from == 0 and res.steps == 8
    previous = list(run.glob("previous-*"))
    assert len(previous) == 1 and (previous[0] / "checkpoints" / "last.pt").is_file()


def test_cli_end_to_end(life, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", str(life.dir), "--out", str(run), "--no-progress", "--set", "data.sampler=temporal"]
    for item in FAST:
        args += ["--set", item]
    assert main(args) == 0
    assert "8/8 steps" in capsys.readouterr().out
    assert main(args) == 0
    assert "already complete" in capsys.readouterr().out
    assert main(["train", str(life.dir), "--out", str(run), "--set", "steps=-3"]) == 2
    assert "steps" in capsys.readouterr().err
    assert main(["pairs", "spatial", str(life.dir), "--json", "--no-progress"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["pairs"] > 0 and 0.3 <= stats["jaccard_quantiles"][0]


def _train_subprocess(life_dir, run, *extra):
    import os
    import subprocess
    import sys

    args = [sys.executable, "-m", "slife", "train", str(life_dir), "--out", str(run), "--no-progress"]
    for item in [*FAST, "steps=40", "save_every_steps=2", *extra]:
        args += ["--set", item]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_resume_after_kill_9_gives_the_same_weights(life, tmp_path):
    """A real SIGKILL mid-run, then the same command again: the result equals an uninterrupted run."""
    import signal
    import time

    straight = tmp_path / "straight"
    assert _train_subprocess(life.dir, straight).wait(timeout=300) == 0
    killed = tmp_path / "killed"
    proc = _train_subprocess(life.dir, killed)
    last = killed / "checkpoints" / "last.pt"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if last.is_file() and read_checkpoint(last)["step"] >= 10:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "training finished before it could be killed; make the run longer"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    step_at_kill = read_checkpoint(last)["step"]
    assert 10 <= step_at_kill < 40
    rerun = _train_subprocess(life.dir, killed)
    assert rerun.wait(timeout=300) == 0, rerun.stderr.read().decode()
    a, b = _weights(straight / "checkpoints" / "last.pt"), _weights(last)
    assert read_checkpoint(last)["step"] == 40
    for key in a:
        assert torch.equal(a[key], b[key]), key
    logged = [json.loads(x) for x in (killed / "log.jsonl").read_text().splitlines()]
    assert [r["event"] for r in logged if "event" in r][-1] in ("checkpoint", "resume")
    assert sorted(r["step"] for r in logged if "loss" in r) == list(range(2, 41, 2))  # no duplicates, no gaps


def test_prefix_hours_trains_on_the_first_part_of_the_life_only(life, tmp_path, one_torch_thread) -> None:
    """The nested-subset protocol: a run sees only frames of its prefix, with the same schedule."""
    from slife.pairs.dataset import PairBatches

    seen = []
    original = PairBatches.__getitem__

    def spy(self, step):
        batch = original(self, step)
        seen.append(int(batch["pairs"].max()))
        return batch

    prefix = 6.0 / 3600  # the first 6 s of the 20 s life
    PairBatches.__getitem__ = spy
    try:
        res = train(life.dir, tmp_path / "prefix", _cfg("data.prefix_hours=%r" % prefix, "data.stream_fraction=0"),
                    progress=False)
    finally:
        PairBatches.__getitem__ = original
    last_frame = int(np.searchsorted(life.timestamps, 6.0 + 1e-9, side="right")) - 1
    assert res.steps == 8 and max(seen) <= last_frame  # no pair reaches past the prefix
    assert res.hours_seen == pytest.approx(prefix, rel=0.05)
    (final,) = list_checkpoints(tmp_path / "prefix")
    assert final.hours_seen == pytest.approx(prefix, rel=0.05)
    with pytest.raises(SlifeError, match="prefix_hours"):
        _cfg("data.prefix_hours=-1")


def test_nested_emergence_has_one_point_per_prefix_run(life, tmp_path, one_torch_thread) -> None:
    from slife.align.analysis import emergence_report
    from slife.align.testset import make_testset
    from slife.align.matchers import IdentityMatcher

    runs = []
    for seconds in (12.0, 5.0):  # given out of order: sorted by hours in the report
        run = tmp_path / f"first{seconds:g}s"
        train(life.dir, run, _cfg("data.prefix_hours=%r" % (seconds / 3600), "data.stream_fraction=0"), progress=False)
        runs.append(run)
    ts = make_testset([life.dir], n_pairs_per_life=3, img_size=32, patch_size=8, gap=(0.3, 3.0), ground_truth=False)
    report = emergence_report(runs, IdentityMatcher(), ts, k=3)
    assert report["emergence_protocol"] == "nested"
    hours = [p["hours"] for p in report["points"]]
    assert hours == sorted(hours) and hours[0] == pytest.approx(5 / 3600, rel=0.1)
    assert [p["name"].split("/")[0] for p in report["points"]] == ["first5s", "first12s"]
    assert all(0 <= p["cas"] <= 1 for p in report["points"])
