"""Where a study's trainings run: ``debug`` (in this process, one after the other), ``local`` (this
machine, ``jobs`` at once with the cores split: slife.train.parallel) or ``slurm`` (submitit: one job
array for the trainings, the analysis as a job that depends on it; submitit's ``local`` cluster runs
the same path on this machine, which is how it is tested).

Preemption on SLURM: SLURM sends SIGUSR2 (submitit asks for it) before the time limit or a
preemption; training saves ``last.pt`` and stops (slife.train.signals), then the job hands the
signal to submitit's own handler, which requeues the job; the requeued job resumes exactly.
"""

from __future__ import annotations

import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from slife.errors import SlifeError
from slife.train.parallel import TrainJob

ProgressFn = Callable[[], None]


def run_debug(jobs: Sequence[TrainJob], progress: bool) -> None:
    """Train in this process, one job after the other."""
    from slife.train.parallel import train_many

    train_many(jobs, 1, progress=progress)


def run_local(jobs: Sequence[TrainJob], parallel: int, report: ProgressFn | None, every_s: float = 30.0) -> None:
    """Train ``parallel`` jobs at once on this machine (0 = one per core), calling ``report`` every
    ``every_s`` seconds while they run (one line per run)."""
    from slife.train.parallel import train_many

    stop = threading.Event()
    ticker = None
    if report is not None:
        def tick() -> None:
            while not stop.wait(every_s):
                report()

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
    try:
        train_many(jobs, parallel, progress=False)
    finally:
        stop.set()
        if ticker is not None:
            ticker.join()


class TrainTask:
    """A picklable training job for submitit; requeued (resuming from ``last.pt``) when preempted."""

    def __call__(self, job: TrainJob) -> dict[str, Any]:
        from slife.train.loop import train
        from slife.train.signals import TrainingStopped

        try:
            result = train(job.life_dir, job.run_dir, job.cfg, progress=False)
        except TrainingStopped as stop:
            handler = signal.getsignal(stop.signum)  # submitit's: checkpoint() below, then requeue
            if callable(handler):
                handler(stop.signum, None)
            raise
        return {"run_dir": str(job.run_dir), "steps": result.steps, "final_loss": result.final_loss}

    def checkpoint(self, job: TrainJob) -> Any:
        """submitit calls this on preemption: run the same job again (it resumes from last.pt)."""
        import submitit

        return submitit.helpers.DelayedSubmission(TrainTask(), job)


@dataclass
class AnalysisTask:
    """The study's analysis as a submitit job (after the trainings)."""

    study_file: str | None
    overrides: tuple[str, ...]
    out: str

    def __call__(self) -> str:
        from slife.study.runner import analyse_study

        return str(analyse_study(self.study_file, list(self.overrides), self.out))


def _submitit():
    try:
        import submitit
    except ImportError as exc:  # pragma: no cover - depends on the extra
        raise SlifeError("--executor slurm needs submitit: pip install 'slife[slurm]'") from exc
    return submitit


def slurm_executor(folder: Path, params: dict[str, Any], cluster: str | None, gpus: int, timeout_min: int,
                   name: str) -> Any:  # fmt: skip
    """A submitit executor with the study's resources (``cluster``: None = auto, or "local")."""
    submitit = _submitit()
    ex = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
    kw: dict[str, Any] = {"timeout_min": timeout_min, "name": name, "gpus_per_node": gpus,
                          "cpus_per_task": params["cpus_per_task"], "mem_gb": params["mem_gb"]}  # fmt: skip
    if ex.cluster == "slurm":
        kw["slurm_array_parallelism"] = params["array_parallelism"]
        kw["slurm_signal_delay_s"] = 120  # time to save last.pt before the limit
        for key in ("partition", "account"):
            if params.get(key):
                kw[f"slurm_{key}"] = params[key]
        kw.update({f"slurm_{k}" if not k.startswith("slurm_") else k: v for k, v in params.get("extra", {}).items()})
    ex.update_parameters(**kw)
    return ex


def run_slurm(jobs: Sequence[TrainJob], study: Any, study_file: str | None, overrides: Sequence[str], out: Path,
              cluster: str | None = None, wait: bool = False) -> dict[str, Any]:  # fmt: skip
    """Submit the trainings as one array and the analysis after it; returns the job ids. On the
    ``local`` cluster (tests) dependencies do not exist, so it waits for the array before the analysis.
    ``wait``: block until the analysis is done."""
    s = study.slurm
    params = {"cpus_per_task": s.cpus_per_task, "mem_gb": s.mem_gb, "array_parallelism": s.array_parallelism,
              "partition": s.partition, "account": s.account, "extra": s.extra}  # fmt: skip
    folder = out / "slurm"
    ex = slurm_executor(folder, params, cluster, s.gpus_per_node, s.timeout_min, f"slife-{study.name}-train")
    train_jobs = ex.map_array(TrainTask(), list(jobs)) if jobs else []
    ana = slurm_executor(folder, params, cluster, s.analysis_gpus, s.analysis_timeout_min, f"slife-{study.name}-analysis")
    if train_jobs and ana.cluster == "slurm":
        ana.update_parameters(slurm_additional_parameters={"dependency": "afterok:" + ":".join(j.job_id for j in train_jobs)})
    elif train_jobs:
        for j in train_jobs:
            j.result()  # raises if a training failed
    analysis = ana.submit(AnalysisTask(study_file, tuple(overrides), str(out)))
    ids = {"train": [j.job_id for j in train_jobs], "analysis": analysis.job_id, "cluster": ana.cluster}
    if wait or ana.cluster != "slurm":
        analysis.result()
    return ids


def print_lines(lines: list[str]) -> None:
    for line in lines:
        print(f"[study] {line}", file=sys.stderr, flush=True)
