"""Training precision: bf16 autocast where the hardware has bf16 units (CUDA, AVX512-BF16/AMX CPUs)."""

import json

import pytest
import torch

from slife.config import load_config
from slife.model.checkpoint import read_checkpoint
from lives import make_test_life
from slife.train import TrainConfig, train
from slife.train import precision as precision_mod
from slife.train.precision import autocast_dtype, cpu_has_native_bf16

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FAST = [
    "model.overrides={img_size: 32, patch_size: 8, enc_dim: 32, enc_heads: 2, enc_depth: 1, dec_dim: 32, dec_heads: 2, dec_depth: 1}",
    "batch_size=4",
    "steps=6",
    "milestones=[1.0]",
    "log_every=2",
    "tensorboard=false",
    "optim.lr=1e-3",
]
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def life(tmp_path_factory):
    return make_test_life(tmp_path_factory.mktemp("life") / "life", durations=(12.0,), fps=3.0)


def test_native_bf16_probe_agrees_with_the_cpu_flags():
    try:
        flags = set(open("/proc/cpuinfo", encoding="utf-8").read().split())
    except OSError:
        pytest.skip("no /proc/cpuinfo")
    assert cpu_has_native_bf16() == bool(flags & {"avx512_bf16", "amx_bf16", "amx_tile"})


@pytest.mark.parametrize("native", [True, False])
def test_cpu_autocast_dtype(monkeypatch, native):
    monkeypatch.setattr(precision_mod, "cpu_has_native_bf16", lambda: native)
    assert autocast_dtype("bf16", CPU) == (torch.bfloat16 if native else None)
    assert autocast_dtype("fp32", CPU) is None
    assert autocast_dtype("fp16", CPU) is None  # no fp16 autocast on CPU


def _run(life, out, stop_after=None):
    return train(life.dir, out, load_config(TrainConfig, None, [*FAST, "precision=bf16"]), progress=False,
                 stop_after=stop_after)


def test_bf16_training_on_a_cpu_with_bf16_units(life, tmp_path, monkeypatch):
    """Forced "native" (so it runs on any CPU): the run autocasts, learns, and resumes bit-exactly."""
    monkeypatch.setattr(precision_mod, "cpu_has_native_bf16", lambda: True)
    straight = _run(life, tmp_path / "a")
    start = json.loads((tmp_path / "a/log.jsonl").read_text().splitlines()[0])
    assert start["amp"] == "torch.bfloat16"
    assert torch.isfinite(torch.tensor(straight.final_loss))
    _run(life, tmp_path / "b", stop_after=3)
    resumed = _run(life, tmp_path / "b")
    assert resumed.resumed_from == 3
    a = read_checkpoint(tmp_path / "a/checkpoints/last.pt")["model"]
    b = read_checkpoint(tmp_path / "b/checkpoints/last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) and a[k].dtype == torch.float32 for k in a)  # master weights stay fp32

    monkeypatch.setattr(precision_mod, "cpu_has_native_bf16", lambda: False)
    fp32 = _run(life, tmp_path / "c")
    assert json.loads((tmp_path / "c/log.jsonl").read_text().splitlines()[0])["amp"] == "None"
    c = read_checkpoint(tmp_path / "c/checkpoints/last.pt")["model"]
    assert any(not torch.equal(a[k], c[k]) for k in a)  # the precision really differed
    assert fp32.final_loss == pytest.approx(straight.final_loss, rel=0.1)
