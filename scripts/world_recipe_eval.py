"""Score world runs the way docs/results/world reports them (issue #10, part 3).

    python scripts/world_recipe_eval.py --testset T.npz --out R.json RUN_OR_CKPT...
    python scripts/world_recipe_eval.py --testset T.npz --out R.json --train LIFE RUN --config C.yaml \\
        [--set key=value ...] --every 300

The first form scores checkpoints. The second trains ``slife train LIFE --out RUN`` in stretches of
``--every`` steps (``stop_after``: exact resume, so the curve is the straight run's) and scores the
model after each: a curve over pairs seen.

For every model: top-1 GT alignment (r0, r1; all and moving patches) read masked and unmasked, the
source-use control (masked loss with the right source, another pair's, noise), next to identity,
random init (same config), chance and a non-learned pixel-matching baseline (each target patch's
nearest source patch in mean absolute RGB difference).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

RADII = (0, 1)


def pixel_match_top1(ts) -> np.ndarray:
    """(P, N): index of the source patch closest to each target patch in mean absolute RGB difference."""
    g, p = ts.grid, ts.patch_size

    def patches(im: np.ndarray) -> np.ndarray:
        return im.reshape(g, p, g, p, 3).transpose(0, 2, 1, 3, 4).reshape(g * g, -1).astype(np.float32)

    return np.stack([np.abs(patches(s)[None] - patches(t)[:, None]).mean(-1).argmin(1) for s, t in zip(ts.src, ts.tgt)])


def protocols() -> dict[str, Any]:
    from slife.align.sources import ReadProtocol

    return {"masked": ReadProtocol("masked", 8, 0), "unmasked": ReadProtocol("unmasked")}


def score(model: torch.nn.Module, ts) -> dict[str, Any]:
    """GT alignment per reading protocol and the source-use control of one model."""
    from slife.align.analysis import gt_scores, rank
    from slife.align.controls import source_use
    from slife.align.sources import model_attention

    entry: dict[str, Any] = dict(source_use(model, ts, 0))
    for name, proto in protocols().items():
        entry[name] = gt_scores(rank(model_attention(model, ts, protocol=proto), 1), ts, RADII)
    return entry


def baselines(ts, model_cfg) -> dict[str, Any]:
    """Chance, identity, pixel matching and random init (same model config) on the test set."""
    from slife.align.analysis import gt_chance, gt_scores, rank
    from slife.align.sources import IdentitySource, random_init_source

    top1 = torch.as_tensor(pixel_match_top1(ts))
    return {
        "testset": ts.summary(),
        "chance": gt_chance(ts, RADII),
        "identity": gt_scores(rank(IdentitySource().attention(ts), 1), ts, RADII),
        "pixel-match": gt_scores(rank(torch.nn.functional.one_hot(top1, ts.num_patches).float(), 1), ts, RADII),
        "random-init": score(random_init_source(model_cfg, seed=12345).model, ts),
    }


def _curve(args: argparse.Namespace, ts) -> dict[str, Any]:
    from slife.config import load_config, to_dict
    from slife.model.config import model_config
    from slife.train import TrainConfig, train

    life, run = args.train
    cfg = load_config(TrainConfig, args.config, args.set)
    out = {"config": to_dict(cfg), "life": str(life), "machine": {"cpu": platform.processor() or platform.machine(),
           "torch_threads": cfg.threads or torch.get_num_threads()}, **baselines(ts, model_config(cfg.model.size, **cfg.model.overrides))}  # fmt: skip
    curve, train_s = [], 0.0
    step = 0
    while True:
        t0 = time.perf_counter()
        result = train(life, run, cfg, progress=False, stop_after=step)
        train_s += time.perf_counter() - t0
        point = {"step": result.steps, "pairs_seen": result.pairs_seen, "train_seconds": round(train_s, 1),
                 "loss": result.final_loss, **score(result.model, ts)}  # fmt: skip
        curve.append(point)
        print(json.dumps({k: point[k] for k in ("step", "train_seconds", "swapped_minus_real")}
                         | {"moving_r1": point["masked"]["moving_r1"]}), flush=True)  # fmt: skip
        out["curve"] = curve
        args.out.write_text(json.dumps(out, indent=1))
        if result.steps >= result.total_steps:
            return out
        step = min(result.total_steps, step + args.every)


def main() -> None:
    from slife.align.testset import TestSet
    from slife.model.checkpoint import load_model, resolve_checkpoint

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="*", type=Path)
    ap.add_argument("--testset", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--train", nargs=2, type=Path, metavar=("LIFE", "RUN"), help="train in stretches and score each")
    ap.add_argument("--config", type=Path)
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--every", type=int, default=300)
    args = ap.parse_args()
    torch.set_num_threads(1)
    ts = TestSet.load(args.testset)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.train:
        _curve(args, ts)
        return
    models = {}
    for path in args.models:
        model, payload = load_model(resolve_checkpoint(path))
        models[str(path)] = {"step": payload.get("step"), "pairs_seen": payload.get("pairs_seen"), **score(model, ts)}
        print(path, json.dumps(models[str(path)]))
    out = {**baselines(ts, model.cfg), "models": models}
    args.out.write_text(json.dumps(out, indent=1))
    print(json.dumps({k: out[k] for k in ("chance", "identity", "pixel-match")}, indent=1))


if __name__ == "__main__":
    main()
