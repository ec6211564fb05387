"""Where a world model's correspondence comes from and where it fails (issue #10, docs/results/world):
GT alignment within 1 patch broken down by true displacement (in patches) and by decoder layer.

    python scripts/world_attention_breakdown.py --testset T.npz --out B.json NAME=RUN [NAME=RUN ...]

Per model: the fraction of target patches whose top-1 source patch is within 1 patch of the true one,
for each Chebyshev displacement 0, 1, 2, ... (masked reading, 8 masks), and on moving patches
(displacement >= 2) for each decoder layer's cross-attention alone, the mean over layers (what CAS and
the reports use), and the mean over the second half of the layers.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch


def breakdown(model: torch.nn.Module, ts, max_disp: int = 6) -> dict:
    from slife.align.analysis import gt_alignment, moving_patches, patch_displacement, rank
    from slife.align.sources import ReadProtocol, model_attention

    attn = model_attention(model, ts, per_layer=True, protocol=ReadProtocol("masked", 8, 0))  # (L, P, Nt, Ns)
    disp = patch_displacement(ts)
    mean = rank(attn.mean(0), 1)
    by_disp = {}
    for d in range(max_disp + 1):
        where = disp == d if d < max_disp else disp >= d
        by_disp[f"{d}" if d < max_disp else f">={d}"] = {"r1": gt_alignment(mean, ts, 1, where), "patches": int(where.sum())}
    moving = moving_patches(ts)
    layers = attn.shape[0]
    return {
        "by_displacement": by_disp,
        "moving_by_layer": [gt_alignment(rank(attn[i], 1), ts, 1, moving) for i in range(layers)],
        "moving_mean_of_layers": gt_alignment(mean, ts, 1, moving),
        "moving_mean_of_second_half": gt_alignment(rank(attn[layers // 2 :].mean(0), 1), ts, 1, moving),
    }


def main() -> int:
    from slife.align.testset import TestSet
    from slife.model.checkpoint import load_model, resolve_checkpoint

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--testset", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("models", nargs="+", help="NAME=RUN_DIR_OR_CHECKPOINT")
    args = ap.parse_args()
    ts = TestSet.load(args.testset)
    out = {}
    for item in args.models:
        name, _, run = item.partition("=")
        model, _ = load_model(resolve_checkpoint(run))
        out[name] = breakdown(model, ts)
        b = out[name]
        print(f"{name:<14} by displacement " + " ".join(f"{k}:{v['r1']:.2f}" for k, v in b["by_displacement"].items())
              + "  moving by layer " + " ".join(f"{v:.3f}" for v in b["moving_by_layer"])
              + f"  mean {b['moving_mean_of_layers']:.3f}")  # fmt: skip
    args.out.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())
