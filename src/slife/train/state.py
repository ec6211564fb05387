"""What a training run's checkpoints hold, in one place: built from the live training state, read back
by name.

:class:`TrainingState` holds what a checkpoint is made of (model, optimiser, grad scaler, the torch
generator, where the run stands in the life's stream), as DINOv2's checkpointer holds what it saves:
:meth:`TrainingState.payload` builds a milestone (weights and where the run stood) or ``last.pt``
(plus the state to resume exactly), :meth:`TrainingState.resume` puts a ``last.pt`` back into the live
objects after :func:`slife.train.resume.check_resume` has checked every field it takes. The file format
(the keys, reading and writing files safely) is :mod:`slife.model.checkpoint`'s; what a checkpoint says
about its model and training is read through :class:`slife.model.checkpoint.CheckpointMeta`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from slife.config import read_config_file
from slife.errors import SlifeError
from slife.life import Life
from slife.model.checkpoint import CheckpointMeta, read_checkpoint
from slife.model.config import ModelConfig
from slife.run import RunDir
from slife.train.config import stored_differences
from slife.train.resume import check_resume


@dataclass(frozen=True)
class Resumed:
    """Where a resumed run stands, read from its ``last.pt``."""

    step: int  # optimiser steps already done
    milestones_done: set[float]
    loss: float  # loss of the last step before the save
    world_size: Any  # processes of the run that saved it (None in files without it)


@dataclass
class TrainingState:
    """The live objects of a training call that its checkpoints are made of."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    model_config: ModelConfig
    train_config: dict[str, Any]  # the resolved TrainConfig as a dict
    life: Life
    hours: np.ndarray  # hours of video seen after each step
    global_batch: int
    total: int
    warmup: int
    peak: float
    world_size: int
    loss: float = float("nan")  # loss of the last step (set by the loop)

    def payload(self, step: int, full: bool, milestones_done: set[float]) -> dict[str, Any]:
        """The checkpoint after ``step`` steps: weights and where the run stood; ``full`` adds what
        resuming needs (optimiser, scheduler, scaler, RNG, milestones done)."""
        out: dict[str, Any] = {
            "model_config": dataclasses.asdict(self.model_config),
            "model": self.model.state_dict(),
            "step": step,
            "pairs_seen": step * self.global_batch,
            "hours_seen": float(self.hours[step - 1]) if step else 0.0,
            "life": self.life.name,
            "life_frames": len(self.life),
            "life_dir": str(self.life.dir.resolve()),
            "train_config": self.train_config,
            "loss": self.loss,
        }
        if full:
            out.update(
                optimizer=self.optimizer.state_dict(),
                scheduler={"kind": "warmup_cosine", "step": step, "total": self.total, "warmup": self.warmup,
                           "peak_lr": self.peak},  # fmt: skip
                scaler=self.scaler.state_dict() if self.scaler.is_enabled() else None,
                rng={"torch": torch.get_rng_state()},
                milestones_done=sorted(milestones_done),
                total_steps=self.total,
                world_size=self.world_size,
            )
        return out

    def resume(self, payload: dict[str, Any], path: Path) -> Resumed:
        """Load ``payload`` (a ``last.pt`` read from ``path``) into the model, optimiser, scaler and the
        torch generator; every field is checked first (one line naming ``path`` and the field)."""
        check_resume(payload, path, self.model, self.optimizer, self.total)
        try:
            self.model.load_state_dict(payload["model"])
            self.optimizer.load_state_dict(payload["optimizer"])
            if payload.get("scaler"):
                self.scaler.load_state_dict(payload["scaler"])
            torch.set_rng_state(payload["rng"]["torch"])
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:  # what check_resume cannot foresee
            raise SlifeError(f"{path}: cannot resume from it: {' '.join(str(exc).split())[:300]}") from exc
        meta = CheckpointMeta.of(payload, path)
        self.loss = float(meta.loss if meta.loss is not None else float("nan"))
        return Resumed(payload["step"], {float(h) for h in payload.get("milestones_done", [])}, self.loss,
                       payload.get("world_size"))  # fmt: skip


def resumable(run: RunDir, cfg_dict: dict[str, Any], life: Life, force: bool) -> dict[str, Any] | None:
    """The ``last.pt`` of ``run`` to resume from (None: start fresh), refused with one line when the run
    directory holds a run of another config or another life."""
    last = run.last
    if force or not last.is_file():
        return None
    cfg_file = run.config_file
    diffs = stored_differences(read_config_file(cfg_file), cfg_dict) if cfg_file.is_file() else ["(no config.yaml)"]
    if diffs:
        raise SlifeError(
            f"{cfg_file}: this run directory holds a run with a different config (differs in: {', '.join(diffs)}); "
            "use a new --out directory, or --force to start over (the old run is moved to previous-<time>/)"
        )
    payload = read_checkpoint(last)
    meta = CheckpointMeta.of(payload, last)
    if meta.life != life.name or meta.life_frames != len(life):
        raise SlifeError(
            f"{last}: this run was trained on life {meta.life!r} ({meta.life_frames} frames), "
            f"not on {life.dir} ({life.name!r}, {len(life)} frames); use a new --out directory or --force"
        )
    return payload
