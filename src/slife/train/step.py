"""One optimiser step, the one every trainer calls (``slife train``, ``slife diagnose shift``).

The shape of MAE's ``engine_pretrain``: set the learning rate, forward under autocast, the loss in
float32, then (if it is finite) backward through the loss scaler, optional gradient clipping, the
optimiser step. What a step trains on (the batch) and when it runs (the schedule) are the caller's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn

from slife.train.optim import set_lr


class NonFiniteLoss(ArithmeticError):
    """The loss of a step is NaN or infinite; nothing was updated. ``value`` is the loss."""

    def __init__(self, value: float) -> None:
        super().__init__(f"loss is {value}")
        self.value = value


@dataclass
class Stepper:
    """What one step works with. ``model`` is the CroCo (its ``loss``, the parameters clipped);
    ``forward`` the module called on the batch (the model wrapped for DDP; None = ``model``);
    ``amp_dtype`` the autocast dtype (None = fp32); ``scaler`` fp16 loss scaling (None or disabled =
    off); ``clip_grad`` the max gradient norm (0 = off); ``pool`` the low-pass target factor of the
    loss (``data.pooled_target``; 1 = CroCo's loss)."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    amp_dtype: torch.dtype | None = None
    scaler: torch.amp.GradScaler | None = None
    clip_grad: float = 0.0
    pool: int = 1
    forward: nn.Module | None = None

    def __call__(self, src: Tensor, tgt: Tensor, mask: Tensor, lr: float,
                 reduce: Callable[[Tensor], Tensor] | None = None) -> float:  # fmt: skip
        """One step on a batch (tensors on the model's device) at learning rate ``lr``; returns the loss
        (``reduce``d, e.g. averaged over DDP ranks). Raises :class:`NonFiniteLoss` before any update
        when that loss is not finite."""
        set_lr(self.optimizer, lr)
        with torch.autocast(src.device.type, dtype=self.amp_dtype or torch.bfloat16, enabled=self.amp_dtype is not None):
            out = (self.forward or self.model)(src, tgt, mask=mask)
        loss = self.model.loss(out.pred, tgt, out.mask, pool=self.pool)
        value = float((reduce(loss.detach()) if reduce is not None else loss.detach()).item())
        if not math.isfinite(value):
            raise NonFiniteLoss(value)
        self.optimizer.zero_grad(set_to_none=True)
        scaler = self.scaler if self.scaler is not None and self.scaler.is_enabled() else None
        (scaler.scale(loss) if scaler else loss).backward()
        if self.clip_grad > 0:
            if scaler:
                scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad)
        if scaler:
            scaler.step(self.optimizer)
            scaler.update()
        else:
            self.optimizer.step()
        return value
