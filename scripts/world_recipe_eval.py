"""Score world runs the way docs/results/world reports them (issue #10, part 3; slife.align.scorecard).

    python scripts/world_recipe_eval.py --testset T.npz --out R.json RUN_OR_CKPT...
    python scripts/world_recipe_eval.py --testset T.npz --out R.json --train LIFE RUN --config C.yaml \\
        [--set key=value ...] --every 300

The first form scores checkpoints. The second trains ``slife train LIFE --out RUN`` in stretches of
``--every`` steps and scores the model after each: a curve over pairs seen. For every model: top-1 GT
alignment (r0, r1; all and moving patches) read masked and unmasked and the source-use check, next
to identity, random init (same config), chance and pixel matching.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path


def main() -> None:
    import torch

    from slife.align.scorecard import baselines, score_model, training_curve
    from slife.align.testset import TestSet
    from slife.config import load_config, to_dict
    from slife.model.checkpoint import CheckpointMeta, load_model, resolve_checkpoint
    from slife.model.config import model_config
    from slife.train import TrainConfig

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
        life, run = args.train
        cfg = load_config(TrainConfig, args.config, args.set)
        out = {"config": to_dict(cfg), "life": str(life), "machine": {"cpu": platform.processor() or platform.machine(),
               "torch_threads": cfg.threads or torch.get_num_threads()},
               **baselines(ts, model_config(cfg.model.size, **cfg.model.overrides)), "curve": []}  # fmt: skip

        def report(point: dict) -> None:
            out["curve"].append(point)
            print(json.dumps({k: point[k] for k in ("step", "train_seconds", "swapped_minus_real")}
                             | {"moving_r1": point["masked"]["moving_r1"]}), flush=True)  # fmt: skip
            args.out.write_text(json.dumps(out, indent=1))

        training_curve(life, run, cfg, ts, args.every, report)
        return
    models, model = {}, None
    for path in args.models:
        ckpt = resolve_checkpoint(path)
        model, meta = load_model(ckpt)
        info = CheckpointMeta.of(meta, ckpt)
        models[str(path)] = {"step": info.step, "pairs_seen": info.pairs_seen, **score_model(model, ts)}
        print(path, json.dumps(models[str(path)]))
    if model is None:
        ap.error("name checkpoints to score, or --train LIFE RUN")
    out = {**baselines(ts, model.cfg), "models": models}
    args.out.write_text(json.dumps(out, indent=1))
    print(json.dumps({k: out[k] for k in ("chance", "identity", "pixel-match")}, indent=1))


if __name__ == "__main__":
    main()
