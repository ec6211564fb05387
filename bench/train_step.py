#!/usr/bin/env python
"""Training-step throughput against the hardware: pairs/s and the fraction of the measured matmul peak.

One training step is what ``slife train`` runs: forward under autocast, masked loss, backward, fused
AdamW step (``slife.train.optim.build_optimizer``), on a fixed batch and mask. For each size and
thread count it times the eager model and the ``torch.compile``d one (``CroCo.use_compile``) side by
side, in alternating rounds so that load from other processes hits both alike, and reports:

- pairs/s and s/step (median over rounds);
- model GFLOP per pair (forward + backward matmuls and attention, counted by
  ``torch.utils.flop_counter`` on the step itself) and the GFLOP/s the step reaches;
- the matmul peak of the same threads and dtype, measured in the same run (a large square matmul,
  best of several, before and after the steps), and the step's fraction of it.

Targets (issue 24), checked on the CPU recipe: >= 45 % of the bf16 peak where the CPU has bf16 units
(>= 70 % of the fp32 peak elsewhere), compiled >= 2x eager at the same precision, 2 threads >= 1.7x
one thread. Sizes: ``tiny`` (128 px, batch 16), ``recipe`` (configs/train_cpu.yaml: 64 px, 8 px
patches, width 64, 4 + 4 blocks, mask 0.5, batch 32), ``small`` (224 px, batch 8) and ``base``
(224 px; batch 2 on CPU, 64 on CUDA).

    python bench/train_step.py                                    # CPU: tiny, recipe, small; 1 and 2 threads
    python bench/train_step.py --sizes recipe --threads 1 --rounds 7
    python bench/train_step.py --sizes base --device cuda --json out.json   # a GPU (bench/gpu_check.sh)
    OMP_WAIT_POLICY=PASSIVE python bench/train_step.py            # waiting as the study's side-by-side workers

OpenMP's threads wait as in a lone ``slife train`` (the runtime's default: spin, then sleep); the
study's worker processes wait passively (slife.train.threads), which the environment line reproduces.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from typing import Callable

import torch

from slife.model.config import model_config
from slife.model.croco import CroCo
from slife.train.config import OptimConfig
from slife.train.optim import build_optimizer
from slife.train.precision import autocast_dtype

RECIPE = {"img_size": 64, "patch_size": 8, "enc_dim": 64, "enc_heads": 4, "enc_depth": 4, "dec_dim": 64,
          "dec_heads": 4, "dec_depth": 4, "mask_ratio": 0.5}  # configs/train_cpu.yaml  # fmt: skip
SIZES = {  # name: (model size, overrides, CPU batch, CUDA batch)
    "tiny": ("tiny", {}, 16, 256),
    "recipe": ("tiny", RECIPE, 32, 512),
    "small": ("small", {}, 8, 128),
    "base": ("base", {}, 2, 64),
}
TARGETS = {"peak_bf16": 0.45, "peak_fp32": 0.70, "compiled_vs_eager": 2.0, "two_threads": 1.7}


@dataclass
class Row:
    size: str
    batch: int
    threads: int
    mode: str  # eager | compiled
    precision: str  # bf16 | fp32
    s_per_step: float
    pairs_per_s: float
    gflop_per_pair: float
    gflops: float  # achieved by the step
    peak_gflops: float  # matmul peak, same threads and dtype
    fraction_of_peak: float
    compile_s: float = 0.0


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_peak(device: torch.device, dtype: torch.dtype, seconds: float = 1.0) -> float:
    """GFLOP/s of a large square matmul (best of repeated timings over ~``seconds``)."""
    n = 8192 if device.type == "cuda" else 2048
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    sync(device)
    best, t_end = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < t_end or best == float("inf"):
        t0 = time.perf_counter()
        for _ in range(4 if device.type == "cuda" else 1):
            a @ b
        sync(device)
        best = min(best, (time.perf_counter() - t0) / (4 if device.type == "cuda" else 1))
    return 2 * n**3 / best / 1e9


class Trainer:
    """A model + optimiser + fixed batch, stepped as ``slife train`` steps (forward under autocast)."""

    def __init__(self, size: str, batch: int, device: torch.device, amp: torch.dtype | None, compiled: bool) -> None:
        name, overrides, _, _ = SIZES[size]
        torch.manual_seed(0)
        self.model = CroCo(model_config(name, **overrides)).to(device).train()
        self.opt = build_optimizer(self.model, OptimConfig(lr=1e-4), 1e-4)
        s = self.model.cfg.img_size
        g = torch.Generator(device=device).manual_seed(1)
        self.src = torch.randn(batch, 3, s, s, device=device, generator=g)
        self.tgt = torch.randn(batch, 3, s, s, device=device, generator=g)
        self.mask = self.model.random_mask(batch, generator=g)
        self.device, self.amp = device, amp
        self.compile_s = 0.0
        if compiled:
            from slife.train.compiling import compile_for_training

            # every size and thread count is a new graph of the same function: without a reset the
            # later ones hit dynamo's recompile limit (8) and silently run eager
            torch._dynamo.reset()

            choice = compile_for_training(self.model, True, batch, amp, steps=1)
            if not choice.enabled:
                raise RuntimeError(f"torch.compile failed: {choice.reason}")
            self.compile_s = choice.seconds

    def step(self) -> float:
        with torch.autocast(self.device.type, dtype=self.amp or torch.bfloat16, enabled=self.amp is not None):
            out = self.model(self.src, self.tgt, self.mask)
        loss = self.model.loss(out.pred, self.tgt, self.mask)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return float(loss.detach())

    def flops(self) -> float:
        """FLOPs of one step (forward + backward), counted by torch.utils.flop_counter (which does not
        know PyTorch's CPU flash-attention kernels: counted here with its SDPA formulas)."""
        from torch.utils import flop_counter as fc

        aten = torch.ops.aten
        cpu_sdpa = {
            aten._scaled_dot_product_flash_attention_for_cpu:
                lambda q, k, v, *args, **kw: fc.sdpa_flop_count(q, k, v),
            aten._scaled_dot_product_flash_attention_for_cpu_backward:
                lambda g, q, k, v, *args, **kw: fc.sdpa_backward_flop_count(g, q, k, v),
        }  # fmt: skip
        counter = fc.FlopCounterMode(display=False, custom_mapping=cpu_sdpa)
        with counter:
            self.step()
        return float(counter.get_total_flops())


def time_side_by_side(fns: dict[str, Callable[[], float]], device: torch.device, steps: int, rounds: int,
                      budget_s: float) -> dict[str, float]:  # fmt: skip
    """Median seconds per step of each function, timed in alternating rounds."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    start = time.perf_counter()
    for r in range(rounds):
        if r and time.perf_counter() - start > budget_s:
            break
        for name, fn in fns.items():
            sync(device)
            t0 = time.perf_counter()
            for _ in range(steps):
                fn()
            sync(device)
            times[name].append((time.perf_counter() - t0) / steps)
    return {k: statistics.median(v) for k, v in times.items()}


def load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def bench_size(size: str, batch: int, threads: int, device: torch.device, amp: torch.dtype | None, modes: list[str],
               steps: int, rounds: int, budget_s: float, peak: float) -> list[Row]:  # fmt: skip
    trainers = {mode: Trainer(size, batch, device, amp, mode == "compiled") for mode in modes}
    for t in trainers.values():  # warm-up (first-touch allocations, oneDNN primitive caches)
        t.step()
        t.step()
    flops = next(iter(trainers.values())).flops()
    med = time_side_by_side({m: t.step for m, t in trainers.items()}, device, steps, rounds, budget_s)
    prec = "bf16" if amp == torch.bfloat16 else ("fp16" if amp == torch.float16 else "fp32")
    rows = []
    for mode, t in trainers.items():
        gflops = flops / med[mode] / 1e9
        rows.append(Row(size, batch, threads, mode, prec, med[mode], batch / med[mode], flops / batch / 1e9, gflops,
                        peak, gflops / peak, t.compile_s))  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--sizes", default=None, help="comma-separated of tiny,recipe,small,base (CPU default: tiny,recipe,small; CUDA: base)")
    ap.add_argument("--batch", type=int, default=None, help="pairs per step for every size (default: per size)")
    ap.add_argument("--threads", default=None, help="comma-separated CPU thread counts (default 1,2 capped at the usable cores)")
    ap.add_argument("--modes", default="eager,compiled")
    ap.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto",
                    help="auto: bf16 autocast where the hardware has bf16 units (as slife train), else fp32")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per round (default 3 on CPU, 10 on CUDA; base on CPU: 1)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--budget-s", type=float, default=60.0, help="per size and thread count: no new round after this")
    ap.add_argument("--json", default=None, help="also write the rows and the checks to this file")
    args = ap.parse_args()

    from slife.train.threads import usable_cores

    device = torch.device(args.device)
    cuda = device.type == "cuda"
    sizes = (args.sizes or ("base" if cuda else "tiny,recipe,small")).split(",")
    threads = [int(t) for t in (args.threads or ",".join(str(t) for t in (1, 2) if t <= usable_cores()) or "1").split(",")]
    if cuda:
        threads = threads[:1]
        torch.backends.cuda.matmul.allow_tf32 = True  # as training would run fp32 matmuls on a GPU
    amp = autocast_dtype("bf16", device) if args.precision == "auto" else (torch.bfloat16 if args.precision == "bf16" else None)
    dtype = amp or torch.float32
    modes = args.modes.split(",")
    where = torch.cuda.get_device_name(device) if cuda else f"{cpu_name()} ({torch.backends.cpu.get_cpu_capability()})"
    wait = os.environ.get("OMP_WAIT_POLICY") or "default (spin, then sleep)"
    print(f"device: {where}; torch {torch.__version__}; OpenMP waits: {wait}; load average at start: {load()}", flush=True)
    rows: list[Row] = []
    for n_threads in threads:
        torch.set_num_threads(n_threads)
        peak = matmul_peak(device, dtype)
        print(f"{n_threads} thread(s): matmul peak {peak:.0f} GFLOP/s ({str(dtype).removeprefix('torch.')})", flush=True)
        for size in sizes:
            _, _, cpu_batch, cuda_batch = SIZES[size]
            batch = args.batch or (cuda_batch if cuda else cpu_batch)
            steps = args.steps or (10 if cuda else (1 if size == "base" else 3))
            out = bench_size(size, batch, n_threads, device, amp, modes, steps, args.rounds, args.budget_s, peak)
            peak_after = matmul_peak(device, dtype, 0.5)
            if peak_after > peak:  # the machine was busier at the first measurement
                for r in out:
                    r.peak_gflops, r.fraction_of_peak = peak_after, r.gflops / peak_after
                peak = peak_after
            for r in out:
                extra = f"  (compiled in {r.compile_s:.0f} s)" if r.mode == "compiled" else ""
                print(f"  {r.size:7s} b{r.batch:<4d} {r.mode:9s} {r.precision}  {r.s_per_step:8.4f} s/step  "
                      f"{r.pairs_per_s:8.1f} pairs/s  {r.gflop_per_pair:7.3f} GFLOP/pair  {r.gflops:7.1f} GFLOP/s  "
                      f"{100 * r.fraction_of_peak:5.1f} % of peak{extra}", flush=True)  # fmt: skip
            rows.extend(out)
    checks = summarise(rows, amp)
    print(f"load average at end: {load()}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"device": where, "torch": torch.__version__, "load": load(), "omp_wait": wait, "rows": [asdict(r) for r in rows],
                       "checks": checks}, fh, indent=1)  # fmt: skip


def summarise(rows: list[Row], amp: torch.dtype | None) -> list[dict]:
    """Ratios (compiled / eager, 2 threads / 1) and the targets, printed; returned for --json."""
    def get(size: str, mode: str, threads: int) -> Row | None:
        return next((r for r in rows if (r.size, r.mode, r.threads) == (size, mode, threads)), None)

    checks = []
    for size in dict.fromkeys(r.size for r in rows):
        for t in sorted({r.threads for r in rows}):
            e, c = get(size, "eager", t), get(size, "compiled", t)
            if e and c:
                checks.append({"size": size, "threads": t, "what": "compiled / eager", "value": c.pairs_per_s / e.pairs_per_s,
                               "target": TARGETS["compiled_vs_eager"] if size == "recipe" else None})  # fmt: skip
        for mode in dict.fromkeys(r.mode for r in rows):
            one, two = get(size, mode, 1), get(size, mode, 2)
            if one and two:
                checks.append({"size": size, "threads": None, "mode": mode, "what": "2 threads / 1",
                               "value": two.pairs_per_s / one.pairs_per_s,
                               "target": TARGETS["two_threads"] if size == "recipe" else None})  # fmt: skip
        best = max((r for r in rows if r.size == size), key=lambda r: r.fraction_of_peak)
        key = "peak_bf16" if amp == torch.bfloat16 else "peak_fp32"
        checks.append({"size": size, "threads": best.threads, "mode": best.mode, "what": f"fraction of the {best.precision} peak",
                       "value": best.fraction_of_peak, "target": TARGETS[key] if size == "recipe" else None})  # fmt: skip
    print("ratios and targets:")
    for c in checks:
        label = f"{c['size']}" + (f", {c['threads']} thread(s)" if c.get("threads") else "") + (f", {c['mode']}" if c.get("mode") else "")
        verdict = "" if c["target"] is None else f"  (target >= {c['target']}: {'PASS' if c['value'] >= c['target'] else 'FAIL'})"
        fmt = f"{100 * c['value']:.1f} %" if "fraction" in c["what"] else f"{c['value']:.2f}x"
        print(f"  {c['what']:28s} {label:32s} {fmt}{verdict}")
    peak = next((c for c in checks if c["size"] == "recipe" and "fraction" in c["what"]), None)
    wider = [c for c in checks if c["size"] in ("small", "base") and "fraction" in c["what"]]
    if peak and peak["value"] < peak["target"] and wider:
        best = max(wider, key=lambda c: c["value"])
        print(f"  the same step code at {best['size']} reaches {100 * best['value']:.1f} % of the peak: the recipe's "
              "distance from it is its width (64 channels), not the step (docs/model.md)")  # fmt: skip
    return checks


if __name__ == "__main__":
    sys.exit(main())
