"""Several trainings at once (slife.train.parallel): same models as one after the other, cores split."""

import torch

from slife.model.checkpoint import read_checkpoint
from lives import make_test_life
from slife.train.parallel import TrainJob, train_many
from slife.train.threads import usable_cores
from tests.test_train_loop import _cfg


def test_parallel_jobs_train_the_same_models_as_sequential_ones(tmp_path):
    lives = [make_test_life(tmp_path / f"life{i}", durations=(6.0 + i,), fps=2.0) for i in range(2)]
    share = max(1, usable_cores() // 2)
    jobs = lambda root, threads: [  # noqa: E731
        TrainJob(life.dir, tmp_path / root / life.name, _cfg(f"threads={threads}", "steps=4")) for life in lives
    ]
    seen = []
    together = train_many(jobs("par", 0), parallel=2, on_done=lambda job, res: seen.append(job.run_dir.name))
    apart = train_many(jobs("seq", share), parallel=1, progress=False)
    assert seen == [life.name for life in lives]
    assert [r.steps for r in together] == [4, 4] and all(r.model is None for r in together)
    for life in lives:
        a = read_checkpoint(tmp_path / "par" / life.name / "checkpoints" / "last.pt")
        b = read_checkpoint(tmp_path / "seq" / life.name / "checkpoints" / "last.pt")
        assert a["train_config"]["threads"] == share  # 2 jobs: half the cores each
        assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_training_stopped_survives_pickling():
    """#23 M1: the exception a stopped worker raises crosses the process boundary (it hung the pool)."""
    import pickle
    import signal

    from slife.train.signals import TrainingStopped

    back = pickle.loads(pickle.dumps(TrainingStopped("run: stopped by SIGTERM", signal.SIGTERM)))
    assert isinstance(back, TrainingStopped) and back.signum == signal.SIGTERM and str(back) == "run: stopped by SIGTERM"


SCRIPT = """
import sys
from pathlib import Path
from lives import make_test_life
from slife.train.parallel import TrainJob, train_many
from slife.train.signals import TrainingStopped
from tests.test_train_loop import _cfg
root = Path(sys.argv[1])
lives = [make_test_life(root / f"life{i}", durations=(6.0,), fps=2.0) for i in range(3)]
jobs = [TrainJob(l.dir, root / "runs" / l.name, _cfg("steps=100000", "milestones=[1.0]", "save_every_minutes=0", "threads=1"))
        for l in lives]
print("ready", flush=True)
try:
    train_many(jobs, parallel=2, progress=False)
except TrainingStopped as exc:
    print(exc, flush=True)
    sys.exit(128 + exc.signum)
"""


def _children(pid: int) -> set[int]:
    from pathlib import Path

    kids: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids |= {int(p) for p in (task / "children").read_text().split()}
    return kids


def _alive(pid: int) -> bool:
    from pathlib import Path

    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_sigterm_to_parallel_trainings_saves_and_stops_every_worker(tmp_path):
    """#23 M1+M2: SIGTERM to the parent stops it (no hang) and every training (no orphans), each after
    saving last.pt; the queued third job never starts; exit status 128 + 15."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in (root / "src", root, root / "tests")), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path)], env=env, stdout=subprocess.PIPE, text=True)
    workers: set[int] = set()
    try:
        logs = [tmp_path / "runs" / f"life{i}" / "log.jsonl" for i in range(2)]
        deadline = time.monotonic() + 120
        while not all(p.is_file() and '"loss"' in p.read_text() for p in logs):
            assert proc.poll() is None and time.monotonic() < deadline, "the trainings did not start"
            time.sleep(0.2)
        workers |= {k for k in _children(proc.pid) if "spawn_main" in Path(f"/proc/{k}/cmdline").read_text()}
        assert len(workers) == 2
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
        time.sleep(0.5)
        left = [pid for pid in workers if _alive(pid)]
        for pid in left:  # orphans (the defect): end them so that a failing test leaves nothing running
            os.kill(pid, signal.SIGKILL)
    assert not left
    assert proc.returncode == 128 + signal.SIGTERM, out
    assert "stopped by SIGTERM: 0 of 3 trainings finished" in out
    for i in range(2):
        last = read_checkpoint(tmp_path / "runs" / f"life{i}" / "checkpoints" / "last.pt")
        assert 0 < last["step"] < 100000
    assert not (tmp_path / "runs" / "life2").exists()
