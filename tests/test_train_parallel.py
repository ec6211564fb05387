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
