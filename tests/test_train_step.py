"""The one optimiser step (slife.train.step.Stepper) and the shifted-pair geometry it trains on."""

import numpy as np
import pytest
import torch

from slife.model.config import model_config
from slife.model.croco import CroCo
from slife.pairs.shifted import Shift, ShiftedPairsConfig
from slife.train.config import OptimConfig
from slife.train.optim import build_optimizer
from slife.train.step import NonFiniteLoss, Stepper

TINY = dict(img_size=16, patch_size=8, enc_dim=16, enc_heads=2, enc_depth=1, dec_dim=16, dec_heads=2, dec_depth=1)


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    src, tgt = torch.randn(2, 3, 16, 16, generator=g), torch.randn(2, 3, 16, 16, generator=g)
    return src, tgt, torch.tensor([[True, False, True, False], [False, True, True, False]])


def _model():
    torch.manual_seed(0)
    return CroCo(model_config("tiny", **TINY))


def test_a_step_is_forward_loss_backward_update(one_torch_thread) -> None:
    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt = build_optimizer(model, OptimConfig(), 1e-3)
    step = Stepper(model, opt, clip_grad=0.5, pool=2)
    src, tgt, mask = _batch()
    with torch.no_grad():
        expect = float(model.loss(model(src, tgt, mask=mask).pred, tgt, mask, pool=2))
    loss = step(src, tgt, mask, lr=2e-3)
    assert loss == expect and opt.param_groups[0]["lr"] == 2e-3
    assert not torch.equal(before["head.weight"], model.state_dict()["head.weight"])


def test_a_non_finite_loss_updates_nothing(one_torch_thread) -> None:
    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    step = Stepper(model, build_optimizer(model, OptimConfig(), 1e-3))
    src, tgt, mask = _batch()
    with pytest.raises(NonFiniteLoss) as err:
        step(src, tgt * float("nan"), mask, lr=1e-3)
    assert np.isnan(err.value.value)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    with pytest.raises(NonFiniteLoss):  # the reduced loss (over DDP ranks) is what is checked
        step(src, tgt, mask, lr=1e-3, reduce=lambda t: t * float("inf"))


def test_shift_geometry() -> None:
    near, anywhere = Shift(8, max_shift=2, subpatch=True), Shift(8, max_shift=3, room=2)
    assert near.margin == 24 and near.frame_side(32) == 80 and anywhere.frame_side(32) == 64
    rng = np.random.default_rng(0)
    shifts = near.draw(200, rng)
    assert np.abs(shifts).max() <= 23 and (shifts % 8 != 0).any()
    image = np.arange(80 * 80 * 3, dtype=np.int64).reshape(80, 80, 3)
    for shift in shifts[:20]:
        (y, x), (ty, tx) = near.windows(80, 80, shift, 32, rng)
        assert 24 <= y <= 80 - 32 - 24 and (ty - y, tx - x) == tuple(shift)
        src, tgt = near.cut(image, shift, 32, np.random.default_rng(1))
        assert src.shape == tgt.shape == (32, 32, 3)
    cfg = ShiftedPairsConfig(warmup=0.25, share=0.5, max_shift=3, room=2)
    assert cfg.shift(8) == anywhere and cfg.warmup_steps(10) == 2 and cfg.on and not ShiftedPairsConfig().on
    assert cfg.describe() == ("shifted crops of the life's own frames (data.shifted, max 3 patches): "
                              "the first 25% of the steps only, 50% of every batch")  # fmt: skip
