"""Score world runs the way docs/results/world reports them (issue #10, part 3).

    python scripts/world_recipe_eval.py --testset T.npz --out R.json RUN_OR_CKPT...

For every checkpoint: top-1 GT alignment (r0, r1; all and moving patches) read masked and unmasked,
the source-use control (masked loss with the right source, another pair's, noise), next to identity,
random init (same config), chance and a non-learned pixel-matching baseline (each target patch's
nearest source patch in mean absolute RGB difference).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch


def pixel_match_top1(ts) -> np.ndarray:
    """(P, N): index of the source patch closest to each target patch in mean absolute RGB difference."""
    g, p = ts.grid, ts.patch_size

    def patches(im: np.ndarray) -> np.ndarray:
        return im.reshape(g, p, g, p, 3).transpose(0, 2, 1, 3, 4).reshape(g * g, -1).astype(np.float32)

    return np.stack([np.abs(patches(s)[None] - patches(t)[:, None]).mean(-1).argmin(1) for s, t in zip(ts.src, ts.tgt)])


def main() -> None:
    from slife.align.analysis import gt_chance, gt_scores, rank
    from slife.align.controls import source_use
    from slife.align.sources import IdentitySource, ReadProtocol, model_attention, random_init_source
    from slife.align.testset import TestSet
    from slife.model.checkpoint import load_model, resolve_checkpoint

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--testset", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    ts = TestSet.load(args.testset)
    radii = (0, 1)
    protos = {"masked": ReadProtocol("masked", 8, 0), "unmasked": ReadProtocol("unmasked")}
    out = {"testset": ts.summary(), "chance": gt_chance(ts, radii),
           "identity": gt_scores(rank(IdentitySource().attention(ts), 1), ts, radii)}  # fmt: skip
    top1 = torch.as_tensor(pixel_match_top1(ts))
    out["pixel-match"] = gt_scores(rank(torch.nn.functional.one_hot(top1, ts.num_patches).float(), 1), ts, radii)
    models = {}
    for path in args.models:
        model, payload = load_model(resolve_checkpoint(path))
        entry = {"step": payload.get("step"), "pairs_seen": payload.get("pairs_seen"), **source_use(model, ts, 0)}
        for name, proto in protos.items():
            entry[name] = gt_scores(rank(model_attention(model, ts, protocol=proto), 1), ts, radii)
        models[str(path)] = entry
        print(path, json.dumps(entry))
    rnd = random_init_source(model.cfg, seed=12345)
    out["random-init"] = {name: gt_scores(rank(model_attention(rnd.model, ts, protocol=p), 1), ts, radii)
                          for name, p in protos.items()}  # fmt: skip
    out["random-init"].update(source_use(rnd.model, ts, 0))
    out["models"] = models
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(json.dumps({k: out[k] for k in ("chance", "identity", "pixel-match")}, indent=1))


if __name__ == "__main__":
    main()
