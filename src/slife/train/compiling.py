"""Whether a training run compiles its model (``model.compile: auto | true | false``), and the compile itself.

``torch.compile`` (inductor) of CroCo's fixed-shape forward and loss (:meth:`CroCo.use_compile`) fuses
the elementwise work around the matmuls (layer norms, GELU, RoPE, softmax, the autocast casts) in
the forward and the backward. It costs a compile when the run starts (tens of seconds on a CPU core,
less once inductor's on-disk cache holds the graphs), so ``auto`` compiles only where the measured
gain pays for it within the run: see :func:`auto_compile` and docs/training.md.

:func:`compile_for_training` compiles by running one forward + loss + backward on a batch of zeros
with the run's batch size, precision and loss options (what the first step will need), so that a
failure (no C++ compiler, an unsupported op) shows up there: the model is then left eager with a
warning. Neither the weights, their gradients nor the random number generators are changed by it.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import torch

from slife.model.croco import CroCo

# ``auto`` compiles when this call trains at least this many steps (see auto_compile). CPU, bf16: the
# CPU recipe's step (1 thread) measured 1.19-1.38x faster compiled (0.152 -> 0.113 s under load),
# for a 74-116 s compile with a cold inductor cache on the shared 2-core machine (10 s once the cache
# holds the graphs), so it pays after ~2200 steps (~300 with a warm cache). CPU, float32: 1.09x
# (0.154 -> 0.141 s) for a 50 s compile: pays after ~4000. CUDA: not measured yet (no GPU lent so
# far); set where a base step's expected gain (~0.05 s) pays for a ~1 minute compile.
AUTO_MIN_STEPS = {"cpu": 2500, "cpu-fp32": 5000, "cuda": 1000}


@dataclass(frozen=True)
class CompileChoice:
    enabled: bool  # the model runs compiled
    reason: str  # why (for the log)
    seconds: float = 0.0  # time spent compiling


def auto_compile(device: torch.device, steps: int, amp_dtype: torch.dtype | None = None) -> tuple[bool, str]:
    """``auto``: compile when this call trains at least ``AUTO_MIN_STEPS[device type]`` steps
    (``cpu-fp32`` for a CPU without autocast)."""
    key = "cpu-fp32" if device.type == "cpu" and amp_dtype is None else device.type
    need = AUTO_MIN_STEPS.get(key)
    if need is None:
        return False, f"auto: not on {device.type}"
    if steps < need:
        return False, f"auto: {steps} steps < {need} (the compile would not pay for itself)"
    return True, f"auto: {steps} steps >= {need}"


def compile_for_training(
    model: CroCo, option: bool | str, batch: int, amp_dtype: torch.dtype | None, steps: int, pool: int = 1
) -> CompileChoice:
    """Compile ``model`` for training if ``option`` (True, False or "auto") says so; see the module doc.

    ``batch``, ``amp_dtype`` and ``pool`` are the run's (autocast around the forward only, the loss
    outside it, as ``slife train`` steps); ``steps`` is how many steps this call will train.
    """
    device = model.positions.device
    if option == "auto":
        enabled, reason = auto_compile(device, steps, amp_dtype)
    else:
        enabled, reason = bool(option), f"model.compile: {str(bool(option)).lower()}"
    if not enabled:
        model.use_compile(False)
        return CompileChoice(False, reason)
    model.use_compile(True)
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _probe(model, batch, amp_dtype, pool)
    except Exception as exc:  # compile machinery failing outside the model's own fallback (e.g. backward)
        model.use_compile(False)
        warnings.warn(f"torch.compile failed, training eager: {type(exc).__name__}: {exc}", stacklevel=2)
        return CompileChoice(False, f"compile failed: {type(exc).__name__}", time.perf_counter() - t0)
    seconds = time.perf_counter() - t0
    if not model.compiled:  # the model fell back to eager (it warned)
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return CompileChoice(False, "compile failed (see the warning)", seconds)
    return CompileChoice(True, reason, seconds)


def _probe(model: CroCo, batch: int, amp_dtype: torch.dtype | None, pool: int) -> None:
    """One forward + loss + backward on zeros as a training step runs it; the gradients are dropped."""
    device = model.positions.device
    s, n, hidden = model.cfg.img_size, model.num_patches, model.num_masked()
    img = torch.zeros(batch, 3, s, s, device=device)
    mask = torch.zeros(batch, n, dtype=torch.bool, device=device)
    mask[:, :hidden] = True
    grads = [p.grad for p in model.parameters()]
    try:
        with torch.autocast(device.type, dtype=amp_dtype or torch.bfloat16, enabled=amp_dtype is not None):
            out = model(img, img, mask)
        model.loss(out.pred, img, mask, pool=pool).backward()
    finally:
        for p, g in zip(model.parameters(), grads):
            p.grad = g
