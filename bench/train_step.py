#!/usr/bin/env python
"""Training-step throughput: our CroCo vs. a straightforward reference, same weights, same batch.

Ours: ``slife.model.croco.CroCo`` as ``slife train`` runs it (fused scaled_dot_product_attention, RoPE
tables shared across layers, patch embedding as one matmul on visible patches only, fused AdamW, bf16
autocast where the hardware has bf16 units: ``slife.train.precision``).
Reference: ``slife.model.reference`` (explicit softmax attention, complex-number RoPE, float32,
plain AdamW). Both run forward + masked loss + backward + optimiser step on the same fixed batch and
mask, alternating in rounds so that load from other processes hits both alike. Prints a table and
PASS/FAIL against the target speed-up (1.3x).

    python bench/train_step.py                 # CPU: tiny, batch 16, 1 thread; CUDA: base, batch 64
    python bench/train_step.py --size small --batch 8 --device cpu --threads 2 --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from slife.model import reference as ref
from slife.model.config import model_config
from slife.model.croco import CroCo
from slife.model.official import to_official_state_dict
from slife.train.config import OptimConfig
from slife.train.optim import build_optimizer, no_decay
from slife.train.precision import autocast_dtype

TARGET = 1.3


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--size", default=None, help="model size (default: tiny on CPU, base on CUDA)")
    ap.add_argument("--batch", type=int, default=None, help="pairs per step (default: 16 on CPU, 64 on CUDA)")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per round (default 2 CPU / 10 CUDA)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (default 1: on shared cores more threads mostly measure contention)")
    ap.add_argument("--budget-s", type=float, default=90.0, help="stop starting new rounds after this many seconds")
    ap.add_argument("--autocast", choices=["auto", "on", "off"], default="auto", help="bf16 autocast for ours")
    args = ap.parse_args()

    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    cuda = device.type == "cuda"
    size = args.size or ("base" if cuda else "tiny")
    batch = args.batch or (64 if cuda else 16)
    steps = args.steps or (10 if cuda else 2)
    # auto: what `slife train` does with its default precision (bf16 where the hardware has bf16 units)
    use_bf16 = autocast_dtype("bf16", device) == torch.bfloat16 if args.autocast == "auto" else args.autocast == "on"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = False  # keep the reference honest fp32
        torch.backends.cudnn.allow_tf32 = False

    torch.manual_seed(0)
    cfg = model_config(size)
    model = CroCo(cfg).to(device).train()
    params = {k: v.detach().clone().requires_grad_(v.dtype.is_floating_point and not k.endswith("pos_embed"))
              for k, v in to_official_state_dict(model).items()}
    g = torch.Generator(device=device).manual_seed(1)
    src = torch.randn(batch, 3, cfg.img_size, cfg.img_size, device=device, generator=g)
    tgt = torch.randn(batch, 3, cfg.img_size, cfg.img_size, device=device, generator=g)
    mask = model.random_mask(batch, generator=g)

    optim_cfg = OptimConfig()
    opt = build_optimizer(model, optim_cfg, 1e-4)  # as `slife train` builds it (fused AdamW)
    ref_groups = [  # the same decay / no-decay split, plain per-parameter AdamW
        {"params": [p for k, p in params.items() if p.requires_grad and no_decay(k, p) == skip],
         "weight_decay": 0.0 if skip else optim_cfg.weight_decay}
        for skip in (False, True)
    ]
    ref_opt = torch.optim.AdamW(ref_groups, lr=1e-4, betas=tuple(optim_cfg.betas), foreach=False)

    def ours_step() -> float:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            out = model(src, tgt, mask)
            loss = model.loss(out.pred, tgt, mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    def ref_step() -> float:
        pred, _ = ref.forward(params, cfg, src, tgt, mask)
        loss = ref.loss(cfg, pred, tgt, mask)
        ref_opt.zero_grad(set_to_none=True)
        loss.backward()
        ref_opt.step()
        return loss.item()

    first = (ours_step(), ref_step())  # same weights + batch: same loss (up to bf16)
    for _ in range(1):
        ours_step(), ref_step()
    times: dict[str, list[float]] = {"ours": [], "reference": []}
    start = time.perf_counter()
    for r in range(args.rounds):
        if r and time.perf_counter() - start > args.budget_s:
            print(f"time budget reached after {r} rounds")
            break
        for name, fn in (("ours", ours_step), ("reference", ref_step)):
            sync(device)
            t0 = time.perf_counter()
            for _ in range(steps):
                fn()
            sync(device)
            times[name].append((time.perf_counter() - t0) / steps)

    dev_name = torch.cuda.get_device_name(device) if cuda else f"CPU ({torch.get_num_threads()} thread(s), {torch.backends.cpu.get_cpu_capability()})"
    print(f"device: {dev_name}; model: {size} ({sum(p.numel() for p in model.parameters()) / 1e6:.1f} M params, "
          f"{cfg.img_size}px, {cfg.num_patches} patches, mask {cfg.mask_ratio}); batch {batch}; "
          f"{len(times['ours'])} rounds x {steps} steps")
    print(f"first-step loss: ours {first[0]:.5f}  reference {first[1]:.5f}")
    print(f"{'impl':<11} {'precision':<10} {'attention':<10} {'s/step (median)':>16} {'pairs/s':>10}")
    rate = {}
    for name in ("reference", "ours"):
        med = statistics.median(times[name])
        rate[name] = batch / med
        prec = "bf16-amp" if (name == "ours" and use_bf16) else "fp32"
        # ours: fused SDPA, except bf16 on CPU where slife.model.layers.attend takes the explicit product
        attn = "explicit" if name == "reference" or (use_bf16 and not cuda) else "fused"
        print(f"{name:<11} {prec:<10} {attn:<10} {med:>16.4f} {rate[name]:>10.1f}")
    speedup = rate["ours"] / rate["reference"]
    print(f"speed-up: {speedup:.2f}x (target >= {TARGET}x): {'PASS' if speedup >= TARGET else 'FAIL'}")


if __name__ == "__main__":
    main()
