"""Inputs an attacker or an accident would hand slife (issue #23): each gives a one-line error naming
the file or the field, bounded memory, and no change to data on disk."""

import json
import math
from pathlib import Path

import pytest
import torch

from slife.cli import main
from slife.config import ConfigError, load_config
from slife.errors import SlifeError
from slife.model.checkpoint import CheckpointError, load_model, save_checkpoint
from slife.model.config import model_config
from slife.train import TrainConfig
from tests.test_integrity import _tiny_payload


# ---- M7: NaN / inf in float config fields --------------------------------------------------------
@pytest.mark.parametrize("field", ["optim.lr", "data.stream_fraction", "save_every_minutes", "optim.clip_grad",
                                   "data.shifted.share", "pairs_per_hour"])  # fmt: skip
@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "nan", "1e999"])
def test_non_finite_floats_are_refused_naming_the_field(field: str, value: str) -> None:
    with pytest.raises(ConfigError, match=rf"{field}: must be a finite number"):
        load_config(TrainConfig, None, [f"{field}={value}"])


def test_non_finite_floats_in_a_file_and_in_model_overrides_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "train.yaml"
    path.write_text("optim:\n  lr: .nan\n")
    with pytest.raises(ConfigError, match=rf"{path}.optim.lr: must be a finite number, got nan"):
        load_config(TrainConfig, path)
    with pytest.raises(SlifeError, match="mlp_ratio: must be a finite number"):
        model_config("tiny", mlp_ratio=float("nan"))
    with pytest.raises(SlifeError, match="rope_base: must be a finite number"):
        model_config("tiny", rope_base=math.inf)


# ---- M6: model sizes from a file are bounded before anything is allocated -----------------------
@pytest.mark.parametrize("override, message", [
    ({"enc_dim": 1 << 20, "enc_heads": 1 << 16}, "enc_dim 1048576 is above slife's limit"),
    ({"enc_depth": 100000}, "enc_depth 100000 is above slife's limit"),
    ({"img_size": 1 << 20}, "img_size 1048576 is above slife's limit"),
    ({"enc_dim": 8192, "enc_heads": 64, "enc_depth": 200}, "parameters, above slife's limit"),
    ({"enc_dim": "128"}, "enc_dim: expected an integer"),
])  # fmt: skip
def test_model_configs_beyond_the_limits_are_refused(override: dict, message: str) -> None:
    with pytest.raises(SlifeError, match=message):
        model_config("tiny", **override)


def test_a_checkpoint_whose_config_is_larger_than_its_weights_is_refused_before_building(tmp_path: Path) -> None:
    payload = _tiny_payload()
    payload["model_config"] = {**payload["model_config"], "enc_dim": 4096, "enc_heads": 64, "enc_depth": 64}  # ~13 GB
    path = tmp_path / "big.pt"
    save_checkpoint(path, payload)
    with pytest.raises(SlifeError, match=rf"{path}:model_config: model config: ~1.29e\+10 parameters, above slife's limit"):
        load_model(path)
    payload["model_config"] = {**_tiny_payload()["model_config"], "enc_dim": 1024, "enc_heads": 16, "enc_depth": 8}
    save_checkpoint(path, payload)
    with pytest.raises(CheckpointError, match=rf"{path}: model_config describes ~1.0\de\+08 parameters but the file holds"):
        load_model(path)
    save_checkpoint(path, {**_tiny_payload(), "model_config": [1, 2]})
    with pytest.raises(CheckpointError, match=rf"{path}: model_config must be a mapping"):
        load_model(path)


def test_an_export_whose_config_is_larger_than_its_weights_is_refused(tmp_path: Path) -> None:
    from slife.model.export import export_model, from_pretrained

    save_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt", _tiny_payload())
    out = export_model(tmp_path / "run", tmp_path / "out")
    cfg = json.loads((out / "config.json").read_text())
    cfg["model_config"].update(enc_dim=2048, enc_heads=32, enc_depth=24)
    (out / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(SlifeError, match=r"model.safetensors: model_config describes ~1.21e\+09 parameters but the file holds"):
        from_pretrained(out)


# ---- M9, M10: config and study files that are not what they claim ---------------------------------
BOMB = "".join(f"{c}: &{c} [{', '.join([f'*{p}'] * 9) if p else ', '.join(['lol'] * 9)}]\n"
               for p, c in zip(["", "a", "b", "c", "d", "e"], "abcdef"))  # fmt: skip


@pytest.mark.parametrize("content, message", [
    (BOMB.encode(), "expands to more than 100000 values"),
    (b"a: &a [*a]\n", "a YAML alias refers to a value that contains it"),
    (b"x: " + b"[" * 70 + b"]" * 70, "nested more than 64 levels deep"),
    (b"x: " + b"[" * 3000 + b"]" * 3000, "nested too deeply"),
    (b"name: caf\xe9\n", "not UTF-8 text"),
    (b"# " + b"x" * (1 << 20) + b"\n", "larger than 1048576 bytes"),
    (b"name: [unclosed\n  other: 1\n", "cannot parse YAML"),
])  # fmt: skip
@pytest.mark.parametrize("command", ["study", "train"])
def test_hostile_config_and_study_files_are_one_line_errors(tmp_path: Path, capsys, command, content, message) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    argv = ["study", str(path), "--out", str(tmp_path / "out")] if command == "study" else \
        ["train", str(tmp_path / "life"), "--out", str(tmp_path / "run"), "--config", str(path)]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and f"{path}: {message}" in err, err
    assert not (tmp_path / "out").exists() and not (tmp_path / "run").exists()


def test_toml_nested_too_deep_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("x = " + "[" * 70 + "]" * 70 + "\n")
    with pytest.raises(ConfigError, match=f"{path}: nested more than 64 levels deep"):
        load_config(TrainConfig, path)


# ---- M14, M15: test sets whose arrays claim more memory than the file, or hold no pairs ----------
def _small_testset():
    import numpy as np

    from slife.align.testset import TestSet

    n, s = 2, 16
    rng = np.random.default_rng(0)
    return TestSet(src=rng.integers(0, 255, (n, s, s, 3), dtype=np.uint8), tgt=rng.integers(0, 255, (n, s, s, 3), dtype=np.uint8),
                   patch_size=8, life=np.array(["a", "a"]), src_index=np.arange(n), tgt_index=np.arange(n) + 1,
                   src_time=np.zeros(n), tgt_time=np.ones(n), video=np.zeros(n, dtype=np.int64))  # fmt: skip


def test_a_test_set_that_decompresses_beyond_the_cap_is_refused_before_reading(tmp_path: Path) -> None:
    import io
    import zipfile

    import numpy as np

    from slife.align.testset import TestSet, TestSetError

    path = _small_testset().save(tmp_path / "t.npz")
    assert len(TestSet.load(path)) == 2
    # replace src by 1 GiB of zeros, deflated to a few MB (a zip bomb); the header says the size
    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zout:
        for info in zin.infolist():
            if info.filename != "src.npy":
                zout.writestr(info, zin.read(info))
        with zout.open("src.npy", "w", force_zip64=True) as fh:
            shape = ((1 << 30) // (16 * 16 * 3) + 1, 16, 16, 3)  # just above the 1 GiB cap
            header = io.BytesIO()
            np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": shape})
            fh.write(header.getvalue())
            zeros = bytes(1 << 24)
            for _ in range(math.prod(shape) // len(zeros) + 1):
                fh.write(zeros)
    assert bomb.stat().st_size < 8 << 20
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(TestSetError, match=rf"{bomb}: cannot read test set: its arrays declare \d+ MiB, above slife's limit"):
        TestSet.load(bomb)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # KiB: nothing decompressed


def test_an_empty_test_set_is_refused_naming_the_file(tmp_path: Path) -> None:
    from slife.align.testset import TestSet, TestSetError

    path = _small_testset().subset([]).save(tmp_path / "empty.npz")
    with pytest.raises(TestSetError, match=rf"{path}: the test set holds no pairs"):
        TestSet.load(path)


# ---- M8: resuming from a last.pt whose fields are missing or wrong ------------------------------
@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory):
    from lives import make_test_life
    from slife.train import train
    from tests.test_train_loop import _cfg

    root = tmp_path_factory.mktemp("resume")
    life = make_test_life(root / "life", durations=(6.0,), fps=2.0)
    cfg = _cfg("threads=1")
    train(life.dir, root / "run", cfg, progress=False, stop_after=3)
    return life.dir, root / "run", cfg


def _wrong_optimizer_state(p: dict) -> dict:
    opt = {**p["optimizer"], "state": dict(p["optimizer"]["state"])}
    first = next(iter(opt["state"]))
    opt["state"][first] = {**opt["state"][first], "exp_avg": torch.zeros(7, 3)}
    return {**p, "optimizer": opt}


def _wrong_weight(p: dict) -> dict:
    key = next(iter(p["model"]))
    return {**p, "model": {**p["model"], key: torch.zeros(5)}}


RESUME_DAMAGE = {
    "no rng": (lambda p: {k: v for k, v in p.items() if k != "rng"}, "rng must hold the torch generator's state"),
    "rng of floats": (lambda p: {**p, "rng": {"torch": torch.zeros(5)}}, "rng must hold"),
    "no optimizer": (lambda p: {k: v for k, v in p.items() if k != "optimizer"}, "optimizer must be a mapping"),
    "optimizer of another model": (_wrong_optimizer_state, r"optimizer state 'exp_avg' of parameter 0 has shape \(7, 3\)"),
    "negative step": (lambda p: {**p, "step": -1}, r"step must be an integer in \[0, 8\], got -1"),
    "step beyond the run": (lambda p: {**p, "step": 10**9}, r"step must be an integer in \[0, 8\]"),
    "step as text": (lambda p: {**p, "step": "3"}, "step must be an integer"),
    "weights of another size": (_wrong_weight, r"model mask_token has shape \(5,\), the model's is \(1, 1, 32\)"),
    "weights missing": (lambda p: {**p, "model": {}}, "model missing"),
    "milestones as text": (lambda p: {**p, "milestones_done": ["x"]}, "milestones_done must be a list of finite hours"),
    "loss as text": (lambda p: {**p, "loss": "low"}, "loss must be a number"),
}


@pytest.mark.parametrize("damage", list(RESUME_DAMAGE))
def test_resuming_from_a_damaged_last_pt_names_the_file_and_the_field(stopped_run, capsys, damage) -> None:
    from slife.model.checkpoint import read_checkpoint
    from slife.train import train

    life_dir, run, cfg = stopped_run
    last = run / "checkpoints" / "last.pt"
    good = last.read_bytes()
    mutate, message = RESUME_DAMAGE[damage]
    try:
        payload = read_checkpoint(last)
        payload.pop("format")
        save_checkpoint(last, mutate(payload))
        damaged = last.read_bytes()
        with pytest.raises(SlifeError, match=rf"{last}: cannot resume from it: {message}") as info:
            train(life_dir, run, cfg, progress=False)
        assert "\n" not in str(info.value)
        assert last.read_bytes() == damaged  # nothing written over it
    finally:
        last.write_bytes(good)


# ---- M12: a checkpoint that cannot be written (disk full, file too large) ------------------------
def test_a_checkpoint_that_cannot_be_written_is_a_one_line_os_error_and_leaves_no_temp_file(tmp_path: Path) -> None:
    """The file-size limit (RLIMIT_FSIZE) makes the checkpoint's write fail as a full disk would."""
    import os
    import resource
    import signal
    import subprocess
    import sys

    from lives import make_test_life
    from tests.test_train_loop import FAST

    life = make_test_life(tmp_path / "life", durations=(6.0,), fps=2.0)
    ckpts = tmp_path / "run" / "checkpoints"
    ckpts.mkdir(parents=True)
    (ckpts / ".last.pt.tmp999999").write_bytes(b"x" * 100)  # left by a save that was killed

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000))

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root / "src"), "OMP_NUM_THREADS": "1"}
    args = [a for item in [*FAST, "steps=2", "threads=1"] for a in ("--set", item)]
    proc = subprocess.run([sys.executable, "-m", "slife", "train", str(life.dir), "--out", str(tmp_path / "run"), "--no-progress", *args],
                          env=env, capture_output=True, text=True, preexec_fn=limit, timeout=120)  # fmt: skip
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert proc.returncode == 74, proc.stderr
    assert len(errors) == 1 and errors[0].startswith(f"slife train: error: {ckpts}/") and errors[0].endswith(".pt: File too large"), proc.stderr
    assert "Traceback" not in proc.stderr
    assert not [p.name for p in ckpts.iterdir() if ".tmp" in p.name]


# ---- M13: ingest at an impossible frame rate ----------------------------------------------------
@pytest.mark.parametrize("fps, message", [("inf", "must be a finite number, got inf"), ("1e9", r"fps must be in \(0, 1000\]"),
                                          ("nan", "must be a finite number, got nan")])  # fmt: skip
def test_ingest_refuses_an_impossible_fps_at_once(tmp_path: Path, capsys, fps, message) -> None:
    import time

    from slife.ingest.select import target_times

    t0 = time.perf_counter()
    assert main(["ingest", str(tmp_path / "life"), str(tmp_path / "v.mp4"), "--fps", fps, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "fps" in err and __import__("re").search(message, err), err
    assert time.perf_counter() - t0 < 5 and not (tmp_path / "life").exists()
    with pytest.raises(ValueError, match="fps must be in"):
        target_times(1e9, 3600.0)


# ---- low: a bad --set is blamed on the option, not on the file ----------------------------------
def test_a_bad_set_value_names_the_option_not_the_file(tmp_path: Path) -> None:
    path = tmp_path / "train.yaml"
    path.write_text("steps: 10\n")
    with pytest.raises(ConfigError, match=r"^--set optim.lr: must be a finite number, got nan$"):
        load_config(TrainConfig, path, ["optim.lr=.nan"])
    path.write_text("optim: {lr: .nan}\n")
    with pytest.raises(ConfigError, match=rf"^{path}.optim.lr: must be a finite number"):
        load_config(TrainConfig, path, ["steps=3"])


# ---- M18: a run's log.jsonl with damaged records -----------------------------------------------
def test_a_damaged_log_line_is_skipped_by_status(tmp_path: Path, monkeypatch) -> None:
    from slife.config import save_config
    from slife.run import RunDir
    from slife.study.plan import run_state

    cfg = TrainConfig()
    run = tmp_path / "run"
    run.mkdir()
    save_config(cfg, run / "config.yaml")
    lines = [
        {"event": "start", "step": 0, "total_steps": "many"},  # damaged
        {"event": "start", "step": 0, "total_steps": 100},
        {"step": 10, "loss": 0.5, "elapsed_s": 1.0},
        {"step": 20, "loss": 0.4, "elapsed_s": 2.0},
        {"step": 30, "loss": 0.3, "elapsed_s": "late"},  # damaged
        {"step": "40", "loss": 0.2, "elapsed_s": 4.0},  # damaged
        {"step": True, "loss": 0.2},  # damaged
        {"event": ["checkpoint"], "name": "hours_1", "step": 5, "hours_seen": 1.0},  # damaged
    ]
    (run / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines) + '{"step": 50, "lo')
    assert [r.get("step") for r in RunDir(run).read_log()] == [0, 10, 20]
    # a line longer than any record (a padded one, 4 MB) is skipped without being read whole; a log over
    # the size cap is refused naming the file
    import slife.run

    padded = json.dumps({"step": 25, "loss": 0.1, "name": "x" * 4_000_000})
    (run / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines[1:4]) + padded + "\n" + json.dumps(lines[3]) + "\n")
    assert [r.get("step") for r in RunDir(run).read_log()] == [0, 10, 20, 20]
    monkeypatch.setattr(slife.run, "MAX_LOG_BYTES", 1000)
    with pytest.raises(SlifeError, match="log.jsonl: .* bytes, more than the 1000"):
        RunDir(run).read_log()
    monkeypatch.undo()
    (run / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines) + '{"step": 50, "lo')
    state = run_state("life", run, cfg)
    assert (state.state, state.step, state.total) == ("partial", 20, 100) and state.eta_s == pytest.approx(8.0)


# ---- M11: values that pass the types but cannot run ---------------------------------------------
@pytest.mark.parametrize("override, message", [
    ("seed=-1", r"seed must be in \[0, 2147483647\], got -1"),
    ("steps=1.0e+10", "steps must be at most 20000000, got 10000000000"),
    ("batch_size=100000000", r"batch_size must be in \[1, 4096\], got 100000000"),
])  # fmt: skip
def test_train_values_beyond_what_can_run_are_refused(override: str, message: str) -> None:
    with pytest.raises(SlifeError, match=message):
        load_config(TrainConfig, None, [override])


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("device, message", [("cuda", "CUDA is not available on this machine"), ("cuda:0", "CUDA is not available"),
                                             ("tpu", "not a device"), ("meta", "slife runs on cpu or cuda")])  # fmt: skip
def test_a_device_this_machine_lacks_is_one_line(tmp_path: Path, capsys, device: str, message: str) -> None:
    from lives import make_test_life

    life = make_test_life(tmp_path / "life", durations=(2.0,), fps=2.0)
    assert main(["train", str(life.dir), "--out", str(tmp_path / "run"), "--set", f"device={device}", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and f"device {device!r}: {message}" in err, err


@pytest.mark.parametrize("name", ["kitchen\x00-1", "a|b", "two\nlines", "tab\there", "../up", " padded", "x" * 201])
def test_life_names_that_break_folders_or_reports_are_refused(tmp_path: Path, name: str) -> None:
    import yaml

    from slife.ingest.config import IngestConfig
    from slife.study.config import load_study

    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({"lives": [{"name": name, "path": "p"}], "testset": {"lives": ["kitchen-9"]}}))
    with pytest.raises(ConfigError, match="must be a plain folder name"):
        load_study(path)
    path.write_text(yaml.safe_dump({"name": name, "lives": ["kitchen-1"]}))
    with pytest.raises(ConfigError, match="name .* must"):
        load_study(path)
    with pytest.raises(ConfigError, match="name .* must"):
        load_config(IngestConfig, None, [f"name={json.dumps(name)}"])


# ---- M16, M17, M20: evaluation data and weights that would give NaN or crash later -------------
def test_nan_or_integer_weights_are_refused_by_every_loader(tmp_path: Path, capsys) -> None:
    from slife.model.export import ExportError, export_model, from_pretrained

    payload = _tiny_payload()
    good = tmp_path / "good" / "checkpoints" / "last.pt"
    save_checkpoint(good, payload)
    out = export_model(good.parent.parent, tmp_path / "export")
    key = next(k for k, v in payload["model"].items() if v.ndim == 2)
    broken = {**payload, "model": {**payload["model"], key: torch.full_like(payload["model"][key], float("nan"))}}
    bad = tmp_path / "bad" / "checkpoints" / "last.pt"
    save_checkpoint(bad, broken)
    with pytest.raises(CheckpointError, match=rf"{bad}: weight {key} holds NaN or inf"):
        load_model(bad)
    assert main(["export", str(bad.parent.parent), "--out", str(tmp_path / "nan-export")]) == 2
    assert f"weight {key} holds NaN" in capsys.readouterr().err and not (tmp_path / "nan-export").exists()
    from safetensors.torch import load_file, save_file

    weights = load_file(str(out / "model.safetensors"))
    save_file({**weights, key: weights[key].to(torch.int8)}, str(out / "model.safetensors"))
    with pytest.raises(ExportError, match=rf"model.safetensors: weight {key} is torch.int8, not floating point"):
        from_pretrained(out)


def test_hpatches_sequences_without_homographies_are_reported_and_singular_ones_refused(tmp_path: Path) -> None:
    import numpy as np

    from slife.evaluate.datasets import EvalDataError, HPatchesPairs, read_homography
    from tests.test_eval_datasets import write_hpatches

    write_hpatches(tmp_path, {"v_astro": "astronaut", "v_cat": "chelsea"}, ks=(2,))
    (tmp_path / "v_cat" / "H_1_2").unlink()  # a sequence with no homography at all
    with pytest.warns(UserWarning, match=r"9 pair\(s\) skipped, no homography file"):
        pairs = HPatchesPairs(tmp_path)
    assert len(pairs) == 1 and str(tmp_path / "v_cat" / "H_1_2") in pairs.missing
    np.savetxt(tmp_path / "v_astro" / "H_1_2", np.array([[1.0, 2, 0], [2, 4, 0], [0, 0, 1]]))
    with pytest.raises(EvalDataError, match=r"H_1_2: the homography is singular"):
        read_homography(tmp_path / "v_astro" / "H_1_2")


@pytest.mark.parametrize("size", [(30000, 30000), (9000, 9000)])
def test_an_image_header_claiming_gigapixels_is_refused_before_decoding(tmp_path: Path, size) -> None:
    from slife.evaluate.datasets import EvalDataError, _read_image

    path = tmp_path / "1.ppm"
    path.write_bytes(b"P6 %d %d 255\n" % size + b"\x00" * 1000)
    with pytest.raises(EvalDataError, match=rf"{path}: cannot read image: image (too large|of 9000 x 9000 pixels, above slife.s limit)"):
        _read_image(path)


# ---- M19: Ctrl-C while ingest --jobs 2 decodes --------------------------------------------------
def test_ctrl_c_in_parallel_ingest_prints_one_line_and_no_worker_traceback(tmp_path: Path) -> None:
    """SIGINT to the whole process group (a terminal's Ctrl-C) while one worker decodes a long video
    and the other, done with a short one, waits for work."""
    import contextlib
    import os
    import signal
    import subprocess
    import sys
    import time

    import numpy as np

    from slife.ingest.synth import write_index_video

    clips = [str(write_index_video(tmp_path / f"c{n}.mp4", np.arange(n) / 24.0)) for n in (6, 720)]
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root / "src"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "slife", "ingest", str(tmp_path / "life"), *clips, "--jobs", "2",
                             "--fps", "24", "--quiet"], env=env, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not list((tmp_path / "life" / "shards").glob("*.tar")):  # the short video is committed
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() is not None else ""
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130 and err.strip() == "slife ingest: interrupted", err
    assert not list((tmp_path / "life").rglob("*.partial"))


# ---- low: options that were silently ignored ----------------------------------------------------
def test_executor_slurm_without_slurm_is_refused_before_any_work(tmp_path: Path, monkeypatch, capsys) -> None:
    from tests.test_study import tiny_study

    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    assert main(["study", str(tiny_study(tmp_path)), "--out", str(tmp_path / "out"), "--executor", "slurm"]) == 2
    err = capsys.readouterr().err
    assert "--executor slurm: SLURM's sbatch is not on this machine's PATH" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_a_second_config_file_is_refused_not_dropped(tmp_path: Path, capsys) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("steps: 5\n")
    b.write_text("batch_size: 2\n")
    with pytest.raises(SystemExit) as info:
        main(["train", str(tmp_path / "life"), "--out", str(tmp_path / "run"), "--config", str(a), "--config", str(b)])
    assert info.value.code == 2 and "--config: given twice" in capsys.readouterr().err


# ---- low: what the analysis would refuse is refused before any training -------------------------
def test_study_checks_of_the_analysis_come_before_training(tmp_path: Path, capsys) -> None:
    from tests.test_study import tiny_study

    path = tiny_study(tmp_path, controls=[], lives=["kitchen-1", {"name": "street-1", "set": ["model.overrides.patch_size=16"]}],
                      analysis={"k": 5})  # fmt: skip
    out = tmp_path / "out"
    assert main(["study", str(path), "--out", str(out), "--executor", "debug", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "life street-1: its model reads 64 px images in 16 px patches, kitchen-1's 64 px in 8 px" in err, err
    path = tiny_study(tmp_path, controls=[], lives=["kitchen-1"], analysis={"k": 65})
    assert main(["study", str(path), "--out", str(out), "--executor", "debug", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "analysis.k must be in [1, 64] (patches per image), got 65" in err and "--k" not in err, err
    assert not (out / "runs").exists() and not (out / "study.yaml").exists()


def test_errors_with_a_libraries_multi_line_text_print_as_one_line(tmp_path: Path, capsys) -> None:
    """torch's load_state_dict explains a mismatch over several lines; the CLI prints one."""
    payload = _tiny_payload()
    payload["model_config"] = {**payload["model_config"], "enc_dim": 32}
    save_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt", payload)
    assert main(["export", str(tmp_path / "run"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "last.pt: weights do not fit the stored model config" in err, err
