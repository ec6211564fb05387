"""Learning-rate schedule, parameter groups, streaming window and milestones."""

import math

import numpy as np
import pytest
import torch

from slife.errors import SlifeError
from slife.model.config import model_config
from slife.model.croco import CroCo
from slife.train.config import OptimConfig, TrainConfig
from slife.train.optim import build_optimizer, param_groups, peak_lr
from slife.train.schedule import first_steps, lr_at, plan_milestones, stream, visible_seconds


def test_lr_warmup_then_cosine():
    peak, total, warm = 1e-3, 110, 10
    assert lr_at(0, total, peak, warm) == pytest.approx(1e-4)
    assert lr_at(4, total, peak, warm) == pytest.approx(5e-4)
    assert lr_at(9, total, peak, warm) == pytest.approx(peak)
    assert lr_at(10, total, peak, warm) == pytest.approx(peak)
    assert lr_at(60, total, peak, warm, min_lr=1e-5) == pytest.approx((peak + 1e-5) / 2)
    assert lr_at(109, total, peak, warm) == pytest.approx(peak * 0.5 * (1 + math.cos(math.pi * 99 / 100)))
    values = [lr_at(s, total, peak, warm) for s in range(warm, total)]
    assert all(a >= b for a, b in zip(values, values[1:]))
    assert lr_at(0, 5, peak, 0) == pytest.approx(peak)


def test_peak_lr_scales_with_global_batch():
    assert peak_lr(OptimConfig(), 256) == pytest.approx(1.5e-4)
    assert peak_lr(OptimConfig(), 64) == pytest.approx(1.5e-4 / 4)
    assert peak_lr(OptimConfig(lr=3e-4), 64) == 3e-4


def test_no_weight_decay_on_biases_norms_and_mask_token():
    model = CroCo(model_config("tiny", img_size=32, enc_depth=1, dec_depth=1))
    decay, plain = param_groups(model, 0.05)
    assert decay["weight_decay"] == 0.05 and plain["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}
    plain_names = {names[id(p)] for p in plain["params"]}
    decay_names = {names[id(p)] for p in decay["params"]}
    assert "mask_token" in plain_names
    assert all(n.endswith("bias") or p.ndim == 1 or "mask_token" in n for n, p in model.named_parameters() if n in plain_names)
    assert any("norm" in n for n in plain_names) and all(n.endswith("weight") for n in decay_names)
    assert all(model.get_parameter(n).ndim >= 2 for n in decay_names)
    assert len(plain_names) + len(decay_names) == len(list(model.parameters()))


def test_optimizer_is_fused_adamw_with_the_plain_update():
    """The fused kernel (CPU from PyTorch 2.4) computes the same AdamW update as the per-parameter loop."""
    torch.manual_seed(0)
    model = CroCo(model_config("tiny", img_size=32, enc_depth=1, dec_depth=1))
    twin = CroCo(model.cfg)
    twin.load_state_dict(model.state_dict())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = OptimConfig()
    fused = build_optimizer(model, cfg, 1e-3)
    assert fused.defaults["fused"] or fused.defaults["foreach"]
    plain = torch.optim.AdamW(param_groups(twin, cfg.weight_decay), lr=1e-3, betas=tuple(cfg.betas), foreach=False)
    for step in range(3):
        for m in (model, twin):
            for i, p in enumerate(m.parameters()):
                p.grad = torch.full_like(p, 0.01 * (i % 7 - 3) + 0.001 * step)
        fused.step()
        plain.step()
    for (name, a), b in zip(model.named_parameters(), twin.parameters()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5, msg=name)
    assert all(not torch.equal(p, before[n]) for n, p in model.named_parameters())  # every parameter moved


def test_streaming_window_grows_with_steps():
    ts = np.arange(100) * 0.5  # 50 s life at 2 fps
    sec = visible_seconds(50.0, 10, 1.0)
    np.testing.assert_allclose(sec, 5.0 * np.arange(1, 11))
    s = stream(ts, 50.0, 10, 1.0, min_end=2)
    assert s.ends.tolist() == [11, 21, 31, 41, 51, 61, 71, 81, 91, 100]
    half = stream(ts, 50.0, 10, 0.5, min_end=2)
    assert half.ends[4:].tolist() == [100] * 6 and half.seconds[4] == 50.0
    off = stream(ts, 50.0, 10, 0.0, min_end=2)
    assert (off.ends == 100).all()
    widened = stream(ts, 50.0, 100, 1.0, min_end=20)  # sampler needs 20 frames for a first pair
    assert widened.ends[0] == 20 and widened.seconds[0] == pytest.approx(9.5)
    assert (np.diff(widened.seconds) >= 0).all()


def test_milestone_plan():
    plan = plan_milestones([0.25, 0.5, 1, 2, 4], life_hours=1.5, streaming=True)
    assert plan.hours == [0.25, 0.5, 1.0] and plan.skipped == [2.0, 4.0] and plan.final == 1.5
    assert plan.names() == ["hours_0.25", "hours_0.5", "hours_1", "hours_1.5"]
    assert plan_milestones([0.25], 1.5, streaming=False).hours == []
    hours = np.linspace(0.1, 1.5, 15)
    assert first_steps(hours, [0.25, 0.5, 1.0]) == {0.25: 2, 0.5: 4, 1.0: 9}


def test_train_config_validation():
    with pytest.raises(SlifeError, match="exactly one of steps"):
        TrainConfig(steps=10, pairs_per_hour=100.0)
    with pytest.raises(SlifeError, match="precision"):
        TrainConfig(precision="fp8")
    assert TrainConfig(steps=0, pairs_per_hour=1000.0).pairs_per_hour == 1000.0
    torch.manual_seed(0)
