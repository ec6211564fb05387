#!/usr/bin/env python
"""Trainings side by side: do concurrent training processes collapse, and which thread settings avoid it?

Each scenario starts N processes at once, each training the CPU recipe's model (or ``--size``) for a
fixed time budget with T torch threads and an OpenMP wait policy (``active``: GNU OpenMP's default,
spin then sleep; ``passive``: sleep at once, what slife sets for its training processes:
``slife.train.threads.quiet_wait_env``). Each process reports its pairs/s; the table shows each
scenario's total pairs/s against one process alone with all cores (the first scenario).

    python bench/concurrent_train.py                     # 2 cores: 1x2, 2x2 active, 2x2 passive, 2x1
    python bench/concurrent_train.py --seconds 30 --scenarios 1x2:active,2x2:active,2x1:passive
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

WORKER_ENV_KEYS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME", "OMP_NUM_THREADS")


def worker(size: str, batch: int, threads: int, seconds: float) -> None:
    """Train for ``seconds`` (after 3 warm-up steps); print one JSON line with pairs/s."""
    import torch

    sys.path.insert(0, os.path.dirname(__file__))
    from train_step import Trainer

    from slife.train.precision import autocast_dtype

    torch.set_num_threads(threads)
    device = torch.device("cpu")
    t = Trainer(size, batch, device, autocast_dtype("bf16", device), compiled=False)
    for _ in range(3):
        t.step()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        t.step()
        n += 1
    dt = time.perf_counter() - t0
    print(json.dumps({"pairs_per_s": n * batch / dt, "steps": n, "threads": threads,
                      "wait": os.environ.get("OMP_WAIT_POLICY", "default")}), flush=True)  # fmt: skip


def run_scenario(procs: int, threads: int, wait: str, args: argparse.Namespace) -> list[float]:
    env = {k: v for k, v in os.environ.items() if k not in WORKER_ENV_KEYS}
    if wait == "passive":
        from slife.train.threads import quiet_wait_env

        env.update(quiet_wait_env())
    elif wait != "active":
        raise SystemExit(f"unknown wait policy {wait!r}")
    env["OMP_NUM_THREADS"] = str(threads)
    cmd = [sys.executable, __file__, "--worker", "--size", args.size, "--batch", str(args.batch),
           "--threads", str(threads), "--seconds", str(args.seconds)]  # fmt: skip
    ps = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True) for _ in range(procs)]
    rates = []
    for p in ps:
        out, _ = p.communicate()
        rates.append(json.loads(out.strip().splitlines()[-1])["pairs_per_s"])
    return rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="recipe")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--scenarios", default="1x2:active,1x2:passive,2x2:active,2x2:passive,2x1:passive",
                    help="PROCESSESxTHREADS:active|passive, comma-separated; the first is the baseline")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.size, args.batch, args.threads, args.seconds)
        return
    print(f"{args.size}, batch {args.batch}, {args.seconds:.0f} s per process; {os.cpu_count()} cores; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)  # fmt: skip
    base = None
    for sc in args.scenarios.split(","):
        shape, wait = sc.split(":")
        procs, threads = (int(x) for x in shape.split("x"))
        rates = run_scenario(procs, threads, wait, args)
        total = sum(rates)
        base = base or total
        print(f"  {procs} x {threads} thread(s), {wait:7s}: per process {' '.join(f'{r:6.1f}' for r in rates)} pairs/s; "
              f"total {total:6.1f} ({total / base:.2f}x the first)", flush=True)  # fmt: skip
    print(f"load average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
