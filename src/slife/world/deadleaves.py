"""The shift-only null: a "life" of independent dead-leaves images (kind ``deadleaves``).

Each frame is a dead-leaves image: opaque discs of random colours, radii drawn from a power law
p(r) ~ r^-3 between 1 % (at least a pixel) and 40 % of the side, fall one behind the other until they cover the image
(drawn front to back: a disc only fills what the discs before it left uncovered), each with a faint
texture of its own (a low-contrast grating). Frames are unrelated to each other and to any 3D scene:
no depth, no poses. Training on it with ``data.shifted.share=1.0`` gives the "shift-only model on
unrelated images" null. Numpy only; each frame has its own seed, so frames are deterministic and
any video can be redone alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from slife.life import LifeWriter
from slife.world.config import GENERATOR_VERSION

RADIUS = (0.01, 0.4)  # disc radii as fractions of the image side
POWER = 3.0  # p(r) ~ r^-POWER
TEXTURE = 12.0  # amplitude of the per-disc grating (of 255)
VIDEO_SECONDS = 60.0
_BATCH = 512  # discs drawn per round
_SALT = 0xDEAD1EAF


def _radii(rng: np.random.Generator, n: int, r_min: float, r_max: float) -> np.ndarray:
    """``n`` radii with density ~ r^-3 on [r_min, r_max] (inverse CDF)."""
    a, b = r_min ** (1 - POWER), r_max ** (1 - POWER)
    return (a + rng.random(n) * (b - a)) ** (1 / (1 - POWER))


def deadleaves_image(seed: int, index: int, size: int) -> np.ndarray:
    """Frame ``index`` of dead-leaves seed ``seed``: (size, size, 3) uint8 RGB."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), _SALT, int(index)]))
    r_min, r_max = max(RADIUS[0] * size, 1.0), RADIUS[1] * size  # no disc below a pixel
    label = np.full((size, size), -1, np.int64)  # which disc shows at each pixel (-1: none yet)
    radii, centres = [], []
    count = 0
    while True:
        # centres cover the image and a margin of r_max, so borders see the same statistics as the middle
        r = _radii(rng, _BATCH, r_min, r_max)
        c = rng.uniform(-r_max, size + r_max, size=(_BATCH, 2))
        radii.append(r)
        centres.append(c)
        for k in range(_BATCH):
            (cx, cy), rk = c[k], r[k]
            x0, x1 = max(0, int(cx - rk)), min(size, int(cx + rk) + 2)
            y0, y1 = max(0, int(cy - rk)), min(size, int(cy + rk) + 2)
            if x0 >= x1 or y0 >= y1:
                continue
            box = label[y0:y1, x0:x1]
            ys, xs = np.ogrid[y0:y1, x0:x1]
            hit = ((xs + 0.5 - cx) ** 2 + (ys + 0.5 - cy) ** 2 <= rk * rk) & (box < 0)
            box[hit] = count + k
        count += _BATCH
        if (label >= 0).all():
            break
    r_all, c_all = np.concatenate(radii), np.concatenate(centres)
    colour = rng.uniform(0, 255, size=(count, 3))
    theta = rng.uniform(0, np.pi, count)
    period = r_all * rng.uniform(0.3, 1.0, count)  # a few stripes per disc, whatever its size
    phase = rng.uniform(0, 2 * np.pi, count)
    amp = TEXTURE * rng.uniform(0.0, 1.0, count)
    ys, xs = np.mgrid[0:size, 0:size] + 0.5
    u = (xs - c_all[label, 0]) * np.cos(theta[label]) + (ys - c_all[label, 1]) * np.sin(theta[label])
    shade = amp[label] * np.sin(2 * np.pi * u / period[label] + phase[label])
    return np.clip(np.round(colour[label] + shade[..., None]), 0, 255).astype(np.uint8)


def make_deadleaves(
    out_dir: str | Path,
    minutes: float = 10.0,
    fps: float = 2.0,
    seed: int = 0,
    size: int = 256,
    progress: bool = True,
    workers: int = 0,
) -> Path:
    """Write ``minutes`` of independent dead-leaves frames as a life (kind ``deadleaves``, no depth, no
    poses) in videos of about a minute. Same arguments -> byte-identical frames, whatever ``workers``
    (processes drawing frames; 0 = one per core, 1 = this process); an identical request on an existing
    life only finishes missing videos; anything else in ``out_dir`` is refused."""
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor
    from contextlib import nullcontext

    from tqdm import tqdm

    from slife.world.requests import check_render_args, normalise_request, prepare_output

    check_render_args(minutes, fps, size)
    out = Path(out_dir)
    request = normalise_request({"generator": GENERATOR_VERSION, "kind": "deadleaves", "seed": int(seed),
                          "minutes": float(minutes), "fps": float(fps), "size": int(size)})  # fmt: skip
    done = prepare_output(out, request)
    total = max(1, int(round(minutes * 60 * fps)))
    per_video = max(1, int(round(VIDEO_SECONDS * fps)))
    counts = [per_video] * (total // per_video)
    rest = total - sum(counts)
    if rest and counts and rest < per_video / 2:
        counts[-1] += rest  # a short rest joins the last video
    elif rest:
        counts.append(rest)
    meta: dict[str, Any] = {"generator": GENERATOR_VERSION, "seed": int(seed), "image": f"square {size}x{size}",
                            "radius": list(RADIUS), "power": POWER, "texture": TEXTURE, "request": request}
    writer = LifeWriter(out, name=out.name, fps=fps, short_side=size, kind="deadleaves", meta=meta)
    first = np.cumsum([0] + counts)
    n_workers = workers if workers > 0 else min(8, os.cpu_count() or 1)
    pool = (ProcessPoolExecutor(n_workers, mp_context=multiprocessing.get_context("spawn")) if n_workers > 1
            else nullcontext())  # spawn: the parent may hold torch's threads  # fmt: skip
    with pool as executor, writer, tqdm(total=total, unit="frame", disable=not progress, desc="dead leaves") as bar:
        for order, n in enumerate(counts):
            if order in done:
                bar.update(n)
                continue
            source = f"deadleaves-video{order:03d}"
            index = [int(first[order]) + k for k in range(n)]
            frames = (executor.map(deadleaves_image, [seed] * n, index, [size] * n, chunksize=4) if executor
                      else (deadleaves_image(seed, i, size) for i in index))  # fmt: skip
            with writer.open_shard(source, order) as shard:
                for k, frame in enumerate(frames):
                    shard.add(frame, k / fps)
                    bar.update(1)
                writer.add_video(shard, source=source, order=order, duration=n / fps, fingerprint=GENERATOR_VERSION)
    return out
