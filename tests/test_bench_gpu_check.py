"""The GPU check's CPU path (bench/gpu_check.py at tiny size): every part runs and writes its results."""

import importlib
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _load(name: str):
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    return importlib.import_module(name)


@pytest.mark.usefixtures("one_torch_thread")
def test_gpu_check_cpu_path(tmp_path):
    check = _load("gpu_check")
    res = check.main(["--device", "cpu", "--size", "tiny", "--batch", "4", "--modes", "eager", "--rounds", "1",
                      "--steps", "1", "--train-steps", "4", "--life-seconds", "6", "--out", str(tmp_path)])  # fmt: skip
    saved = json.loads((tmp_path / "gpu_check.json").read_text())
    assert saved["environment"]["device"] == "cpu"
    (row,) = saved["train_step"]["rows"]
    assert row["size"] == "tiny" and row["mode"] == "eager" and row["pairs_per_s"] > 0
    assert 0 < row["fraction_of_peak"] < 1.5 and row["gflop_per_pair"] > 0
    assert saved["data"]["resident_pairs_per_s"] > 0 and saved["data"]["cpu_loader_pairs_per_s"] > 0
    t = saved["training"]
    assert t["resumed_from"] == 2 and t["steps"] == 4 and t["device"] == "cpu"
    assert t["bit_identical"] and t["max_weight_diff"] == 0.0  # exact resume on the CPU
    assert res["training"]["final_loss"] == t["final_loss"]
    assert "| tiny | 4 | eager |" in (tmp_path / "gpu_check.md").read_text()


@pytest.mark.usefixtures("one_torch_thread")
def test_train_step_bench_counts_flops_and_compares_modes():
    import torch

    bench = _load("train_step")
    trainer = bench.Trainer("recipe", 2, torch.device("cpu"), None, compiled=False)
    flops = trainer.flops()
    # forward + backward of every matmul: about 3x the forward's 2 * params * tokens
    params = sum(p.numel() for p in trainer.model.parameters())
    assert 3 * 2 * params * 2 * 32 < flops < 3 * 2 * params * 2 * 64 * 2
    rows = [bench.Row("recipe", 2, 1, m, "fp32", 0.1 / k, 20 * k, 0.2, 40 * k, 100, 0.4 * k) for m, k in (("eager", 1), ("compiled", 2))]
    checks = bench.summarise(rows, None)
    ratio = next(c for c in checks if c["what"] == "compiled / eager")
    assert ratio["value"] == pytest.approx(2.0) and ratio["target"] == 2.0


def test_train_step_bench_names_the_width_when_the_recipe_misses_the_peak(capsys):
    bench = _load("train_step")
    rows = [bench.Row(size, 2, 1, "compiled", "fp32", 0.1, 20, 0.2, 40, 100, frac)
            for size, frac in (("recipe", 0.25), ("small", 0.63))]  # fmt: skip
    bench.summarise(rows, None)
    assert "the same step code at small reaches 63.0 % of the peak" in capsys.readouterr().out
    bench.summarise(rows[:1], None)  # no wider size measured: nothing to compare with
    assert "the same step code" not in capsys.readouterr().out
