#!/usr/bin/env python
"""The GPU check (issue 24): one prepared command that exercises slife's CUDA path end to end.

1. ``bench/train_step.py`` at ``--size`` (default base, batch 64): eager and compiled training steps
   with bf16 autocast, pairs/s and the fraction of the measured bf16 matmul peak;
2. the data path: pairs/s of batches cut from frames resident on the device (``data.resident``)
   and of the CPU loader (one process), against the model's step rate;
3. a short ``slife train`` run (bf16 autocast, resident frames, compiled) and the same run stopped
   half-way and resumed: are the weights the same (bit for bit, else the largest difference)?

Results go to ``--out``: ``gpu_check.json`` (everything), ``gpu_check.md`` (a summary), and the log.
Sized for <= 8 minutes on one H100 (``bench/gpu_check.sh``); ``--device cpu --size tiny`` runs the
same path on a CPU in seconds (tested: tests/test_bench_gpu_check.py).

    bash bench/gpu_check.sh                      # on the GPU machine, results under $OUT
    python bench/gpu_check.py --device cpu --size tiny --batch 4 --train-steps 4 --modes eager --out /tmp/check
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_step as ts  # noqa: E402  (bench/train_step.py)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def environment(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {"torch": torch.__version__, "device": str(device), "python": sys.version.split()[0]}
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        info.update(gpu=p.name, memory_gib=round(p.total_memory / 2**30, 1), sms=p.multi_processor_count,
                    cuda=torch.version.cuda, bf16=torch.cuda.is_bf16_supported())  # fmt: skip
    else:
        info.update(cpu=ts.cpu_name(), threads=torch.get_num_threads())
    return info


def data_rates(life: Any, size: str, batch: int, steps: int, device: torch.device) -> dict[str, float]:
    """Pairs/s of the resident data path on ``device`` and of the CPU loader (one process)."""
    from slife.model.config import model_config
    from slife.pairs.config import PairsConfig, build_sampler
    from slife.pairs.dataset import PairBatches
    from slife.pairs.resident import ResidentFrames

    name, overrides, _, _ = ts.SIZES[size]
    mcfg = model_config(name, **overrides)
    hidden = int(round(mcfg.mask_ratio * mcfg.num_patches))
    ds = PairBatches(life, build_sampler(life, PairsConfig()), np.full(steps + 2, len(life)), mcfg.img_size, hidden,
                     batch, seed=0, patch_size=mcfg.patch_size)  # fmt: skip
    t0 = time.perf_counter()
    frames = ResidentFrames(life, [ds.short_side], device)
    load_s = time.perf_counter() - t0

    def cut(s: int) -> dict[str, torch.Tensor]:
        return frames.batch(ds.draw(s, frames.frame_dims, frames.image), mcfg.img_size, s)

    cut(0)
    sync(device)
    t0 = time.perf_counter()
    for s in range(1, steps + 1):
        cut(s)
    sync(device)
    resident = steps * batch / (time.perf_counter() - t0)
    ds[0]
    t0 = time.perf_counter()
    for s in range(1, steps + 1):
        ds[s]
    cpu = steps * batch / (time.perf_counter() - t0)
    return {"resident_pairs_per_s": resident, "cpu_loader_pairs_per_s": cpu, "resident_load_s": load_s,
            "resident_mib": frames.nbytes / 2**20}  # fmt: skip


def train_and_resume(life_dir: Path, work: Path, size: str, batch: int, steps: int, device: torch.device,
                     compile_: bool) -> dict[str, Any]:  # fmt: skip
    """``steps`` straight vs ``steps // 2`` + resume: bf16, resident frames; compares the final weights."""
    from slife.config import load_config
    from slife.model.checkpoint import read_checkpoint
    from slife.train import TrainConfig, train

    name, overrides, _, _ = ts.SIZES[size]
    sets = [f"model.size={name}", f"model.overrides={json.dumps(overrides)}", f"model.compile={str(compile_).lower()}",
            f"batch_size={batch}", f"steps={steps}", "precision=bf16", "data.resident=true", f"device={device}",
            "tensorboard=false", "log_every=1", "milestones=[1000.0]", "optim.lr=1e-4"]  # fmt: skip
    cfg = load_config(TrainConfig, None, sets)
    t0 = time.perf_counter()
    straight = train(life_dir, work / "straight", cfg, progress=False)
    straight_s = time.perf_counter() - t0
    train(life_dir, work / "resumed", cfg, progress=False, stop_after=steps // 2)
    resumed = train(life_dir, work / "resumed", cfg, progress=False)
    a = read_checkpoint(work / "straight" / "checkpoints" / "last.pt")["model"]
    b = read_checkpoint(work / "resumed" / "checkpoints" / "last.pt")["model"]
    diff = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    start = next(json.loads(line) for line in (work / "straight" / "log.jsonl").read_text().splitlines()
                 if json.loads(line).get("event") == "start")  # fmt: skip
    return {"steps": steps, "batch": batch, "amp": start.get("amp"), "compiled": start.get("compile"),
            "device": start.get("device"), "final_loss": straight.final_loss, "resumed_final_loss": resumed.final_loss,
            "train_pairs_per_s": straight.pairs_per_s, "straight_s": straight_s, "resumed_from": resumed.resumed_from,
            "bit_identical": all(torch.equal(a[k], b[k]) for k in a), "max_weight_diff": diff}  # fmt: skip


def summary(res: dict[str, Any]) -> str:
    lines = [f"# GPU check: {res['environment'].get('gpu') or res['environment'].get('cpu')}", "",
             f"torch {res['environment']['torch']}; {res['elapsed_s']:.0f} s in all", "",
             "| size | batch | mode | precision | pairs/s | GFLOP/s | % of peak | compile s |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for r in res["train_step"]["rows"]:
        lines.append(f"| {r['size']} | {r['batch']} | {r['mode']} | {r['precision']} | {r['pairs_per_s']:.1f} | "
                     f"{r['gflops']:.0f} | {100 * r['fraction_of_peak']:.1f} | {r['compile_s']:.0f} |")  # fmt: skip
    d, t = res["data"], res["training"]
    lines += ["", f"peak: {res['train_step']['rows'][0]['peak_gflops']:.0f} GFLOP/s",
              f"data: resident {d['resident_pairs_per_s']:.0f} pairs/s, CPU loader (1 process) {d['cpu_loader_pairs_per_s']:.0f} pairs/s",
              f"training ({t['steps']} steps, amp {t['amp']}, compiled {t['compiled']}, resident): {t['train_pairs_per_s']:.1f} pairs/s; "
              f"resume: {'bit-identical' if t['bit_identical'] else 'max weight difference %.3g' % t['max_weight_diff']}"]  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--size", default="base", choices=list(ts.SIZES))
    ap.add_argument("--batch", type=int, default=None, help="default: the size's CUDA batch (bench/train_step.py)")
    ap.add_argument("--modes", default="eager,compiled")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=None, help="timed steps per round (default 10 CUDA, 2 CPU)")
    ap.add_argument("--train-steps", type=int, default=20)
    ap.add_argument("--train-compile", choices=["true", "false"], default=None, help="default: true on CUDA")
    ap.add_argument("--life-seconds", type=float, default=60.0)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the synthetic test life (tests/lives.py)
    from lives import make_test_life

    t_start = time.perf_counter()
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
    args.out.mkdir(parents=True, exist_ok=True)
    batch = args.batch or ts.SIZES[args.size][3 if cuda else 2]
    amp = torch.bfloat16 if cuda else ts.autocast_dtype("bf16", device)
    res: dict[str, Any] = {"environment": environment(device)}
    print(json.dumps(res["environment"]), flush=True)

    peak = ts.matmul_peak(device, amp or torch.float32)
    rows = ts.bench_size(args.size, batch, torch.get_num_threads(), device, amp, args.modes.split(","),
                         args.steps or (10 if cuda else 2), args.rounds, 120.0, peak)  # fmt: skip
    res["train_step"] = {"peak_gflops": peak, "rows": [asdict(r) for r in rows]}
    for r in rows:
        print(f"train step {r.size} b{r.batch} {r.mode}: {r.pairs_per_s:.1f} pairs/s, {100 * r.fraction_of_peak:.1f} % of "
              f"the {r.precision} peak ({peak:.0f} GFLOP/s); compiled in {r.compile_s:.0f} s", flush=True)  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        side = ts.model_config(ts.SIZES[args.size][0], **ts.SIZES[args.size][1]).img_size
        w, h = (side * 4 // 3, side) if cuda else (96, 72)
        life = make_test_life(Path(tmp) / "life", durations=(args.life_seconds,), fps=2.0, width=w, height=h)
        res["data"] = data_rates(life, args.size, batch, 10 if cuda else 3, device)
        res["data"]["model_pairs_per_s"] = max(r.pairs_per_s for r in rows)
        print(f"data: {json.dumps(res['data'])}", flush=True)
        compile_ = cuda if args.train_compile is None else args.train_compile == "true"
        res["training"] = train_and_resume(life.dir, Path(tmp), args.size, batch, args.train_steps, device, compile_)
        print(f"training: {json.dumps(res['training'])}", flush=True)
    res["elapsed_s"] = time.perf_counter() - t_start
    (args.out / "gpu_check.json").write_text(json.dumps(res, indent=1))
    (args.out / "gpu_check.md").write_text(summary(res))
    print(summary(res), flush=True)
    return res


if __name__ == "__main__":
    main()
