"""Training configuration (``slife train --config FILE --set key=value``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from slife.errors import SlifeError
from slife.pairs.config import PairsConfig
from slife.pairs.shifted import ShiftedPairsConfig

PRECISIONS = ("bf16", "fp16", "fp32")
# Bounds on what a config may ask for (the schedules hold a few numbers per step; a batch is held in memory)
MAX_STEPS = 20_000_000  # the paper's longest life is ~550k steps
MAX_BATCH = 4096  # pairs per process and step
MAX_SEED = 2**31 - 1


@dataclass
class ModelSection:
    size: str = "tiny"  # tiny | small | base | large (slife.model.config.SIZES)
    overrides: dict[str, Any] = field(default_factory=dict)  # ModelConfig fields, e.g. {img_size: 96}
    # torch.compile the training step's forward and loss: true, false, or auto = where it pays
    # (slife.train.compiling: long enough runs; results equal eager within bf16 rounding)
    compile: bool | Literal["auto"] = "auto"

    def __post_init__(self) -> None:
        if self.compile not in (True, False, "auto"):
            raise SlifeError(f"model.compile must be true, false or auto, got {self.compile!r}")


@dataclass
class DataConfig(PairsConfig):
    """Pairs (sampler mix, gaps, spatial thresholds, jitter, shifted pairs) plus loading and streaming."""

    shifted: ShiftedPairsConfig = field(default_factory=ShiftedPairsConfig)
    workers: int = 0  # DataLoader worker processes (0 = load in the training process)
    # Keep decoded, resized frames in memory up to this many MiB per loading process (0 = decode every
    # time); the samples are the same either way. A 10-minute life at 2 fps and 64 px needs ~20 MiB.
    cache_mb: float = 1024.0
    # Decode every frame once into one uint8 tensor on the training device and cut the batches there
    # (slife.pairs.resident): for lives that fit the device's memory; the samples are the same recipe
    # as on the CPU path (pixels within one grey level). data.workers is then unused.
    resident: bool = False
    # The visible part of the life grows linearly and reaches the whole life after this fraction of
    # the steps; 0 turns streaming off (the whole life is visible from step 0).
    stream_fraction: float = 1.0
    # Train on the first prefix_hours of the life only (0 = all of it): the nested-subset protocol of
    # emergence, models on the first 5, 15, 30, ... minutes with the same schedule (docs/training.md).
    prefix_hours: float = 0.0
    # Low-pass target [ours] (docs/pairs.md, "Pairs that can teach"): the loss compares each hidden
    # patch average-pooled by this factor per axis (must divide the model's patch_size; the target is
    # normalised after pooling); 1 = CroCo's loss.
    pooled_target: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (self.prefix_hours >= 0 and math.isfinite(self.prefix_hours)):
            raise SlifeError(f"data.prefix_hours must be finite and >= 0 (0 = the whole life), got {self.prefix_hours}")
        if self.workers < 0:
            raise SlifeError(f"data.workers must be >= 0, got {self.workers}")
        if not (self.cache_mb >= 0 and math.isfinite(self.cache_mb)):
            raise SlifeError(f"data.cache_mb must be finite and >= 0, got {self.cache_mb}")
        if self.stream_fraction < 0:
            raise SlifeError(f"data.stream_fraction must be >= 0, got {self.stream_fraction}")
        if isinstance(self.pooled_target, bool) or not isinstance(self.pooled_target, int) or self.pooled_target < 1:
            raise SlifeError(f"data.pooled_target must be an integer >= 1 (1 = off), got {self.pooled_target!r}")


@dataclass
class OptimConfig:
    base_lr: float = 1.5e-4  # peak lr = base_lr * global_batch / 256 (CroCo)
    lr: float = 0.0  # absolute peak lr; 0 = use base_lr scaling
    min_lr: float = 0.0  # end of the cosine
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.05  # not on biases, norm weights, mask token, positional embeddings
    warmup_fraction: float = 0.05  # linear warmup over this fraction of the steps ...
    warmup_steps: int | None = None  # ... or exactly this many steps
    clip_grad: float = 0.0  # max gradient norm; 0 = no clipping (CroCo does not clip)

    def __post_init__(self) -> None:
        if self.base_lr <= 0 or self.lr < 0 or self.min_lr < 0 or self.weight_decay < 0 or self.clip_grad < 0:
            raise SlifeError("optim: learning rates, weight_decay and clip_grad must be non-negative (base_lr > 0)")
        if not 0 <= self.warmup_fraction <= 1 or (self.warmup_steps is not None and self.warmup_steps < 0):
            raise SlifeError("optim: warmup_fraction must be in [0, 1] and warmup_steps >= 0")


@dataclass
class TrainConfig:
    model: ModelSection = field(default_factory=ModelSection)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    batch_size: int = 16  # per process; global batch = batch_size * world size
    # Length of training: exactly one of ``steps`` (optimiser steps) or ``pairs_per_hour`` (pairs per
    # hour of the life's video: steps = ceil(pairs_per_hour * life hours / global batch)).
    steps: int = 1000
    pairs_per_hour: float = 0.0
    precision: str = "bf16"  # bf16 autocast where native (CUDA, CPUs with AVX512-BF16/AMX), else fp32; fp16 (CUDA + GradScaler); fp32
    milestones: list[float] = field(default_factory=lambda: [0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256])
    seed: int = 0
    log_every: int = 10  # steps between log lines (JSONL + TensorBoard)
    save_every_steps: int = 0  # also save last.pt every this many steps (0 = only by time and at the end)
    save_every_minutes: float = 10.0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int = 0  # torch CPU threads per process; 0 = its share of the usable cores (slife.train.threads)
    tensorboard: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_BATCH:
            raise SlifeError(f"batch_size must be in [1, {MAX_BATCH}], got {self.batch_size}")
        if self.steps > MAX_STEPS:
            raise SlifeError(f"steps must be at most {MAX_STEPS}, got {self.steps}")
        if not 0 <= self.seed <= MAX_SEED:
            raise SlifeError(f"seed must be in [0, {MAX_SEED}], got {self.seed}")
        if (self.steps > 0) == (self.pairs_per_hour > 0):
            raise SlifeError(
                f"set exactly one of steps (> 0) and pairs_per_hour (> 0), got steps={self.steps}, "
                f"pairs_per_hour={self.pairs_per_hour} (e.g. --set steps=0 --set pairs_per_hour=100000)"
            )
        if self.steps < 0 or self.pairs_per_hour < 0:
            raise SlifeError("steps and pairs_per_hour must be >= 0")
        if self.precision not in PRECISIONS:
            raise SlifeError(f"precision must be one of {list(PRECISIONS)}, got {self.precision!r}")
        if any(h <= 0 for h in self.milestones):
            raise SlifeError(f"milestones must be positive hours, got {self.milestones}")
        if self.threads < 0:
            raise SlifeError(f"threads must be >= 0 (0 = auto), got {self.threads}")
        if self.log_every < 1 or self.save_every_steps < 0 or self.save_every_minutes < 0:
            raise SlifeError("log_every must be >= 1; save_every_steps and save_every_minutes >= 0")
        if self.data.pooled_target > 1:
            from slife.model.config import model_config

            patch = model_config(self.model.size, **self.model.overrides).patch_size
            if patch % self.data.pooled_target:
                raise SlifeError(f"data.pooled_target {self.data.pooled_target} must divide the model's patch_size {patch}")


# Fields that may change when a run is resumed (they do not change what is learned).
RESUMABLE_FIELDS = (
    "data.workers", "data.cache_mb", "model.compile", "log_every", "save_every_steps", "save_every_minutes", "device", "threads", "tensorboard",
)  # fmt: skip


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v and key not in ("model.overrides", "data.weights"):
            out.update(_flat(v, key + "."))
        else:
            out[key] = v
    return out


def config_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Dotted keys whose values differ (ignoring fields that may change on resume)."""
    a, b = _flat(old), _flat(new)
    keys = sorted(set(a) | set(b))
    return [k for k in keys if k not in RESUMABLE_FIELDS and a.get(k) != b.get(k)]


def stored_differences(stored: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """:func:`config_differences` of a run's stored config (its ``config.yaml``) and ``new``; a field added
    to slife after the run started counts as its default (what the run used)."""
    from slife.config import merge, to_dict

    return config_differences(merge(to_dict(TrainConfig()), stored), new)
