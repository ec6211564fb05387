"""Where a world model's correspondence comes from and where it fails (issue #10, docs/results/world):
GT alignment within 1 patch broken down by true displacement (in patches) and by decoder layer
(slife.align.scorecard.breakdown).

    python scripts/world_attention_breakdown.py --testset T.npz --out B.json NAME=RUN [NAME=RUN ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> int:
    from slife.align.scorecard import breakdown
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
        b = out[name] = breakdown(load_model(resolve_checkpoint(run))[0], ts)
        print(f"{name:<14} by displacement " + " ".join(f"{k}:{v['r1']:.2f}" for k, v in b["by_displacement"].items())
              + "  moving by layer " + " ".join(f"{v:.3f}" for v in b["moving_by_layer"])
              + f"  mean {b['moving_mean_of_layers']:.3f}")  # fmt: skip
    args.out.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
