"""``slife pairs spatial | preview | export-frames``: precompute, inspect and prepare pairs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from slife.config import add_config_arguments


def _spatial(args: argparse.Namespace) -> int:
    from slife.config import load_config
    from slife.life import Life
    from slife.pairs.spatial import SpatialConfig, spatial_index

    life = Life.open(args.life_dir)
    base = {k: str(v) for k, v in (("colmap", args.colmap), ("names", args.names)) if v is not None}
    cfg = load_config(SpatialConfig, args.config, args.overrides, base=base)
    index = spatial_index(life, cfg, progress=not args.no_progress, rebuild=args.rebuild)
    stats = {"index": str(index.path) if index.path else None, "frames": len(life), **index.stats()}
    if args.json:
        print(json.dumps(stats, indent=1))
    else:
        q = ", ".join(f"{v:.3f}" for v in stats["jaccard_quantiles"]) or "-"
        print(f"index        {stats['index']}")
        print(f"pairs        {stats['pairs']} (Jaccard in [{cfg.lo}, {cfg.hi}])")
        print(f"frames       {stats['frames_with_pairs']} of {stats['frames']} have a partner")
        print(f"jaccard      mean {stats['jaccard_mean']:.3f}, 10/50/90% {q}")
        if stats["voxel"]:
            print(f"voxel        {stats['voxel']:.4g} m")
        print(f"max distance {stats['max_distance']:.4g}")
    return 0


def _preview(args: argparse.Namespace) -> int:
    import numpy as np
    from PIL import Image

    from slife.config import load_config
    from slife.life import Life
    from slife.model.config import ModelConfig
    from slife.pairs.augment import augment, read_resized, resize_side
    from slife.pairs.config import PairsConfig, build_sampler

    life = Life.open(args.life_dir)
    cfg = load_config(PairsConfig, args.config, args.overrides, base={"sampler": args.sampler})
    sampler = build_sampler(life, cfg, progress=True)
    rng = np.random.default_rng(args.seed)
    pairs = sampler.sample(args.n, rng)
    size = args.size if args.size is not None else ModelConfig().img_size
    rows = []
    for src, tgt in pairs:
        views = [read_resized(life, int(i), resize_side(size)) for i in (src, tgt)]
        if args.augment:
            views = [augment(v, size, rng, cfg.jitter) for v in views]
        else:
            views = [v[:size, :size] if min(v.shape[:2]) >= size else v for v in views]
            h = min(v.shape[0] for v in views)
            views = [v[:h] for v in views]
        gap = np.zeros((views[0].shape[0], 4, 3), np.uint8)
        rows.append(np.concatenate([views[0], gap, views[1]], axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, axis=0)).save(args.out)
    dt = life.timestamps[pairs[:, 1]] - life.timestamps[pairs[:, 0]]
    print(f"{args.out}: {len(pairs)} {sampler.name} pairs (source | target); |dt| median {np.median(np.abs(dt)):.2f} s")
    return 0


def _export(args: argparse.Namespace) -> int:
    from slife.life import Life

    life = Life.open(args.life_dir)
    args.out.mkdir(parents=True, exist_ok=True)
    count = 0
    for i in range(0, len(life), args.every):
        (args.out / f"{i:07d}.jpg").write_bytes(life.jpeg(i))
        count += 1
    print(f"{args.out}: {count} frames named <global frame index>.jpg (for COLMAP; slife pairs spatial --colmap)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``slife pairs ...`` to the top-level parser."""
    pairs = sub.add_parser("pairs", help="training pairs: precompute spatial pairs, preview samplers")
    psub = pairs.add_subparsers(dest="pairs_command", required=True)

    sp = psub.add_parser("spatial", help="precompute (or show) the spatial pair index of a life")
    sp.add_argument("life_dir", type=Path)
    sp.add_argument("--colmap", type=Path, default=None, help="COLMAP text model dir (cameras/images/points3D.txt)")
    sp.add_argument("--names", type=Path, default=None, help="file of 'IMAGE_NAME FRAME_INDEX' lines for --colmap")
    sp.add_argument("--rebuild", action="store_true", help="recompute even if a cached index exists")
    sp.add_argument("--json", action="store_true", help="print statistics as JSON")
    sp.add_argument("--no-progress", action="store_true")
    add_config_arguments(sp)  # SpatialConfig fields: lo, hi, voxel, grid, max_distance, max_angle
    sp.set_defaults(func=_spatial)

    pv = psub.add_parser("preview", help="save a grid of sampled pairs (source | target) as an image")
    pv.add_argument("life_dir", type=Path)
    pv.add_argument("--sampler", default="auto", help="auto, temporal, spatial, random, augmented or mix")
    pv.add_argument("--out", type=Path, required=True, help="output image (.png/.jpg)")
    pv.add_argument("-n", type=int, default=8, help="number of pairs")
    pv.add_argument("--size", type=int, default=None, help="crop size shown (default: the default model's img_size)")
    pv.add_argument("--augment", action="store_true", help="show the training augmentation (crop + jitter)")
    pv.add_argument("--seed", type=int, default=0)
    add_config_arguments(pv)  # PairsConfig fields, e.g. temporal.max_gap=2
    pv.set_defaults(func=_preview)

    ex = psub.add_parser("export-frames", help="write frames as <global index>.jpg, e.g. to run COLMAP on them")
    ex.add_argument("life_dir", type=Path)
    ex.add_argument("out", type=Path)
    ex.add_argument("--every", type=int, default=1, help="keep every k-th frame")
    ex.set_defaults(func=_export)
