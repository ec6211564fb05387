"""``slife study STUDY.yaml`` and its short alias ``slife demo`` (the packaged demo study)."""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

from slife.config import add_config_arguments

# `slife demo --quick`: a ~1-minute smoke run of the demo study
QUICK = ["world.minutes=1.0", "testset.minutes=0.5", "testset.pairs_per_life=6", "train.milestones=[0.5,1.0]",
         "train.overrides.steps=30", "analysis.mechanism_steps=20"]  # fmt: skip


def demo_study_file() -> Path:
    """The demo study shipped with slife (configs/study_demo.yaml in the source tree)."""
    return Path(str(resources.files("slife") / "configs" / "study_demo.yaml"))


def _status(study) -> int:
    from slife.study.executors import slurm_job_lines
    from slife.study.runner import up_to_date, states

    for s in states(study):
        print(s.line())
    for line in slurm_job_lines(study.out):
        print(line)
    print(f"report      {'up to date' if up_to_date(study) else 'not up to date'} ({study.out / 'report.md'})")
    return 0


def _run(command: str, study, executor: str, jobs: int | None, progress: bool, cluster: str | None = None) -> int:
    """Run the study; a signal that stopped the trainings (after saving) exits 128 + its number, as
    ``slife train`` does."""
    from slife.study.runner import run_study
    from slife.train.signals import TrainingStopped

    try:
        run_study(study, executor, jobs, progress=progress, slurm_cluster=cluster)
    except TrainingStopped as exc:
        print(f"slife {command}: {exc}", file=sys.stderr)
        return 128 + exc.signum
    return 0


def _run_study(args: argparse.Namespace) -> int:
    from slife.study.runner import open_study

    study = open_study(args.study, args.overrides, args.out)
    if args.status:
        return _status(study)
    return _run("study", study, args.executor, args.jobs, not args.quiet, args.cluster)


def _run_demo(args: argparse.Namespace) -> int:
    from slife.study.runner import open_study

    study_file = args.config or demo_study_file()
    study = open_study(study_file, (QUICK if args.quick else []) + args.overrides, args.out)
    return _run("demo", study, "local", None, not args.quiet)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the study and demo subcommands."""
    p = sub.add_parser("study", help="a whole single-life study from one file: render, train, align, report")
    p.add_argument("study", type=Path, help="study file (YAML or TOML; see docs/study.md)")
    p.add_argument("--executor", choices=["local", "slurm", "debug"], default="local",
                   help="local: this machine, --jobs at once; slurm: submitit job array + analysis job; debug: in-process")
    p.add_argument("--jobs", type=int, default=None, help="local: trainings at once (default: the file's jobs; 0 = one per core)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: the file's out)")
    p.add_argument("--status", action="store_true", help="show where the study stands; run nothing")
    p.add_argument("--cluster", default=None, help=argparse.SUPPRESS)  # submitit cluster for tests: local | debug
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a study field, e.g. --set train.overrides.steps=600 (repeatable)")
    p.set_defaults(func=_run_study)

    d = sub.add_parser("demo", help="the demo study on the embedded synthetic world (slife study configs/study_demo.yaml)")
    d.add_argument("--out", type=Path, default=None, help="output directory (default demo_out)")
    d.add_argument("--quick", action="store_true", help="a ~1-minute smoke run (tiny lives, few steps)")
    d.add_argument("--quiet", action="store_true", help="no progress lines")
    add_config_arguments(d)
    d.set_defaults(func=_run_demo)
