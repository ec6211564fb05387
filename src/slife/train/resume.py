"""What a resumed run takes from ``last.pt``, checked field by field before any of it is used.

``last.pt`` is a file like any other a user may be handed or may have damaged: every field resuming
reads (weights, optimiser state, RNG state, step, milestones done, loss) is checked against the model
and optimiser being resumed, and a problem is one line naming the file and the field.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from slife.model.checkpoint import CheckpointError


def _shapes_differ(want: dict[str, torch.Tensor], got: Any) -> str | None:
    """What is wrong with state dict ``got`` compared with ``want`` (names and shapes); None if it fits."""
    if not isinstance(got, dict) or not all(isinstance(v, torch.Tensor) for v in got.values()):
        return "must be a mapping of tensors"
    missing, unexpected = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    if missing or unexpected:
        return f"missing {missing[:3]}, unexpected {unexpected[:3]}"
    wrong = [k for k in want if tuple(got[k].shape) != tuple(want[k].shape)]
    if wrong:
        k = wrong[0]
        return f"{k} has shape {tuple(got[k].shape)}, the model's is {tuple(want[k].shape)}"
    return None


def _optimizer_problem(optimizer: torch.optim.Optimizer, saved: Any) -> str | None:
    if not isinstance(saved, dict) or not isinstance(saved.get("state"), dict) or not isinstance(saved.get("param_groups"), list):
        return "must be a mapping with 'state' and 'param_groups'"
    groups = optimizer.param_groups
    if len(saved["param_groups"]) != len(groups):
        return f"has {len(saved['param_groups'])} parameter groups, the optimiser {len(groups)}"
    params: dict[Any, torch.Tensor] = {}
    for i, (group, mine) in enumerate(zip(saved["param_groups"], groups)):
        ids = group.get("params") if isinstance(group, dict) else None
        if not isinstance(ids, list) or len(ids) != len(mine["params"]):
            return f"parameter group {i} does not match the model's"
        params.update(zip(ids, mine["params"]))
    for key, state in saved["state"].items():
        if key not in params or not isinstance(state, dict):
            return f"state of unknown parameter {key!r}"
        for name, value in state.items():
            if not isinstance(value, (torch.Tensor, int, float)):
                return f"state {name!r} of parameter {key} is a {type(value).__name__}"
            if name != "step" and isinstance(value, torch.Tensor) and value.shape != params[key].shape:
                return f"state {name!r} of parameter {key} has shape {tuple(value.shape)}, the parameter's is {tuple(params[key].shape)}"
    return None


def check_resume(payload: dict[str, Any], path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, total: int) -> None:
    """Raise CheckpointError (one line naming ``path`` and the field) unless ``payload`` can resume
    ``model`` / ``optimizer`` in a run of ``total`` steps."""

    def bad(field: str, why: str) -> CheckpointError:
        return CheckpointError(f"{path}: cannot resume from it: {field} {why}; use a new --out directory or --force")

    step = payload.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= total:
        raise bad("step", f"must be an integer in [0, {total}], got {step!r}")
    problem = _shapes_differ(model.state_dict(), payload.get("model"))
    if problem:
        raise bad("model", problem)
    problem = _optimizer_problem(optimizer, payload.get("optimizer"))
    if problem:
        raise bad("optimizer", problem)
    rng = payload.get("rng")
    want = torch.get_rng_state()
    state = rng.get("torch") if isinstance(rng, dict) else None
    if not isinstance(state, torch.Tensor) or state.dtype != torch.uint8 or state.shape != want.shape:
        raise bad("rng", f"must hold the torch generator's state (uint8, {tuple(want.shape)})")
    if payload.get("scaler") is not None and not isinstance(payload["scaler"], dict):
        raise bad("scaler", "must be a mapping or None")
    done = payload.get("milestones_done", [])
    if not isinstance(done, list) or not all(isinstance(h, (int, float)) and not isinstance(h, bool) and math.isfinite(h) for h in done):
        raise bad("milestones_done", "must be a list of finite hours")
    loss = payload.get("loss", float("nan"))
    if isinstance(loss, bool) or not isinstance(loss, (int, float)):
        raise bad("loss", f"must be a number, got {loss!r}")
