"""The save rules and the training log, each on its own (no model, no life)."""

import json
from pathlib import Path

from slife.run import RunDir
from slife.train.checkpointer import Checkpointer
from slife.train.logger import TrainLogger, truncate_log


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def make(tmp_path: Path, **kw):
    saved = []
    clock = Clock()
    ck = Checkpointer(RunDir(tmp_path), lambda step, full: {"step": step, "full": full},
                      milestone_step={0.25: 2, 0.5: 4}, final_hours=1.0, total=10, clock=clock,
                      save=lambda path, payload: saved.append((path.name, payload["step"], payload["full"])), **kw)
    return ck, saved, clock


def test_milestones_are_saved_once_after_the_step_that_reaches_them(tmp_path: Path) -> None:
    ck, saved, _ = make(tmp_path)
    events = [e for step in range(1, 8) for e in ck.after_step(step, step / 10, end_step=10)]
    assert saved == [("hours_0.25.pt", 3, False), ("hours_0.5.pt", 5, False)]  # milestone_step is 0-based
    assert [e["name"] for e in events] == ["hours_0.25", "hours_0.5"] and ck.done == {0.25, 0.5}
    assert ck.finish(10, 7, 1.0)[0]["name"] == "hours_1"
    assert saved[-2:] == [("hours_1.pt", 10, False), ("last.pt", 10, True)]


def test_periodic_saves_by_steps_and_by_time_but_not_on_the_last_step(tmp_path: Path) -> None:
    ck, saved, clock = make(tmp_path, every_steps=3, done={0.25, 0.5})
    for step in range(1, 10):
        ck.after_step(step, 0.0, end_step=9)
    assert [s for s in saved if s[0] == "last.pt"] == [("last.pt", 3, True), ("last.pt", 6, True)]  # 9 = the end
    ck, saved, clock = make(tmp_path, every_minutes=1.0, done={0.25, 0.5})
    ck.after_step(1, 0.0, 10)
    clock.t = 61.0
    ck.after_step(2, 0.0, 10)
    ck.after_step(3, 0.0, 10)
    assert saved == [("last.pt", 2, True)]


def test_finish_of_a_stopped_or_empty_call(tmp_path: Path) -> None:
    ck, saved, _ = make(tmp_path, done={0.25, 0.5})
    assert ck.finish(6, 2, 0.6) == [] and saved == [("last.pt", 6, True)]  # stopped early: no final milestone
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.pt").write_bytes(b"x")
    saved.clear()
    ck.finish(6, 6, 0.6)  # nothing happened since last.pt
    assert saved == []


def test_logger_averages_the_window_and_truncates_a_killed_runs_tail(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    run.log_file.write_text("".join(json.dumps({"step": s, "loss": 1.0}) + "\n" for s in range(1, 6)) + '{"step": 6, "lo')
    truncate_log(run, 3)
    assert [json.loads(x)["step"] for x in run.log_file.read_text().splitlines()] == [1, 2, 3]
    clock = Clock()
    log = TrainLogger(run, start=3, total=8, end_step=8, global_batch=4, log_every=2, tensorboard=False,
                      progress=False, clock=clock)
    records = []
    for step, loss in zip(range(4, 9), [1.0, 3.0, 5.0, 7.0, 9.0]):
        clock.t += 0.5
        records.append(log.step(step, loss, lr=0.1, hours=step / 8))
    log.close()
    assert [r and r["step"] for r in records] == [4, None, 6, None, 8]
    assert [r["loss"] for r in records if r] == [1.0, 4.0, 8.0]
    assert records[2]["pairs_per_s"] == 2 * 4 / 1.0 and records[4]["pairs_per_s"] == 4 / 0.5
    assert [json.loads(x)["step"] for x in run.log_file.read_text().splitlines()] == [1, 2, 3, 4, 6, 8]


def test_listing_a_runs_milestones_opens_no_checkpoint(tmp_path: Path, monkeypatch, one_torch_thread) -> None:
    """Step and hours come from the log's checkpoint events, so an analysis opens each file once."""
    import slife.model.checkpoint as ck
    from lives import make_test_life
    from slife.train import train
    from tests.test_train_loop import _cfg

    life = make_test_life(tmp_path / "life", durations=(12.0,), fps=3.0)
    train(life.dir, tmp_path / "run", _cfg(), progress=False)
    expected = [(c.name, c.step, c.hours_seen) for c in ck.list_checkpoints(tmp_path / "run")]
    opened = []
    monkeypatch.setattr(ck, "read_checkpoint", lambda path, *a, **k: opened.append(path))
    assert [(c.name, c.step, c.hours_seen) for c in ck.list_checkpoints(tmp_path / "run")] == expected
    assert opened == [] and len(expected) >= 2
    # without the log, the files say it themselves
    monkeypatch.undo()
    (tmp_path / "run" / "log.jsonl").unlink()
    assert [(c.name, c.step) for c in ck.list_checkpoints(tmp_path / "run")] == [(n, s) for n, s, _ in expected]
