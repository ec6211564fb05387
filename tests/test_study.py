"""slife study: the file is typed, a study runs what is missing (debug, local, submitit's local
cluster), a rerun does nothing, a changed config is refused by field, and preemption requeues."""

import json
import os
import signal
from pathlib import Path

import pytest
import yaml

from slife.cli import main
from slife.config import ConfigError
from slife.errors import SlifeError
from slife.study.config import LifeSpec, load_study
from slife.study.document import Document
from slife.study.runner import open_study, states

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def tiny_study(tmp: Path, **extra) -> Path:
    data = {
        "name": "tiny",
        "world": {"minutes": 0.5, "fps": 2.0, "frame_size": 128},
        "lives": ["kitchen-1", "street-1"],
        "controls": ["static"],
        "train": {"config": str(CONFIGS / "train_cpu.yaml"), "overrides": {"steps": 6, "log_every": 2, "save_every_minutes": 0},
                  "milestones": [0.5, 1.0]},
        "testset": {"lives": ["kitchen-9"], "minutes": 0.5, "pairs_per_life": 4},
        "analysis": {"read_masks": 2},
        "jobs": 1,
    }
    data.update(extra)
    path = tmp / "study.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def debug_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from test_eval_datasets import write_hpatches

    tmp = tmp_path_factory.mktemp("study")
    write_hpatches(tmp / "hpatches", {"v_astro": "astronaut"}, ks=(2,))
    path = tiny_study(tmp, analysis={"read_masks": 2, "eval": {"match_data": "hpatches"}, "metrics": True,
                                     "bootstrap": 200},  # match_data relative to the file
                      nulls=["shift-only", "real-only"], replicates=["kitchen-1"], nested=["kitchen-1"],
                      nested_fractions=[0.5, 1.0])  # fmt: skip
    out = tmp / "out"
    assert main(["study", str(path), "--out", str(out), "--executor", "debug", "--quiet"]) == 0
    return path, out


def test_study_file_is_typed_and_names_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown key"):
        load_study(tiny_study(tmp_path, colour="red"))
    with pytest.raises(ConfigError, match="held out"):
        load_study(tiny_study(tmp_path, testset={"lives": ["kitchen-1"]}))
    with pytest.raises(ConfigError, match="unique"):
        load_study(tiny_study(tmp_path, controls=["kitchen-1"]))
    cfg, root = load_study(tiny_study(tmp_path, controls=["static", {"name": "cams", "kind": "static"}]))
    assert root == tmp_path.resolve()
    assert [s.kind for s in cfg.all_lives] == ["place", "place", "static", "static"]
    assert LifeSpec("screen").kind == "screen" and LifeSpec("p01", path="/data/p01").kind is None
    # nulls and seed replicates: named by shorthand or as entries that train on another entry's life
    with pytest.raises(ConfigError, match="names no entry"):
        load_study(tiny_study(tmp_path, nulls=[{"name": "x", "of": "kitchen-7"}]))
    with pytest.raises(ConfigError, match="replicates must name lives"):
        load_study(tiny_study(tmp_path, replicates=["static"]))
    with pytest.raises(ConfigError, match="shift-only"):
        load_study(tiny_study(tmp_path, nulls=["dead-leaves"]))
    with pytest.raises(ConfigError, match="pixel-match"):
        load_study(tiny_study(tmp_path, controls=[{"name": "pixel-match", "kind": "static"}]))
    with pytest.raises(ConfigError, match="no path, kind or minutes"):
        load_study(tiny_study(tmp_path, nulls=[{"name": "x", "of": "kitchen-1", "kind": "static"}]))
    from slife.study.plan import refuse_null_equal_to_life

    from slife.study.plan import train_config

    def configs(study, root):
        return {s.name: train_config(study, root, s, 0.1) for s in study.all_lives}

    no_shift, root = load_study(tiny_study(tmp_path, nulls=["real-only"], train={"config": str(CONFIGS / "train_tiny.yaml")}))
    with pytest.raises(SlifeError, match="is that of kitchen-1 itself"):
        refuse_null_equal_to_life(no_shift, configs(no_shift, root))
    cfg, root = load_study(tiny_study(tmp_path, nulls=["shift-only", "real-only"], replicates=["street-1"]))
    refuse_null_equal_to_life(cfg, configs(cfg, root))  # the CPU recipe has shifted crops: real-only differs
    assert [s.name for s in cfg.all_lives][3:] == ["shift-only", "kitchen-1-real-only", "street-1-seed1"]
    assert cfg.life_of(cfg.entry("street-1-seed1")).name == "street-1" and cfg.entry("shift-only").kind == "deadleaves"


def test_the_demo_study_file_loads_and_trains_with_the_cpu_recipe() -> None:
    from slife.study.plan import train_config

    cfg, root = load_study(CONFIGS / "study_demo.yaml")
    assert [s.name for s in cfg.controls] == ["diverse", "static"]
    assert [s.name for s in cfg.all_lives][-3:] == ["shift-only", "kitchen-1-real-only", "kitchen-1-seed1"]
    real_only = train_config(cfg, root, cfg.entry("kitchen-1-real-only"), 0.1)
    assert real_only.data.shifted.share == 0 and real_only.steps == 300
    assert train_config(cfg, root, cfg.entry("shift-only"), 0.1).data.shifted.share == 1.0
    assert train_config(cfg, root, cfg.entry("kitchen-1-seed1"), 0.1).seed == 1
    tcfg = train_config(cfg, root, cfg.lives[0], 0.1)
    assert tcfg.steps == 300 and tcfg.data.shifted.share > 0 and tcfg.model.overrides["img_size"] == 64
    assert tcfg.milestones == pytest.approx([0.0125, 0.025, 0.05])  # fractions of the 6-minute life
    paper, _ = load_study(CONFIGS / "study_paper.yaml")
    assert len(paper.lives) == 20 and {s.kind for s in paper.controls} == {"diverse", "static", "screen"}


def test_debug_study_trains_every_life_and_reports(debug_study: tuple[Path, Path]) -> None:
    _, out = debug_study
    results = json.loads((out / "results.json").read_text())
    runs = ["kitchen-1", "street-1", "static", "shift-only", "kitchen-1-real-only", "kitchen-1-seed1"]
    assert set(results["training"]) == {*runs, "kitchen-1-first0.5", "kitchen-1-first1"}
    assert results["alignment"]["names"] == [*runs, "random-init", "identity", "pixel-match", "pixel-ncc", "ground-truth"]
    assert all(r["state"] == "done" and r["step"] == 6 for r in results["training"].values())
    assert set(results["emergence"]) == {"kitchen-1", "street-1", "static"}  # lives and controls, not the nulls
    assert {"shift-only vs reference", "pixel-match vs reference"} <= set(results["emergence"]["kitchen-1"]["baselines"])
    # the nulls are trained on what they claim: dead leaves with shifted crops only; kitchen-1 without them
    real_only = yaml.safe_load((out / "runs" / "kitchen-1-real-only" / "config.yaml").read_text())
    shift_only = yaml.safe_load((out / "runs" / "shift-only" / "config.yaml").read_text())
    seed1 = yaml.safe_load((out / "runs" / "kitchen-1-seed1" / "config.yaml").read_text())
    assert real_only["data"]["shifted"]["share"] == 0 and shift_only["data"]["shifted"]["share"] == 1.0
    assert seed1["seed"] == 1 and seed1["data"]["shifted"] == yaml.safe_load(
        (out / "runs" / "kitchen-1" / "config.yaml").read_text())["data"]["shifted"]
    assert not (out / "lives" / "kitchen-1-real-only").exists()  # trains on kitchen-1's life, rendered once
    stats = results["headline"]
    assert stats["strongest_null"] in ("random-init", "identity", "pixel-match", "pixel-ncc", "shift-only", "kitchen-1-real-only")
    assert stats["strongest_null_cas"] == max(stats[f"life_vs_{n}"] for n in
                                              ("random-init", "identity", "pixel-match", "pixel-ncc", "shift-only", "kitchen-1-real-only"))
    assert stats["seed_spread"] >= 0
    # the margins' bootstrap intervals: the point value is the margin the verdict reads, inside its interval
    margins = results["alignment"]["margins"]
    for null in ("identity", "pixel-match", "shift-only"):
        value, low, high = margins["cas"][null]
        assert value == pytest.approx(stats["life_vs_life"] - stats[f"life_vs_{null}"]) and low <= value <= high
    value, low, high = margins["gt_moving_r1"]["shift-only"]
    assert value == pytest.approx(stats["gt_moving_r1"] - stats["gt_moving_r1_shift-only"]) and low <= value <= high
    assert stats["strongest_null_margin_ci"] == margins["cas"][stats["strongest_null"]]
    shares = [stats[f"life_vs_life_moving_{p}_right_share"] for p in ("both", "one", "neither")]
    assert sum(shares) == pytest.approx(1.0)
    report = (out / "report.md").read_text()
    for line in results["headlines"]:
        assert line in report
    assert "Life models against the nulls" in report and "pixel matching (no learning)" in report
    # the paper's findings 2 and 3: one family each here, and no diverse control, so neither can be told
    assert "Finding 2 (family structure) cannot be told" in results["findings"]["family"]["sentence"]
    assert set(results["findings"]["transfer"]["models"]) == {"kitchen-1", "street-1", "static"}
    assert "Finding 3 (transfer) cannot be compared" in results["findings"]["transfer"]["sentence"]
    assert (out / "findings" / "cas_by_family.png").is_file() and "The paper's findings 2 and 3" in report
    # the similarity metrics beside CAS (analysis.metrics), with the intervals' settings recorded
    sim = results["alignment"]["similarity"]
    assert set(sim["metrics"]) == {"mutual_knn", "cka", "unbiased_cka", "cknna"} and "kitchen-1" in sim["names"]
    assert "Representation similarity beside CAS" in report and results["alignment"]["margins"]["resamples"] == 200
    for metric in sim["metrics"]:  # group means and their contrasts with half-sample intervals
        groups, contrasts = sim[metric]["groups"], sim[metric]["contrasts"]
        assert {"lives", "lives | static", "lives | random-init", "lives | pixels"} <= set(groups)
        assert all(lo <= v <= hi for v, lo, hi in groups.values())
        diff = contrasts["lives - lives | pixels"]
        assert diff[0] == pytest.approx(groups["lives"][0] - groups["lives | pixels"][0])
    assert sim["bootstrap"]["method"] == "half-samples" and "each other minus with pixels" in report
    matrix_table = report.split("## Correspondence Alignment Score")[1].split("\n\n")[2]
    assert matrix_table.count(" [") >= 2  # CAS matrix cells with their intervals
    gt_table = report.split("## Ground-truth alignment and source use")[1]
    assert next(l for l in gt_table.splitlines() if l.startswith("| kitchen-1 |")).count(" [") == 4  # every GT number with its interval
    # nested-subset emergence: kitchen-1 on its first half and on all of it, one schedule, against street-1
    nested = results["emergence_nested"]["kitchen-1"]
    assert nested["emergence_protocol"] == "nested" and nested["reference_name"] == "street-1"
    hours = [p["hours"] for p in nested["points"]]
    assert len(hours) == 2 and hours[1] == pytest.approx(2 * hours[0])
    assert {"static vs reference", "random-init vs reference"} <= set(nested["baselines"])
    # the metrics along emergence too: every point and the model baselines against the same reference
    assert all(set(p["similarity"]) == set(sim["metrics"]) for p in nested["points"])
    for p in nested["points"]:  # with half-sample intervals, as the CAS and GT of every point
        for entry in p["similarity"].values():
            assert entry["interval"][0] <= entry["value"] <= entry["interval"][1]
        assert p["cas_ci"][0] <= p["cas"] <= p["cas_ci"][1]
    table_rows = [l for l in report.split("Emergence over nested subsets")[1].splitlines() if l.startswith("| ")]
    assert table_rows[2].count(" [") >= 1 + len(sim["metrics"])  # the first point: CAS and every metric with intervals
    assert {"random-init vs reference", "pixels vs reference"} <= set(nested["similarity"]["baselines"])
    assert "mutual_knn vs reference" in report.split("Emergence over nested subsets")[1]
    for frac in ("0.5", "1"):
        cfg = yaml.safe_load((out / "runs" / f"kitchen-1-first{frac}" / "config.yaml").read_text())
        assert cfg["data"]["stream_fraction"] == 0 and cfg["steps"] == 6
    assert "kitchen-1-first0.5" not in results["alignment"]["names"] and "Emergence over nested subsets" in report
    # downstream: zero-shot matching of every run's final milestone, in the report
    assert set(results["downstream"]) == set(runs)
    assert all(r["match AEPE (px)"] > 0 for r in results["downstream"].values())
    assert "Downstream" in report and (out / "eval" / "kitchen-1" / "eval_all.json").is_file()
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 4  # CAS matrix + 3 emergence plots, embedded
    assert "<table>" in html and "missing figure" not in html


def test_rerun_does_no_work_and_changed_config_is_refused(debug_study: tuple[Path, Path], capsys, monkeypatch) -> None:
    path, out = debug_study
    stamp = (out / "runs" / "kitchen-1" / "checkpoints" / "last.pt").stat().st_mtime_ns
    results = (out / "results.json").stat().st_mtime_ns
    assert main(["study", str(path), "--out", str(out), "--executor", "debug"]) == 0
    assert "nothing to do" in capsys.readouterr().err
    assert (out / "runs" / "kitchen-1" / "checkpoints" / "last.pt").stat().st_mtime_ns == stamp
    assert (out / "results.json").stat().st_mtime_ns == results
    # results measured by other code (an older slife) are not up to date: the analysis runs again
    from slife.study import runner

    study = runner.open_study(path, out=out)
    assert runner.up_to_date(study)
    with monkeypatch.context() as patch:
        patch.setattr(runner, "analysis_code_digest", lambda: "older-slife")
        assert not runner.up_to_date(study)
    assert runner.up_to_date(study)
    # a changed training field is refused, naming the run and the field; nothing is trained
    code = main(["study", str(path), "--out", str(out), "--executor", "debug", "--set", "train.overrides.optim.lr=0.01"])
    err = capsys.readouterr().err
    assert code == 2 and "kitchen-1" in err and "optim.lr" in err
    assert (out / "runs" / "kitchen-1" / "checkpoints" / "last.pt").stat().st_mtime_ns == stamp
    # --status reads the files only
    assert main(["study", str(path), "--out", str(out), "--status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["kitchen-1", "done", "6/6"] and "up to date" in lines[-1]


def test_local_executor_resumes_a_partial_study_two_jobs_at_once(tmp_path: Path, capsys) -> None:
    path = tiny_study(tmp_path, controls=[])
    out = tmp_path / "out"
    from slife.study.runner import run_study
    from slife.train.loop import train
    from slife.study.plan import prepare_lives, train_config

    study = open_study(path, [], out)
    dirs = prepare_lives(study.cfg, study.root, study.paths, False)
    spec = study.cfg.lives[0]
    from slife.life import Life

    train(dirs[spec.name], study.paths.run(spec.name), train_config(study.cfg, study.root, spec, Life.open(dirs[spec.name]).hours),
          progress=False, stop_after=2)  # fmt: skip
    assert [(s.state, s.step) for s in states(study)] == [("partial", 2), ("missing", 0)]
    assert run_study(study, "local", jobs=2, progress=False)["state"] == "done"
    assert [(s.state, s.step) for s in states(study)] == [("done", 6), ("done", 6)]
    assert (out / "report.md").is_file()


def test_slurm_path_through_submitits_local_cluster(tmp_path: Path) -> None:
    pytest.importorskip("submitit")
    from slife.study.runner import run_study

    path = tiny_study(tmp_path, lives=["kitchen-1", "kitchen-2"], controls=[])
    study = open_study(path, [], tmp_path / "out")
    result = run_study(study, "slurm", progress=False, slurm_cluster="local")
    assert result["state"] == "done" and len(result["jobs"]["train"]) == 2
    assert [s.state for s in states(study)] == ["done", "done"]
    assert json.loads((tmp_path / "out" / "results.json").read_text())["alignment"]["names"][:2] == ["kitchen-1", "kitchen-2"]


def test_slurm_training_job_with_two_tasks_trains_one_run_with_ddp(tmp_path: Path) -> None:
    """slurm.tasks_per_node: 2 starts two tasks for the run (one rank per GPU on a cluster; here gloo on
    the CPU through submitit's local cluster); they join one process group and train the run together."""
    pytest.importorskip("submitit")
    from slife.run import RunDir
    from slife.study.runner import run_study

    path = tiny_study(tmp_path, lives=["kitchen-1"], controls=[], slurm={"tasks_per_node": 2, "gpus_per_node": 0})
    study = open_study(path, [], tmp_path / "out")
    result = run_study(study, "slurm", progress=False, slurm_cluster="local")
    assert result["state"] == "done" and [s.state for s in states(study)] == ["done"]
    starts = [r for r in RunDir(study.paths.run("kitchen-1")).read_log() if "world_size" in r]
    assert starts and {r["world_size"] for r in starts} == {2}
    jobs = json.loads((tmp_path / "out" / "slurm" / "jobs.json").read_text())
    assert jobs["runs"] == ["kitchen-1"] and jobs["cluster"] == "local"


def test_a_slurm_task_of_a_two_rank_job_gets_torchruns_environment(monkeypatch) -> None:
    """What SLURM sets for task 1 of a 2-task job (3 CPUs per task) becomes torchrun's variables, and
    the rank's torch threads are its own 3 CPUs (not divided again by the 2 local ranks)."""
    pytest.importorskip("submitit")
    from slife.study.executors import join_job_ranks
    from slife.train.threads import resolve_threads

    slurm = {"SUBMITIT_EXECUTOR": "slurm", "SLURM_JOB_ID": "77", "SLURM_NTASKS": "2", "SLURM_JOB_NUM_NODES": "1",
             "SLURM_NODEID": "0", "SLURM_JOB_NODELIST": "gpu07", "SLURM_PROCID": "1", "SLURM_LOCALID": "1",
             "SLURM_CPUS_PER_TASK": "3"}  # fmt: skip
    for key, value in slurm.items():
        monkeypatch.setenv(key, value)
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "OMP_NUM_THREADS"):
        monkeypatch.setenv(key, "")  # records the original, so the export below is undone after the test
        monkeypatch.delenv(key)
    join_job_ranks()
    got = {k: os.environ.get(k) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR")}
    assert got == {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "gpu07"}
    assert 20000 <= int(os.environ["MASTER_PORT"]) <= 60000 and resolve_threads(0) == 3


def test_status_shows_the_slurm_job_states(tmp_path: Path, monkeypatch, capsys) -> None:
    """--status asks SLURM (sacct, through submitit) where the submitted jobs stand; a fake sacct stands
    in for the cluster's."""
    pytest.importorskip("submitit")
    path = tiny_study(tmp_path, lives=["kitchen-1", "street-1"], controls=[])
    out = tmp_path / "out"
    (out / "slurm").mkdir(parents=True)
    (out / "slurm" / "jobs.json").write_text(json.dumps(
        {"train": ["4242_0", "4242_1"], "runs": ["kitchen-1", "street-1"], "analysis": "4243", "cluster": "slurm"}))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sacct = bin_dir / "sacct"
    sacct.write_text("#!/bin/sh\necho 'JobID|State|NodeList'\necho '4242_0|RUNNING|gpu01'\n"
                     "echo '4242_1|PREEMPTED|gpu02'\necho '4243|PENDING|None assigned'\n")
    sacct.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    assert main(["study", str(path), "--out", str(out), "--status"]) == 0
    lines = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("slurm")]
    assert [(w[1], w[3], w[4]) for w in lines] == [("kitchen-1", "4242_0", "RUNNING"), ("street-1", "4242_1", "PREEMPTED"),
                                                   ("analysis", "4243", "PENDING")]  # fmt: skip


def test_preempted_training_hands_the_signal_to_submitit_and_resumes(tmp_path: Path, monkeypatch) -> None:
    """SIGUSR2 (SLURM's warning): last.pt is saved, the previous handler (submitit's requeue) runs, and
    running the task again (what the requeued job does) finishes the run."""
    import slife.train.loop as loop
    from slife.life import Life
    from slife.study.executors import TrainTask
    from slife.study.plan import prepare_lives, train_config
    from slife.train.parallel import TrainJob
    from slife.train.signals import TrainingStopped

    study = open_study(tiny_study(tmp_path, controls=[], lives=["kitchen-1"]), [], tmp_path / "out")
    d = prepare_lives(study.cfg, study.root, study.paths, False)["kitchen-1"]
    job = TrainJob(d, study.paths.run("kitchen-1"), train_config(study.cfg, study.root, study.cfg.lives[0], Life.open(d).hours))
    real_lr_at = loop.lr_at

    def lr_at(step, *args, **kwargs):  # SLURM's warning arrives while step 3 (0-based) runs
        if step == 3:
            os.kill(os.getpid(), signal.SIGUSR2)
        return real_lr_at(step, *args, **kwargs)

    monkeypatch.setattr(loop, "lr_at", lr_at)
    called = []
    previous = signal.signal(signal.SIGUSR2, lambda s, f: called.append(s))  # stands in for submitit's handler
    try:
        with pytest.raises(TrainingStopped, match="SIGUSR2 after step 4 of 6"):
            TrainTask()(job)
    finally:
        signal.signal(signal.SIGUSR2, previous)
    assert called == [signal.SIGUSR2]
    assert [(s.state, s.step) for s in states(study)] == [("partial", 4)]
    assert TrainTask().checkpoint(job).function.__class__ is TrainTask
    monkeypatch.setattr(loop, "lr_at", real_lr_at)
    assert TrainTask()(job)["steps"] == 6  # the requeued job resumes and finishes
    assert [(s.state, s.step) for s in states(study)] == [("done", 6)]


def test_document_markdown_and_html_say_the_same(tmp_path: Path) -> None:
    doc = Document()
    doc.heading(1, "T")
    doc.para("**bold** and `code` <tag>")
    doc.table(["a", "b"], [["1", "0.500"]])
    doc.image("fig", "missing.png")
    md, html = doc.markdown(), doc.html(tmp_path, "T")
    assert "| a | b |" in md and "![fig](missing.png)" in md
    assert "<strong>bold</strong>" in html and "<code>code</code>" in html and "&lt;tag&gt;" in html
    assert "<td>0.500</td>" in html and "missing figure missing.png" in html


def test_gpu_real_study_file_runs_at_a_tiny_size_on_the_cpu(tmp_path: Path) -> None:
    """Issue #19 part 5: the prepared GPU study (ViT-S, 128 px, mask 0.9, batch 256, real pairs only, the
    nulls, a second seed, the hard test set) runs end to end; here shrunk to seconds on the CPU."""
    data = yaml.safe_load((CONFIGS / "study_gpu_real.yaml").read_text())
    gpu = yaml.safe_load((CONFIGS / "train_gpu_real.yaml").read_text())
    assert gpu["model"]["size"] == "small" and gpu["batch_size"] >= 256 and gpu["data"]["shifted"]["share"] == 0
    assert data["world"]["minutes"] == 60.0 and len(data["lives"]) == 3 and data["replicates"]
    tiny_model = {"size": "tiny", "overrides": {"img_size": 64, "patch_size": 16, "enc_dim": 32, "enc_heads": 2,
                                                "enc_depth": 1, "dec_dim": 32, "dec_heads": 2, "dec_depth": 1,
                                                "mask_ratio": 0.9}}
    data["world"].update(minutes=0.5, frame_size=96)
    data["train"]["config"] = str(CONFIGS / "train_gpu_real.yaml")
    data["train"]["overrides"] = {"steps": 3, "batch_size": 4, "model": tiny_model, "device": "cpu",
                                  "log_every": 1, "save_every_minutes": 0}
    data["testset"].update(minutes=0.5, pairs_per_life=2, hard_pairs_per_life=2, hard_min_moving=0.2)
    for spec in data["nulls"]:
        if "minutes" in spec:
            spec["minutes"] = 0.5
    data["analysis"].update(read_masks=1, emergence=False, source_use=False)
    path = tmp_path / "gpu.yaml"
    path.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    assert main(["study", str(path), "--out", str(out), "--executor", "debug", "--quiet"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["alignment"]["names"][:6] == ["kitchen-1", "kitchen-2", "street-1", "shift-only",
                                                 "kitchen-1-plain-real", "kitchen-1-seed1"]
    assert results["headline_hard"]["gt_moving_r1_chance"] > 0 and (out / "testset_hard.npz").is_file()
    assert "On spatial test pairs (large viewpoint change)" in (out / "report.md").read_text()
    reward = results["copy_reward"]
    assert set(reward) == {"temporal", "spatial"} and "shifted_2" in reward["temporal"]
    assert reward["temporal"]["shifted_2"]["r2_nb_grid"] > 0.99  # a shifted pair's right patch is an exact copy


def test_a_study_stopped_by_a_signal_exits_like_train(tmp_path: Path, monkeypatch, capsys) -> None:
    """#23 (low): SIGTERM while a study trains saves last.pt and exits 128 + 15 (was 2)."""
    import slife.train.loop as loop

    path = tiny_study(tmp_path, controls=[], lives=["kitchen-1"])
    real_lr_at = loop.lr_at

    def lr_at(step, *args, **kwargs):
        if step == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return real_lr_at(step, *args, **kwargs)

    monkeypatch.setattr(loop, "lr_at", lr_at)
    assert main(["study", str(path), "--out", str(tmp_path / "out"), "--executor", "debug", "--quiet"]) == 128 + signal.SIGTERM
    assert "stopped by SIGTERM after step 4 of 6" in capsys.readouterr().err
    assert [(s.state, s.step) for s in states(open_study(path, [], tmp_path / "out"))] == [("partial", 4)]


def test_a_changed_held_out_life_makes_the_results_stale(debug_study: tuple[Path, Path]) -> None:
    """#23 M3: a held-out test life replaced after the analysis is not 'nothing to do'."""
    from slife.study.runner import up_to_date

    path, out = debug_study
    manifest = out / "lives" / "test" / "kitchen-9" / "life.json"
    original = manifest.read_bytes()
    study = open_study(path, [], out)
    assert up_to_date(study)
    try:
        manifest.write_bytes(original.replace(b"{", b"{ ", 1))  # a re-ingested / re-rendered test life
        assert not up_to_date(study)
    finally:
        manifest.write_bytes(original)
    assert up_to_date(study)


def test_a_refused_study_leaves_its_study_file_alone(debug_study: tuple[Path, Path], capsys) -> None:
    """#23 M5: OUT/study.yaml still describes the study that ran when a changed one is refused."""
    path, out = debug_study
    before = (out / "study.yaml").read_bytes()
    assert main(["study", str(path), "--out", str(out), "--executor", "debug", "--set", "train.overrides.optim.lr=0.02"]) == 2
    assert "optim.lr" in capsys.readouterr().err
    assert (out / "study.yaml").read_bytes() == before


def test_a_life_given_by_path_cannot_also_be_held_out(tmp_path: Path) -> None:
    """#23 M4: the same folder as a training life and a held-out test life is refused."""
    path = tiny_study(tmp_path, lives=[{"name": "p01", "path": "data/p01"}], controls=[],
                      testset={"lives": [], "paths": ["./data/../data/p01"]})  # fmt: skip
    with pytest.raises(ConfigError, match=r"life p01: its path data/p01 is also in testset.paths"):
        load_study(path)


def test_lives_whose_models_read_different_sizes_are_refused_naming_the_study_file(tmp_path: Path, capsys) -> None:
    """#22: the test set has one size for every model; a study whose entries disagree is refused before
    any training, in one line naming the study file and both lives."""
    path = tiny_study(tmp_path, controls=[], lives=["kitchen-1", {"name": "street-1", "set": ["model.overrides.img_size=32"]}])
    assert main(["study", str(path), "--out", str(tmp_path / "out"), "--executor", "debug", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(path) in err and "street-1" in err and "kitchen-1" in err, err
    assert not (tmp_path / "out" / "runs").exists()
