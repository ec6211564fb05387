"""AdamW with CroCo's parameter groups."""

from __future__ import annotations

import torch
from torch import nn

from slife.train.config import OptimConfig

NO_DECAY_NAMES = ("mask_token", "pos_embed")


def no_decay(name: str, param: torch.Tensor) -> bool:
    """Biases and norm weights (1-D), the mask token and positional embeddings get no weight decay."""
    return param.ndim <= 1 or any(key in name for key in NO_DECAY_NAMES)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    decay, plain = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (plain if no_decay(name, param) else decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay, "name": "decay"},
        {"params": plain, "weight_decay": 0.0, "name": "no_decay"},
    ]


def peak_lr(cfg: OptimConfig, global_batch: int) -> float:
    """cfg.lr if set, else base_lr * global_batch / 256."""
    return cfg.lr if cfg.lr > 0 else cfg.base_lr * global_batch / 256.0


def build_optimizer(model: nn.Module, cfg: OptimConfig, lr: float, device: torch.device) -> torch.optim.AdamW:
    kwargs = {"fused": True} if device.type == "cuda" else {}
    return torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=lr, betas=tuple(cfg.betas), **kwargs)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
