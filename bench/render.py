"""Benchmark the synthetic-world renderer: render-only and end-to-end (render + JPEG/PNG encode + write).

    python bench/render.py [--size 256] [--frames 300] [--minutes 2]

Target (issue 3): >= 50 frames/s rendered at 256 px on 2 CPU cores (Mesa llvmpipe).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

TARGET_FPS = 50.0


def render_only(family: str, size: int, frames: int) -> tuple[float, float]:
    """(frames/s wall clock, CPU ms per frame summed over all threads of this process)."""
    from slife.world.config import WorldConfig
    from slife.world.families import make_layout, place_rng
    from slife.world.path import Person, Planner, walk_track
    from slife.world.render import Renderer, lighting
    from slife.world.scene import box_mesh
    from slife.world.textures import build_texture_pool

    cfg = WorldConfig()
    pool = build_texture_pool(0, cfg.texture_size)
    layout = make_layout(0, family, 1, pool)
    rng = place_rng(0, family, 1, 1)
    track = walk_track(layout, Planner(layout), rng, cfg, Person.draw(rng, cfg), frames / 2.0, 0,
                       np.zeros(len(layout.pois), np.int64))
    poses = track.poses(np.arange(frames) / 2.0)
    light = lighting(11.0, layout.outdoor, layout.lamps, cfg.street_fog)
    with Renderer(size, pool, cfg.hfov_deg, cfg.far) as r:
        r.set_scene(*box_mesh(layout.boxes))
        r.render(poses[0], light)  # compile shaders, upload
        t0, c0 = time.perf_counter(), time.process_time()
        for p in poses:
            r.render(p, light)
        return frames / (time.perf_counter() - t0), (time.process_time() - c0) / frames * 1e3


def end_to_end(life: str, size: int, minutes: float) -> tuple[float, float, int]:
    from slife.life import Life
    from slife.world import make_life

    with tempfile.TemporaryDirectory() as tmp:
        t0, c0 = time.perf_counter(), time.process_time()
        out = make_life(os.path.join(tmp, life), life, minutes=minutes, fps=2.0, seed=0, size=size, progress=False)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        n = len(Life.open(out))
    return n / dt, cpu / n * 1e3, n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--frames", type=int, default=300, help="frames per render-only measurement")
    ap.add_argument("--minutes", type=float, default=2.0, help="minutes per end-to-end life (2 fps)")
    args = ap.parse_args()
    print(f"cpus: {os.cpu_count()}  LP_NUM_THREADS={os.environ.get('LP_NUM_THREADS', '(default)')}  "
          f"load avg: {os.getloadavg()[0]:.1f}")
    print(f"{'measurement':<34}{'frames':>8}{'frames/s':>10}{'CPU ms/frame':>14}")
    worst = float("inf")
    for family in ("kitchen", "street"):
        fps, cpu = render_only(family, args.size, args.frames)
        worst = min(worst, fps)
        print(f"{'render only  ' + family + f' {args.size}px':<34}{args.frames:>8}{fps:>10.1f}{cpu:>14.1f}")
    for life in ("kitchen-1", "street-1"):
        fps, cpu, n = end_to_end(life, args.size, args.minutes)
        print(f"{'end to end   ' + life + f' {args.size}px':<34}{n:>8}{fps:>10.1f}{cpu:>14.1f}")
    print("(CPU ms/frame sums all threads: with 2 idle cores, frames/s is between 1000/cpu and 2000/cpu)")
    ok = worst >= TARGET_FPS
    print(f"{'PASS' if ok else 'FAIL'}: render-only {worst:.1f} frames/s (worst family) vs target {TARGET_FPS:.0f}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
