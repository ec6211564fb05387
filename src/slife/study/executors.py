"""Where a study's trainings run: ``debug`` (in this process, one after the other), ``local`` (this
machine, ``jobs`` at once with the cores split: slife.train.parallel) or ``slurm`` (submitit: one job
array for the trainings, the analysis as a job that depends on it; submitit's ``local`` cluster runs
the same path on this machine, which is how it is tested).

Several GPUs per training job: ``slurm.gpus_per_node: N`` starts N tasks per node (``tasks_per_node``
overrides, ``nodes`` spans nodes), one DDP rank each; the task exports torchrun's environment from
SLURM's (submitit's TorchDistributedEnvironment) before training joins the process group.

Preemption on SLURM: SLURM sends SIGUSR2 (submitit asks for it) before the time limit or a
preemption; training saves ``last.pt`` and stops (slife.train.signals), then the job hands the
signal to submitit's own handler, which requeues the job; the requeued job resumes exactly.
"""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from slife.atomic import write_json_atomic
from slife.errors import SlifeError

if TYPE_CHECKING:  # training (and torch) loads only when a job runs: --status stays light
    from slife.train.parallel import TrainJob

ProgressFn = Callable[[], None]
JOBS_FILE = "jobs.json"  # the last submission's job ids (slife study --status reads them)


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

        join_job_ranks()
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


def join_job_ranks() -> None:
    """Inside a submitit job with several tasks: export torchrun's variables (RANK, WORLD_SIZE,
    LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_*) so that training runs DDP over the job's tasks. Every
    rank keeps all GPUs visible and takes ``cuda:LOCAL_RANK`` (slife.devices) and, on SLURM, its own
    ``cpus_per_task`` torch threads."""
    import submitit

    try:
        env = submitit.JobEnvironment()
    except RuntimeError:  # not inside a submitit job (called directly)
        return
    if env.num_tasks > 1:
        submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False, overwrite=True)
        cpus = os.environ.get("SLURM_CPUS_PER_TASK", "")
        if cpus.isdigit() and "OMP_NUM_THREADS" not in os.environ:  # each rank has its own cpus_per_task:
            os.environ["OMP_NUM_THREADS"] = cpus  # slife.train.threads must not divide them again


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
                   name: str, tasks_per_node: int = 1, nodes: int = 1) -> Any:  # fmt: skip
    """A submitit executor with the study's resources (``cluster``: None = auto, or "local")."""
    submitit = _submitit()
    ex = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
    kw: dict[str, Any] = {"timeout_min": timeout_min, "name": name, "gpus_per_node": gpus,
                          "tasks_per_node": tasks_per_node, "cpus_per_task": params["cpus_per_task"],
                          "mem_gb": params["mem_gb"]}  # fmt: skip
    if nodes > 1:
        kw["nodes"] = nodes
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
    ex = slurm_executor(folder, params, cluster, s.gpus_per_node, s.timeout_min, f"slife-{study.name}-train",
                        tasks_per_node=s.train_tasks_per_node, nodes=s.nodes)  # fmt: skip
    train_jobs = ex.map_array(TrainTask(), list(jobs)) if jobs else []
    ana = slurm_executor(folder, params, cluster, s.analysis_gpus, s.analysis_timeout_min, f"slife-{study.name}-analysis")
    if train_jobs and ana.cluster == "slurm":
        ana.update_parameters(slurm_additional_parameters={"dependency": "afterok:" + ":".join(j.job_id for j in train_jobs)})
    elif train_jobs:
        for j in train_jobs:
            j.results()  # raises if a training failed (every task of a multi-task job)
    analysis = ana.submit(AnalysisTask(study_file, tuple(overrides), str(out)))
    ids = {"train": [j.job_id for j in train_jobs], "runs": [Path(j.run_dir).name for j in jobs],
           "analysis": analysis.job_id, "cluster": ana.cluster}  # fmt: skip
    write_json_atomic(folder / JOBS_FILE, ids)
    if wait or ana.cluster != "slurm":
        analysis.result()
    return ids


def slurm_job_lines(out: Path) -> list[str]:
    """Where the study's last SLURM submission stands (sacct, through submitit), one line per job;
    empty when the study was never submitted to a SLURM cluster."""
    import json

    folder = out / "slurm"
    try:
        ids = json.loads((folder / JOBS_FILE).read_text(encoding="utf-8"))
        pairs = list(zip(ids["runs"], ids["train"])) + [("analysis", ids["analysis"])]
        cluster = ids["cluster"]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"slurm       {folder / JOBS_FILE}: unreadable ({exc})"]
    if cluster != "slurm":
        return []
    try:
        submitit = _submitit()
        states = [submitit.SlurmJob(folder=str(folder), job_id=str(job_id)).state for _, job_id in pairs]
    except (SlifeError, OSError, RuntimeError) as exc:  # no sacct on this machine, submitit missing
        return [f"slurm       job states unavailable: {exc}"]
    lines = [f"slurm       {name:<12} job {job_id:<14} {state}" for (name, job_id), state in zip(pairs, states)]
    if all(state == "UNKNOWN" for state in states):
        lines.append("slurm       (UNKNOWN: sacct did not answer; run --status where SLURM's commands work)")
    return lines
