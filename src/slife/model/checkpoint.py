"""Checkpoint files and run directories.

A checkpoint is a ``torch.save`` dict::

    format        "slife-ckpt/1"
    model_config  dict of slife.model.config.ModelConfig
    model         the model's state_dict
    step          optimiser steps taken
    pairs_seen    training pairs consumed
    hours_seen    hours of the life's video the model has been exposed to (see slife.train)
    life          name of the life it was trained on
    life_frames, life_dir   the life's frame count and folder
    train_config  dict of the training config (optional)
    loss          loss of the last step before the save
    optimizer, scheduler, scaler, rng, milestones_done, total_steps, world_size
                  training state (only in ``last.pt``, the checkpoint meant for resuming)

Training builds the dict (slife.train.state.TrainingState); every reader takes what a checkpoint says
about its model and training through :class:`CheckpointMeta`, by name.

Checkpoints are untrusted input: they are read with ``torch.load(weights_only=True)``, whose
unpickler builds only tensors and plain containers (dict, list, str, numbers), so a crafted file
cannot run code. A file that needs anything else is refused with the reason; ``trust=True`` reads it
with the full unpickler, for files the user made and vouches for.

A run directory (``slife train --out RUN``) holds ``checkpoints/hours_<h>.pt`` at the milestones,
``checkpoints/last.pt``, ``config.yaml``, ``log.jsonl`` and ``tb/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from slife.atomic import atomic_open
from slife.errors import SlifeError
from slife.run import CHECKPOINT_DIR, LAST, RunDir  # a run's file names live in slife.run

FORMAT = "slife-ckpt/1"


class CheckpointError(SlifeError):
    """A checkpoint file is missing or malformed; the message names the file."""


@dataclass(frozen=True)
class CheckpointInfo:
    path: Path
    name: str  # "hours_0.25" or "last"
    hours_seen: float
    step: int


@dataclass(frozen=True)
class CheckpointMeta:
    """What a checkpoint says about its model and training, by name (None where the file has no such
    field; values as stored)."""

    path: Path
    model_config: Any
    step: Any = None
    pairs_seen: Any = None
    hours_seen: Any = None
    life: Any = None
    life_frames: Any = None
    train_config: Any = None
    loss: Any = None

    def model(self) -> Any:
        """The stored model config as a checked ModelConfig (:func:`stored_model_config`)."""
        return stored_model_config(self.model_config, self.path)

    @classmethod
    def of(cls, payload: dict[str, Any], path: str | Path) -> "CheckpointMeta":
        """The fields of a checkpoint dict (or of :func:`load_model`'s metadata) read from ``path``."""
        get = payload.get
        return cls(Path(path), get("model_config"), get("step"), get("pairs_seen"), get("hours_seen"), get("life"),
                   get("life_frames"), get("train_config"), get("loss"))  # fmt: skip


def read_meta(path: str | Path) -> CheckpointMeta:
    """The :class:`CheckpointMeta` of a checkpoint file (tensors are mapped, not read)."""
    return CheckpointMeta.of(read_checkpoint(path), path)


def milestone_name(hours: float) -> str:
    """File stem of the checkpoint at a milestone of ``hours`` of video seen."""
    return f"hours_{hours:g}"


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Atomically write a checkpoint dict (temp file in the same directory, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, **payload}
    with atomic_open(path, "wb") as fh:
        writer = _ReportingWriter(fh)
        try:
            torch.save(payload, writer)
        except RuntimeError as exc:  # torch turns a failed write (disk full) into a RuntimeError
            if writer.error is None:
                raise
            raise OSError(writer.error.errno, writer.error.strerror or str(writer.error), str(path)) from exc


class _ReportingWriter:
    """A file object that remembers the OSError of a failed write, so that the real cause (disk full,
    file too large) survives torch.save's RuntimeError and reaches the user as ``PATH: what failed``."""

    def __init__(self, fh: Any) -> None:
        self.fh = fh
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        try:
            return self.fh.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        self.fh.flush()


def remove_stale_temp_files(folder: Path) -> list[Path]:
    """Delete the temp files (``.NAME.tmp<pid>``) a killed writer left in ``folder``; call it only
    while holding the folder's lock (no other writer can be using them)."""
    removed = []
    for tmp in folder.glob(".*.tmp*"):
        if tmp.is_file() and re.fullmatch(r"\..+\.tmp\d+", tmp.name):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _load_payload(path: Path, map_location: str | torch.device, trust: bool) -> Any:
    """``torch.load`` restricted to tensors and plain data unless ``trust``; errors name the file."""
    import pickle

    try:
        # mmap: tensors are paged in only when used, so reading metadata (or one field) stays cheap
        return torch.load(path, map_location=map_location, weights_only=not trust, mmap=True)
    except pickle.UnpicklingError as exc:
        if trust:
            raise CheckpointError(f"{path}: cannot read checkpoint: {exc}") from exc
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{path}: refused: the file holds pickled objects other than tensors and plain data, which could "
            f"run code when loaded ({first}). slife's own checkpoints never do; if you made this file and "
            "trust it, load it with read_checkpoint(path, trust=True)"
        ) from exc
    except Exception as exc:  # torch raises many types for corrupt files
        raise CheckpointError(f"{path}: cannot read checkpoint: {exc}") from exc


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu", trust: bool = False) -> dict[str, Any]:
    """Load a checkpoint dict, checking it is one of ours (tensors and plain data only unless ``trust``)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    payload = _load_payload(path, map_location, trust)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a slife checkpoint (use slife.model.official for CroCo files)")
    for key in ("model_config", "model"):
        if key not in payload:
            raise CheckpointError(f"{path}: checkpoint has no {key!r}")
    return payload


def load_model(
    path: str | Path, map_location: str | torch.device = "cpu", trust: bool = False
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The model stored in a checkpoint (eval mode) and the checkpoint's metadata (no tensors);
    ``trust`` as in :func:`read_checkpoint`."""
    from slife.model.croco import CroCo

    payload = read_checkpoint(path, map_location, trust)
    cfg = stored_model_config(payload["model_config"], path)
    check_fits(cfg, _tensor_count(payload["model"], path), path)
    check_weights(payload["model"], path)
    model = CroCo(cfg)
    try:
        model.load_state_dict(payload["model"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit the stored model config: {exc}") from exc
    model.to(map_location).eval()
    meta = {k: v for k, v in payload.items() if k not in ("model", "optimizer", "scheduler", "scaler", "rng")}
    meta["path"] = str(path)
    return model, meta


def stored_model_config(value: Any, path: str | Path) -> Any:
    """A checkpoint's ``model_config`` as a ModelConfig, typed and within limits (one line naming ``path``)."""
    from slife.config import from_dict
    from slife.model.config import ModelConfig

    return from_dict(ModelConfig, _mapping(value, Path(path), "model_config"), f"{path}:model_config")


def _mapping(value: Any, path: Path, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CheckpointError(f"{path}: {key} must be a mapping, got {type(value).__name__}")
    return value


def _tensor_count(state: Any, path: Path) -> int:
    """Elements in a state dict read from ``path`` (already in memory or mapped: bounded by the file)."""
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: 'model' must be a mapping of tensors")
    return sum(v.numel() for v in state.values())


def check_weights(state: dict[str, torch.Tensor], where: Path) -> None:
    """Refuse weights that are not floating point (they would be cast silently) or hold NaN / inf
    (a diverged training: every number measured on them would be NaN or an error later)."""
    for key, value in state.items():
        if not value.is_floating_point():
            raise CheckpointError(f"{where}: weight {key} is {value.dtype}, not floating point")
        if not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"{where}: weight {key} holds NaN or inf (did the training diverge?)")


def check_fits(cfg: Any, held: int, where: Path) -> None:
    """Refuse a model config much larger than the ``held`` weights that came with it, before the model
    is built (a crafted config must not allocate more memory than its file holds)."""
    from slife.model.config import param_estimate

    wanted = param_estimate(cfg)
    if wanted > 1.1 * held + 100_000:
        raise CheckpointError(f"{where}: model_config describes ~{wanted:.3g} parameters but the file holds "
                              f"{held:.3g} weights")  # fmt: skip


def resolve_checkpoint(run_or_file: str | Path) -> Path:
    """A checkpoint file, or a run directory (its ``last.pt``)."""
    p = Path(run_or_file)
    if p.is_dir():
        last = RunDir(p).last
        if not last.is_file():
            raise CheckpointError(f"{p}: run directory has no {CHECKPOINT_DIR}/{LAST}")
        return last
    if not p.is_file():
        raise CheckpointError(f"{p}: no such checkpoint file or run directory")
    return p


_MILESTONE = re.compile(r"^hours_(?P<h>[0-9.e+-]+)\.pt$")


def list_checkpoints(run_dir: str | Path, include_last: bool = False) -> list[CheckpointInfo]:
    """Milestone checkpoints of a run sorted by hours seen (plus ``last`` if asked).

    Step and hours of a milestone come from its ``checkpoint`` event in the run's log when there is
    one (so an analysis opens each checkpoint once, when it loads the model), else from the file.
    """
    run = RunDir(run_dir)
    ckpt_dir = run.checkpoint_dir
    if not ckpt_dir.is_dir():
        raise CheckpointError(f"{run_dir}: not a run directory (no {CHECKPOINT_DIR}/)")
    logged: dict[str, tuple[float, int]] = {}
    for rec in run.read_log():
        if rec.get("event") == "checkpoint" and isinstance(rec.get("name"), str):
            try:
                logged[rec["name"]] = (float(rec["hours_seen"]), int(rec["step"]))
            except (KeyError, TypeError, ValueError):
                continue
    found: list[CheckpointInfo] = []
    for path in ckpt_dir.glob("*.pt"):
        match = _MILESTONE.match(path.name)
        if match is None and not (include_last and path.name == LAST):
            continue
        if match is not None and path.stem in logged:
            hours, step = logged[path.stem]
        else:
            meta = read_meta(path)
            try:
                hours = float(meta.hours_seen if meta.hours_seen is not None else float(match["h"]) if match else 0.0)
                step = int(meta.step if meta.step is not None else 0)
            except (TypeError, ValueError) as exc:
                raise CheckpointError(f"{path}: hours_seen/step are not numbers: {exc}") from exc
        found.append(CheckpointInfo(path=path, name=path.stem, hours_seen=hours, step=step))
    return sorted(found, key=lambda c: (c.hours_seen, c.name == "last"))
