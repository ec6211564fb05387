#!/usr/bin/env python
"""Data path vs model: pairs/s of exactly what ``slife train`` feeds the model, next to the model's
own step rate on the same machine, in the same run.

The data path is ``slife.pairs.dataset.PairBatches`` as the training loop builds it (temporal +
spatial pairs of a rendered life, random crops, colour jitter, masks, ImageNet normalisation, the
frame cache on and off, with shifted pairs as ``configs/train_cpu.yaml`` uses them), timed per
process (1 thread) and through a ``DataLoader`` with N workers. The model rate is forward + loss +
backward + AdamW step of the same model size at the same batch, 1 thread. PASS when one loading
process outruns one training process (ratio >= 1), i.e. the data path is never the bottleneck at
that size on these cores. Sizes: ``tiny`` (128 px), the CPU recipe (64 px), and ``base`` (224 px;
model timing only on CUDA or with --base-model).

    python bench/dataloader.py [--sizes recipe,tiny,base] [--workers 0,2] [--steps 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

SIZES = {
    "recipe": ("tiny", {"img_size": 64, "patch_size": 8, "enc_dim": 64, "enc_heads": 4, "enc_depth": 4,
                        "dec_dim": 64, "dec_heads": 4, "dec_depth": 4, "mask_ratio": 0.5}, 0.5),
    "tiny": ("tiny", {}, 0.0),
    "base": ("base", {}, 0.0),
}  # fmt: skip


def data_rate(life, size: str, batch: int, steps: int, workers: int, cache_mb: float) -> float:
    """Pairs/s of PairBatches (through a DataLoader when workers > 0)."""
    from torch.utils.data import DataLoader

    from slife.model.config import model_config
    from slife.pairs.config import PairsConfig, build_sampler
    from slife.pairs.dataset import PairBatches
    from slife.pairs.masking import num_masked
    from slife.pairs.shifted import ShiftedPairsConfig

    name, overrides, share = SIZES[size]
    mcfg = model_config(name, **overrides)
    hidden = num_masked(mcfg.num_patches, mcfg.mask_ratio)
    ds = PairBatches(life, build_sampler(life, PairsConfig()), np.full(steps + 2, len(life)), mcfg.img_size, hidden,
                     batch, seed=0, patch_size=mcfg.patch_size, shifted=ShiftedPairsConfig(share=share), cache_mb=cache_mb)  # fmt: skip
    if workers == 0:
        ds[0]  # warm-up (and, with the cache, what a long run amortises)
        t0 = time.perf_counter()
        for s in range(1, steps + 1):
            ds[s]
        return steps * batch / (time.perf_counter() - t0)
    loader = DataLoader(ds, batch_size=None, sampler=range(steps + 2), num_workers=workers)
    it = iter(loader)
    next(it)
    t0 = time.perf_counter()
    n = sum(1 for _ in it)
    return n * batch / (time.perf_counter() - t0)


def model_rate(size: str, batch: int, steps: int, device: torch.device, compiled: bool = False) -> float:
    """Pairs/s of forward + loss + backward + optimiser step (1 thread on CPU); ``compiled``: the
    torch.compile'd step (CroCo.use_compile; compiled by the untimed first step)."""
    from slife.model.config import model_config
    from slife.model.croco import CroCo
    from slife.train.config import OptimConfig
    from slife.train.optim import build_optimizer
    from slife.train.precision import autocast_dtype

    name, overrides, _ = SIZES[size]
    model = CroCo(model_config(name, **overrides)).to(device)
    model.use_compile(compiled)
    opt = build_optimizer(model, OptimConfig(lr=1e-3), 1e-3)
    s = model.cfg.img_size
    src, tgt = torch.randn(batch, 3, s, s, device=device), torch.randn(batch, 3, s, s, device=device)
    amp = autocast_dtype("bf16", device)

    def step() -> None:
        mask = model.random_mask(batch).to(device)
        with torch.autocast(device.type, dtype=amp or torch.bfloat16, enabled=amp is not None):
            out = model(src, tgt, mask=mask)
        loss = model.loss(out.pred, tgt, mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - t0)


def main() -> None:
    from slife.world import WorldConfig, make_life

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="recipe,tiny,base")
    ap.add_argument("--workers", default="0,2")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--base-model", action="store_true", help="also time the base model on CPU (slow)")
    ap.add_argument("--compiled", action="store_true", help="time the torch.compile'd step (what model.compile does)")
    ap.add_argument("--life", type=Path, help="a rendered life to read (default: render 2 minutes)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        from slife.life import Life

        life_dir = args.life or make_life(Path(tmp) / "life", "kitchen-1", 2.0, 2.0, 0, 256, False, WorldConfig())
        life = Life.open(life_dir)
        print(f"life {life.name}: {len(life)} frames; batch {args.batch}; 1 thread per process; device {device}")
        print(f"{'size':8s} {'loader':22s} {'pairs/s':>9s} {'model pairs/s':>14s} {'ratio':>6s}")
        ok = True
        for size in args.sizes.split(","):
            timed_model = device.type == "cuda" or size != "base" or args.base_model
            m = model_rate(size, args.batch, max(2, args.steps // 4), device, args.compiled) if timed_model else float("nan")
            for workers in (int(w) for w in args.workers.split(",")):
                for cache in ((1024.0, 0.0) if workers == 0 else (1024.0,)):
                    d = data_rate(life, size, args.batch, args.steps, workers, cache)
                    label = f"{workers} workers" + ("" if workers else f", cache {'on' if cache else 'off'}")
                    ratio = d / m if np.isfinite(m) else float("nan")
                    print(f"{size:8s} {label:22s} {d:9.1f} {m:14.1f} {ratio:6.2f}")
                    if workers == 0 and cache and np.isfinite(ratio) and size != "base":
                        ok &= ratio >= 1.0
        print("PASS" if ok else "FAIL", "(one loading process outruns one training process at the CPU sizes)")


if __name__ == "__main__":
    main()
