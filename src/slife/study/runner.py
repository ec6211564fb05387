"""``slife study``: run what a study is missing, skip what is done, then analyse and report.

``run_study`` renders missing world lives, refuses runs whose stored config differs from the study's
(naming the field), trains the missing or partial runs on the chosen executor, and writes the
analysis (slife.study.analysis) and reports (slife.study.report). A second call with nothing changed
does no work: the results carry a fingerprint of the study, of every run's state and of the code that
measures (so results written by an older slife are recomputed, not reported as up to date).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from slife.config import to_dict
from slife.errors import SlifeError
from slife.run import RunDir
from slife.study.config import StudyConfig, load_study
from slife.study.plan import (StudyPaths, family_of, prepare_lives, prepare_test_lives, refuse_conflicts,
                              run_state, testset_model, train_config, RunState)  # fmt: skip

RESULTS = "results.json"


@dataclass
class Study:
    """A loaded study: its config, the folder its paths are relative to, and its output folder."""

    cfg: StudyConfig
    root: Path
    out: Path
    file: str | None = None
    overrides: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        """How error messages name the study: its file, or the packaged default's name."""
        return self.file if self.file is not None else "the default study"

    @property
    def paths(self) -> StudyPaths:
        return StudyPaths(self.out)


def open_study(study_file: str | Path | None, overrides: Sequence[str] = (), out: str | Path | None = None,
               base: dict[str, Any] | None = None) -> Study:  # fmt: skip
    cfg, root = load_study(study_file, list(overrides), base)
    out_dir = Path(out if out is not None else cfg.out).absolute()  # jobs elsewhere (SLURM) see the same folder
    return Study(cfg, root, out_dir, None if study_file is None else str(study_file), list(overrides))


def say(msg: str) -> None:
    print(f"[study] {msg}", file=sys.stderr, flush=True)


def _life_hours(life_dir: Path) -> float | None:
    from slife.life import Life

    return Life.open(life_dir).hours if (life_dir / "life.json").is_file() else None


def states(study: Study) -> list[RunState]:
    """Where every run stands (a run whose life is not rendered yet is missing)."""
    out = []
    for spec in study.cfg.all_lives:
        life = study.cfg.life_of(spec)
        hours = _life_hours(study.paths.life(life, study.root))
        run = study.paths.run(spec.name)
        if hours is None:
            out.append(RunState(spec.name, "missing", detail="life not rendered yet" if life.rendered else "life not ingested yet" if life.videos else "life not found"))
            continue
        out.append(run_state(spec.name, run, train_config(study.cfg, study.root, spec, hours)))
    return out


MEASURING_CODE = ("align", "study", "evaluate", "imaging.py", "geometry.py", "world")  # under the slife package


def analysis_code_digest() -> str:
    """A digest of the source of everything that turns finished runs into results (alignment, the
    analysis and report, evaluation, test-set geometry, the renderer of held-out places)."""
    import slife

    root = Path(slife.__file__).parent
    digest = hashlib.sha256()
    for part in MEASURING_CODE:
        files = sorted((root / part).rglob("*.py")) if (root / part).is_dir() else [root / part]
        for f in files:
            digest.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes())
    return digest.hexdigest()[:16]


def _test_life_dirs(study: Study) -> list[Path]:
    from slife.study.plan import study_path

    t = study.cfg.testset
    return [study.paths.test_life(n) for n in t.lives] + [study_path(study.root, p) for p in t.paths]


def _manifest_digest(life_dir: Path) -> str | None:
    """sha256 of a life's manifest (changes whenever a video is added, replaced or removed); None if absent."""
    try:
        return hashlib.sha256((life_dir / "life.json").read_bytes()).hexdigest()
    except OSError:
        return None


def fingerprint(study: Study, run_states: list[RunState]) -> str:
    """What the results were computed from: the study, every run's state, every held-out life and the
    code that measures."""
    data = {"study": to_dict(study.cfg), "runs": [(s.name, s.state, s.step, s.total) for s in run_states],
            "test_lives": [(str(d), _manifest_digest(d)) for d in _test_life_dirs(study)],
            "code": analysis_code_digest()}  # fmt: skip
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def up_to_date(study: Study) -> bool:
    """True when every run is done and the results were computed from exactly this study and these runs."""
    path = study.out / RESULTS
    run_states = states(study)
    if not path.is_file() or any(s.state != "done" for s in run_states):
        return False
    try:
        stored = json.loads(path.read_text(encoding="utf-8")).get("fingerprint")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return False
    return stored == fingerprint(study, run_states)


def train_configs(study: Study, life_dirs: dict[str, Path]) -> dict[str, Any]:
    """Every entry's TrainConfig (entry name -> config), its life's length read from ``life_dirs``."""
    from slife.life import Life

    return {s.name: train_config(study.cfg, study.root, s, Life.open(life_dirs[s.name]).hours) for s in study.cfg.all_lives}


def train_jobs(study: Study, life_dirs: dict[str, Path], test_dirs: list[Path] | None = None) -> tuple[list[Any], list[RunState]]:
    """The TrainJobs of the runs that are not done, and every run's state (conflicts, and what the
    analysis would refuse after training, refused)."""
    from slife.train.parallel import TrainJob

    from slife.study.plan import refuse_null_equal_to_life, refuse_unanalysable

    configs = train_configs(study, life_dirs)
    refuse_null_equal_to_life(study.cfg, configs)
    refuse_unanalysable(study.cfg, configs, test_dirs or [], study.where)
    jobs, run_states = [], []
    for spec in study.cfg.all_lives:
        cfg = configs[spec.name]
        run = study.paths.run(spec.name)
        run_states.append(run_state(spec.name, run, cfg))
        if run_states[-1].state != "done":
            jobs.append(TrainJob(life_dirs[spec.name], run, cfg))
    refuse_conflicts(run_states)
    return jobs, run_states


def run_study(study: Study, executor: str = "local", jobs: int | None = None, progress: bool = True,
              slurm_cluster: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Run what is missing and report. Returns ``{"state": "up-to-date" | "done" | "submitted", ...}``."""
    from slife.config import save_config
    from slife.study.executors import run_debug, run_local, run_slurm

    if executor not in ("local", "slurm", "debug"):
        raise SlifeError(f"unknown executor {executor!r}; use local, slurm or debug")
    if executor == "slurm" and slurm_cluster is None and shutil.which("sbatch") is None:
        raise SlifeError("--executor slurm: SLURM's sbatch is not on this machine's PATH; run the study where "
                         "SLURM is, or use --executor local")  # fmt: skip
    if up_to_date(study):
        say(f"nothing to do: every run is done and {study.out / 'report.md'} is up to date")
        return {"state": "up-to-date", "report": str(study.out / "report.md")}
    study.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    life_dirs = prepare_lives(study.cfg, study.root, study.paths, progress)
    test_dirs = prepare_test_lives(study.cfg, study.root, study.paths, progress)
    render_s = time.perf_counter() - t0
    todo, run_states = train_jobs(study, life_dirs, test_dirs)
    save_config(study.cfg, study.out / "study.yaml")  # only once the study is accepted (conflicts refused)
    say(f"{len(run_states) - len(todo)} of {len(run_states)} runs done; training {len(todo)}")
    for s in run_states:
        say(s.line())
    t0 = time.perf_counter()
    if executor == "slurm":
        ids = run_slurm(todo, study.cfg, study.file, study.overrides, study.out, cluster=slurm_cluster)
        if ids["cluster"] == "slurm":
            say(f"submitted: trainings {ids['train'] or 'none'}, analysis {ids['analysis']} (slife study --status)")
            return {"state": "submitted", "jobs": ids}
        say(f"ran on submitit's {ids['cluster']} cluster: trainings {ids['train'] or 'none'}, analysis {ids['analysis']}")
        return {"state": "done", "jobs": ids, "report": str(study.out / "report.md")}
    if executor == "debug":
        run_debug(todo, progress)
    elif executor == "local":
        run_local(todo, study.cfg.jobs if jobs is None else jobs, (lambda: [say(s.line()) for s in states(study)]) if progress else None)
    else:
        raise SlifeError(f"unknown executor {executor!r}; use local, slurm or debug")
    train_s = time.perf_counter() - t0
    report = analyse(study, progress, phases=[("render lives", render_s), ("train", train_s)])
    return {"state": "done", "report": str(report)}


def analyse_study(study_file: str | None, overrides: list[str], out: str) -> Path:
    """The analysis step on its own (the SLURM analysis job)."""
    return analyse(open_study(study_file, overrides, out), progress=False)


def _training_summary(study: Study, run_states: list[RunState]) -> dict[str, dict[str, Any]]:
    rows = {}
    for s in run_states:
        recs = [r for r in RunDir(study.paths.run(s.name)).read_log() if "loss" in r]
        last = recs[-1] if recs else {}
        rows[s.name] = {"state": s.state, "step": s.step, "total": s.total, "final_loss": last.get("loss"),
                        "pairs_per_s": last.get("pairs_per_s"), "pairs_seen": last.get("pairs_seen")}  # fmt: skip
    return rows


def _null_text(study: StudyConfig, spec: Any) -> str:
    """What a null run is, for the report: its kind, or the recipe change on the life it trains on."""
    from slife.study.config import KIND_NAMES

    if spec.of is None:
        return KIND_NAMES.get(spec.kind or "", "null model")
    return f"null model trained on {spec.of}'s life with {', '.join(spec.set) or 'the same recipe'}"


def _train_text(cfg: Any) -> dict[str, Any]:
    sh = cfg.data.shifted
    pairs = f"sampler {cfg.data.sampler}" + (f"; {sh.describe()}" if sh.on else "")
    over = ", ".join(f"{k}={v}" for k, v in cfg.model.overrides.items())
    return {"model": f"{cfg.model.size}" + (f" ({over})" if over else ""), "steps": cfg.steps,
            "batch_size": cfg.batch_size, "pairs": pairs}  # fmt: skip


def paper_findings(report: dict[str, Any], downstream: dict[str, Any], lives: list[str], families: dict[str, str],
                   controls: dict[str, str], stats: dict[str, Any], out: Path) -> dict[str, Any]:  # fmt: skip
    """The paper's findings 2 and 3 (slife.study.findings) with their figures under ``out/findings``:
    the CAS matrix in family order, the dendrogram of the life models, CAS against downstream."""
    import numpy as np

    from slife.align.plots import plot_matrix
    from slife.study import findings as F

    fam = F.family_structure(report, lives, families, controls, stats.get("seed_spread", float("nan")))
    tra = F.transfer(downstream, report, lives, controls)
    names, m = list(report["names"]), np.asarray(report["cas"], dtype=float)
    order = [names.index(n) for n in fam["order"]]
    plot_matrix(fam["order"], m[np.ix_(order, order)], out / "findings" / "cas_by_family.png", report.get("chance"),
                report.get("baselines", ()), "CAS, lives grouped by family")  # fmt: skip
    fam["figures"] = {"matrix": "findings/cas_by_family.png"}
    if F.plot_dendrogram(fam["clustering"], lives, out / "findings" / "dendrogram.png") is not None:
        fam["figures"]["dendrogram"] = "findings/dendrogram.png"
    if F.plot_transfer(tra, out / "findings" / "transfer.png") is not None:
        tra["figure"] = "findings/transfer.png"
    return {"family": fam, "transfer": tra}


def analyse(study: Study, progress: bool = True, phases: list[tuple[str, float]] | None = None) -> Path:
    """Every analysis of the study on its finished runs; writes results.json, report.md, report.html."""
    from slife.align.testset import make_testset
    from slife.atomic import write_json_atomic
    from slife.study import analysis as A
    from slife.study.report import write_reports

    cfg = study.cfg
    run_states = states(study)
    unfinished = [f"{s.name} ({s.state}{': ' + s.detail if s.detail else ''})" for s in run_states if s.state != "done"]
    if unfinished:
        raise SlifeError(f"{study.out}: runs not done: {'; '.join(unfinished)}")
    phases = list(phases or [])
    mechanism = None
    if cfg.analysis.mechanism_steps > 0:
        t0 = time.perf_counter()
        mechanism = A.run_mechanism(cfg.analysis.mechanism_steps, cfg.seed, study.out, progress)
        phases.append(("mechanism test", time.perf_counter() - t0))
    t0 = time.perf_counter()
    life_dirs = {s.name: study.paths.life(cfg.life_of(s), study.root) for s in cfg.all_lives}
    configs = train_configs(study, life_dirs)
    tcfg = configs[cfg.lives[0].name]  # type: ignore[union-attr]  # the recipe the report summarises
    mcfg = testset_model(configs, study.where)  # every model reads the test set at one size
    test_dirs = prepare_test_lives(cfg, study.root, study.paths, progress)
    t = cfg.testset
    testset = make_testset(test_dirs, t.pairs_per_life, mcfg.img_size, cfg.seed, patch_size=mcfg.patch_size,
                           sampler=t.sampler, min_moving=t.min_moving)  # fmt: skip
    testset.save(study.paths.testset)
    lives = [s.name for s in cfg.lives]  # type: ignore[union-attr]
    families = {s.name: family_of(s, cfg) for s in cfg.all_lives}
    controls = {s.name: cfg.life_of(s).kind or "control" for s in cfg.controls}  # type: ignore[union-attr]
    nulls = {s.name: _null_text(cfg, s) for s in cfg.nulls}  # type: ignore[union-attr]
    replicates = {s.name: s.of for s in cfg.replicate_specs}
    nested_names = {s.name for s in cfg.nested_specs}
    runs = {s.name: study.paths.run(s.name) for s in cfg.all_lives if s.name not in nested_names}
    measured = A.alignment(runs, testset, cfg.analysis, cfg.seed, study.out, lives, families,
                           curves=[*lives, *controls], null_runs=list(nulls))  # fmt: skip
    series = {n: [study.paths.run(s.name) for s in cfg.nested_specs if s.of == n] for n in cfg.nested}
    measured["emergence_nested"] = A.nested_emergence(series, measured, testset, cfg.analysis, cfg.seed, study.out,
                                                      lives, families, controls)  # fmt: skip
    reward = {"temporal": A.copy_reward_of(testset, cfg.seed)}
    hard = None
    if t.hard_pairs_per_life > 0:
        hard_set = make_testset(test_dirs, t.hard_pairs_per_life, mcfg.img_size, cfg.seed + 1, patch_size=mcfg.patch_size,
                                sampler="spatial", min_moving=t.hard_min_moving, jaccard=t.hard_jaccard,
                                rotate=t.hard_rotate, zoom=t.hard_zoom, exposure=t.hard_exposure)  # fmt: skip
        hard_set.save(study.paths.hard_testset)
        hard = A.hard_alignment(runs, hard_set, cfg.analysis, cfg.seed, study.out, lives, families, list(nulls))
        reward["spatial"] = A.copy_reward_of(hard_set, cfg.seed)
    phases.append(("alignment", time.perf_counter() - t0))
    downstream = {}
    if cfg.analysis.eval.depth_data or cfg.analysis.eval.match_data:
        t0 = time.perf_counter()
        downstream = A.downstream(runs, cfg.analysis.eval, study.root, study.out,
                                  {n: study.paths.test_life(n) for n in t.lives})  # fmt: skip
        phases.append(("downstream", time.perf_counter() - t0))
    stats = A.headline(measured["alignment"], lives, families, controls, nulls, replicates)
    hard_stats = None if hard is None else A.headline(hard, lives, families, controls, nulls, replicates)
    lines = []
    if mechanism is not None:
        lines.append(A.mechanism_line(mechanism))
    lines.append(A.correspondence_verdict(stats, measured["source_use"], lives))
    controls_line = A.controls_verdict(stats, controls)
    if controls_line is not None:
        lines.append(controls_line)
    if hard_stats is not None:
        lines.append("On spatial test pairs (large viewpoint change): "
                     + A.correspondence_verdict(hard_stats, {}, lives))  # fmt: skip
    findings = paper_findings(measured["alignment"], downstream, lives, families, controls, stats, study.out)
    lines += [findings["family"]["sentence"], findings["transfer"]["sentence"]]
    lines.append(A.verdict(stats))
    results = {
        "config": to_dict(cfg),
        "fingerprint": fingerprint(study, run_states),
        "headline": stats,
        "verdict": lines[-1],
        "headlines": lines,
        "mechanism": mechanism,
        **measured,
        "downstream": downstream,
        "findings": findings,
        "alignment_hard": hard,
        "copy_reward": reward,
        "headline_hard": hard_stats,
        "nulls": nulls,
        "replicates": replicates,
        "training": _training_summary(study, run_states),
        "train_summary": _train_text(tcfg),
        "phases": [{"name": n, "seconds": s} for n, s in phases],
        "scale_note": cfg.note,
    }
    write_json_atomic(study.out / RESULTS, results)
    report = write_reports(study.out, cfg, json.loads((study.out / RESULTS).read_text()))
    for line in lines:
        say(line)
    say(f"report: {report}")
    return report
