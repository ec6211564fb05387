"""Screen-recording-like video: the paper's second *non-life* control.

Flat 2D content seen through a fixed window that scrolls, pans and jumps; hard cuts switch between
apps. There is no 3D motion: every change between two frames of a segment is a whole-pixel
translation of the content. No depth or poses are written (so training uses temporal pairs). The
paper reports near-zero alignment for models trained on such video.

Two contents (``content``):

- ``apps`` (the default): documents, code, spreadsheets and photo viewers under fixed window chrome
  (title bar, scroll bar). Scored on the world's 3D places this also measures texture-domain transfer.
- ``world``: canvases made from the same world's texture pool (``build_texture_pool(seed)``, the one
  the lives are textured with): one material over the whole canvas (a wall, a floor), collages of
  panels of materials with the pool's photos pasted on them (posters, signs), or one of the pool's
  photos, materials repeated (mirrored, as the renderer does) at the scales they have in rendered
  frames and shaded like lit surfaces; no chrome. Only the 3D motion differs from the lives.

Everything is drawn with numpy from the seed (photos from scikit-image's training photos, never the
shift test's held-out ones), so a screen life is a pure function of its request, like a world life.
The segments between app cuts are listed in ``meta["clips"]`` (``video``, ``start``, ``end`` in
seconds of the video, ``app``), so temporal pairs never straddle a cut (``Life.segment_index``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from slife.life import LifeWriter, read_manifest
from slife.world.config import GENERATOR_VERSION, WorldConfig
from slife.world.textures import TexturePool

APPS = ("document", "code", "sheet", "photo")
WORLD_APPS = ("surface", "collage", "photo")  # the apps of content "world"
WORLD_APP_P = (0.25, 0.55, 0.2)  # mostly collages: a rendered frame shows several surfaces
CONTENTS = ("apps", "world")
CHROME = 0.06  # title bar height, as a fraction of the frame
# texture groups of the pool that cover surfaces (photos are pasted "once", like posters and signs)
MATERIALS = ("plaster", "tile", "wood", "brick", "stone", "metal", "pavers", "asphalt", "facade", "grass", "white")
# one texture repeat spans this fraction of the frame (log-uniform): a 1 m repeat seen 1.5-6 m away, a
# 3 m facade bay 8-20 m away, at the lives' 65-degree field of view
TEXTURE_SCALE = (0.12, 0.6)


def _document(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Dark 'words' in lines on a light page, with headings and paragraph gaps."""
    page = np.full((h, w, 3), rng.integers(230, 256, size=3), np.uint8)
    line = max(4, int(w * rng.uniform(0.035, 0.06)))
    ink = rng.integers(0, 70, size=3)
    y = line
    while y < h - line:
        if rng.random() < 0.08:  # paragraph gap
            y += line
            continue
        heading = rng.random() < 0.05
        height = int(line * (0.9 if heading else 0.55))
        x = int(w * 0.06)
        while x < w * 0.92:
            word = int(line * rng.uniform(0.8, 4.0) * (1.5 if heading else 1.0))
            page[y : y + height, x : min(x + word, int(w * 0.94))] = ink
            x += word + int(line * rng.uniform(0.4, 0.7))
        y += int(line * (1.8 if heading else 1.3))
    return page


def _code(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Coloured tokens on a dark editor, indented blocks, a line-number gutter."""
    page = np.full((h, w, 3), rng.integers(20, 45, size=3), np.uint8)
    line = max(4, int(w * rng.uniform(0.03, 0.05)))
    colours = rng.integers(90, 256, size=(6, 3))
    gutter = int(w * 0.08)
    page[:, :gutter] = page[0, 0] + 12
    indent = 0
    for y in range(line, h - line, int(line * 1.4)):
        indent = int(np.clip(indent + rng.integers(-1, 2), 0, 5))
        page[y : y + line // 2, gutter // 4 : gutter // 4 + line] = 120  # line number
        x = gutter + line + indent * 2 * line
        for _ in range(int(rng.integers(0, 7))):
            token = int(line * rng.uniform(1.0, 5.0))
            page[y : y + int(line * 0.6), x : min(x + token, w - 2)] = colours[int(rng.integers(6))]
            x += token + line // 2
            if x > w * 0.95:
                break
    return page


def _sheet(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A spreadsheet: grid lines, a header row, numbers as small blocks in the cells."""
    page = np.full((h, w, 3), 255, np.uint8)
    cell_h, cell_w = max(5, int(w * rng.uniform(0.04, 0.06))), max(12, int(w * rng.uniform(0.12, 0.2)))
    page[:cell_h] = rng.integers(180, 230, size=3)
    for y in range(0, h, cell_h):
        page[y] = 200
        for x in range(0, w, cell_w):
            page[:, x] = 200
            if y > 0 and rng.random() < 0.7:
                digits = int(cell_w * rng.uniform(0.2, 0.8))
                page[y + cell_h // 3 : y + 2 * cell_h // 3, x + cell_w - 3 - digits : x + cell_w - 3] = 40
    return page


def _photo(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A photo viewer: one of the training photos scaled to the canvas, on grey."""
    from PIL import Image

    from slife.pairs.photos import TRAIN_PHOTOS, load_photo

    photo = load_photo(TRAIN_PHOTOS[int(rng.integers(len(TRAIN_PHOTOS)))])
    img = np.asarray(Image.fromarray(photo).resize((w, h), Image.BILINEAR))
    return img


DRAW: dict[str, Callable[[np.random.Generator, int, int], np.ndarray]] = {
    "document": _document, "code": _code, "sheet": _sheet, "photo": _photo,
}  # fmt: skip


def _resized(img: np.ndarray, w: int, h: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(img).resize((max(1, w), max(1, h)), Image.BILINEAR))  # antialiased


def _repeat(layer: np.ndarray, rng: np.random.Generator, size: int, w: int, h: int) -> np.ndarray:
    """(h, w, 3) of ``layer`` repeated with mirroring (the renderer's mirrored repeat: seamless for
    photos too), one repeat spanning a log-uniform ``TEXTURE_SCALE`` fraction of the frame side."""
    lo, hi = np.log(TEXTURE_SCALE[0]), np.log(TEXTURE_SCALE[1])
    period = max(2, int(round(size * float(np.exp(rng.uniform(lo, hi))))))
    t = _resized(layer, period, period)
    block = np.concatenate([np.concatenate([t, t[:, ::-1]], 1), np.concatenate([t[::-1], t[::-1, ::-1]], 1)], 0)
    oy, ox = (int(v) for v in rng.integers(0, 2 * period, size=2))
    reps = ((h + oy) // (2 * period) + 1, (w + ox) // (2 * period) + 1, 1)
    return np.tile(block, reps)[oy : oy + h, ox : ox + w]


def _lit(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``img`` as a lit surface: a brightness (and slight colour) of daylight and lamps."""
    gain = rng.uniform(0.55, 1.05) * (1.0 + rng.uniform(-0.06, 0.06, size=3))
    return np.clip(img.astype(np.float32) * gain.astype(np.float32), 0, 255).astype(np.uint8)


def _material(rng: np.random.Generator, pool: TexturePool, size: int, w: int, h: int) -> np.ndarray:
    group = MATERIALS[int(rng.integers(len(MATERIALS)))]
    return _lit(_repeat(pool.layers[pool.pick(rng, group)], rng, size, w, h), rng)


def _surface(rng: np.random.Generator, pool: TexturePool, size: int, w: int, h: int) -> np.ndarray:
    """One material over the whole canvas: a wall or a floor seen face-on."""
    return _material(rng, pool, size, w, h)


def _collage(rng: np.random.Generator, pool: TexturePool, size: int, w: int, h: int) -> np.ndarray:
    """Bands of panels of materials (walls, cabinets, floors, facades laid flat), with the pool's
    photos pasted on them at poster and sign sizes."""
    canvas = np.empty((h, w, 3), np.uint8)
    y = 0
    while y < h:
        bh = min(h - y, max(2, int(size * rng.uniform(0.25, 1.2))))
        x = 0
        while x < w:
            pw = min(w - x, max(2, int(size * rng.uniform(0.25, 1.5))))
            canvas[y : y + bh, x : x + pw] = _material(rng, pool, size, pw, bh)
            x += pw
        y += bh
    for _ in range(int(rng.poisson(rng.uniform(0.3, 1.0) * w * h / size**2))):
        pw = max(2, int(size * rng.uniform(0.1, 0.45)))
        ph = min(h, max(2, int(pw * rng.uniform(0.7, 1.4))))
        pw = min(w, pw)
        py, px = int(rng.integers(0, h - ph + 1)), int(rng.integers(0, w - pw + 1))
        canvas[py : py + ph, px : px + pw] = _lit(_resized(pool.layers[pool.pick(rng, "photo")], pw, ph), rng)
    return canvas


def _pool_photo(rng: np.random.Generator, pool: TexturePool, size: int, w: int, h: int) -> np.ndarray:
    """A photo viewer on one of the pool's photos."""
    return _lit(_resized(pool.layers[pool.pick(rng, "photo")], w, h), rng)


WORLD_DRAW: dict[str, Callable[[np.random.Generator, TexturePool, int, int, int], np.ndarray]] = {
    "surface": _surface, "collage": _collage, "photo": _pool_photo,
}  # fmt: skip


def _viewport_path(rng: np.random.Generator, frames: int, fps: float, span_y: int, span_x: int, size: int) -> np.ndarray:
    """(frames, 2) integer (y, x) window positions: pauses, scrolls at up to ~1 screen/s, and jumps."""
    pos = np.zeros((frames, 2), np.int64)
    y = float(rng.uniform(0, span_y))
    x = float(rng.uniform(0, span_x))
    vy = vx = 0.0
    for k in range(frames):
        r = rng.random()
        if r < 0.25:  # stop (reading)
            vy = vx = 0.0
        elif r < 0.55:  # scroll
            vy = float(rng.uniform(-0.3, 1.0)) * size / fps
            vx = float(rng.uniform(-0.3, 0.3)) * size / fps if span_x else 0.0
        elif r < 0.6:  # jump (page down / search)
            y, vy = float(rng.uniform(0, span_y)), 0.0
        y, x = float(np.clip(y + vy, 0, span_y)), float(np.clip(x + vx, 0, span_x))
        pos[k] = (round(y), round(x))
    return pos


def _chrome(frame: np.ndarray, colour: np.ndarray, progress: float) -> None:
    """Window chrome that never moves: a title bar and a scroll bar with its thumb at ``progress``."""
    s = frame.shape[0]
    bar = max(2, int(s * CHROME))
    frame[:bar] = colour
    frame[:bar, -3 * bar :] = colour // 2  # buttons
    track = max(2, s // 40)
    frame[bar:, -track:] = 225
    thumb = bar + int(progress * (s - bar - s // 6))
    frame[thumb : thumb + s // 6, -track:] = 150


def _plan(seed: int, total: int, fps: float, size: int, seconds: tuple[float, float], content: str,
          pool: TexturePool | None):
    """Yield (app, frames, canvas() -> (h, w, 3) uint8, (n, 2) window path, chrome colour or None) per
    segment until ``total`` frames. Content ``world`` draws its canvas only when ``canvas()`` is called."""
    if content not in CONTENTS:
        raise ValueError(f"content {content!r}: must be one of {', '.join(CONTENTS)}")
    if content == "world" and pool is None:
        raise ValueError("content 'world' needs the world's texture pool")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5C2E]))
    left = total
    while left > 0:
        n = min(left, max(1, int(round(rng.uniform(*seconds) * fps))))
        if content == "apps":
            app = APPS[int(rng.integers(len(APPS)))]
            zoom = float(rng.uniform(1.0, 1.6))
            w = int(size * zoom)
            h = int(size * rng.uniform(3.0, 8.0)) if app != "photo" else int(w * rng.uniform(1.0, 1.5))
            canvas = DRAW[app](rng, w, h)
            path = _viewport_path(rng, n, fps, h - size, w - size, size)
            colour = rng.integers(40, 200, size=3).astype(np.uint8)
            yield app, n, (lambda c=canvas: c), path, colour
        else:
            app = WORLD_APPS[int(rng.choice(len(WORLD_APPS), p=WORLD_APP_P))]
            w = int(size * rng.uniform(1.0, 1.6))
            h = int(size * rng.uniform(3.0, 8.0)) if app != "photo" else int(w * rng.uniform(1.0, 1.5))
            sub = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5C30, int(rng.integers(2**31))]))
            path = _viewport_path(rng, n, fps, h - size, w - size, size)
            draw = WORLD_DRAW[app]
            yield app, n, (lambda d=draw, r=sub, w=w, h=h: d(r, pool, size, w, h)), path, None
        left -= n


def screen_segments(
    seed: int,
    total: int,
    fps: float,
    size: int,
    seconds: tuple[float, float] = (5.0, 40.0),
    content: str = "apps",
    pool: TexturePool | None = None,
):
    """Yield (app, frames (n, size, size, 3) uint8) segments until ``total`` frames: hard cuts between.
    ``content`` ``world`` draws from ``pool`` (the world's texture pool) and has no window chrome."""
    for app, n, canvas_of, path, colour in _plan(seed, total, fps, size, seconds, content, pool):
        canvas = canvas_of()
        h = canvas.shape[0]
        frames = np.empty((n, size, size, 3), np.uint8)
        for k, (y, x) in enumerate(path):
            frames[k] = canvas[y : y + size, x : x + size]
            if colour is not None:
                _chrome(frames[k], colour, y / max(1, h - size))
        yield app, frames


def _clips(seed: int, counts: list[int], fps: float, size: int, content: str, pool: TexturePool | None) -> list[dict[str, Any]]:
    """``meta["clips"]``: each segment between app cuts as {video, start, end (s of the video), app}."""
    clips = []
    for order, n in enumerate(counts):
        t = 0
        for app, m, *_ in _plan(seed * 1000 + order, n, fps, size, (5.0, 40.0), content, pool):
            clips.append({"video": order, "start": t / fps, "end": (t + m) / fps, "app": app})
            t += m
    return clips


def _compatible(out: Path, request: dict[str, Any]) -> dict[str, Any]:
    """``request`` as a life rendered before requests had ``content`` recorded it: such a life is
    content ``apps`` (the frames are the same), so it still resumes."""
    manifest = read_manifest(out)
    old = manifest.meta.get("request") if manifest is not None else None
    if request.get("content") == "apps" and isinstance(old, dict) and "content" not in old:
        return {k: v for k, v in request.items() if k != "content"}
    return request


def make_screen(
    out_dir: str | Path,
    minutes: float = 10.0,
    fps: float = 2.0,
    seed: int = 0,
    size: int = 256,
    progress: bool = True,
    content: str = "apps",
) -> Path:
    """Render a screen-recording-like non-life control (kind ``screen``) into ``out_dir``; videos of
    2-4 minutes. ``content``: ``apps`` (documents, code, sheets, photos) or ``world`` (the texture pool
    of world ``seed``). Re-running the same request is a no-op; a different one is refused."""
    from tqdm import tqdm

    from slife.errors import SlifeError
    from slife.world.requests import check_render_args, normalise_request, prepare_output, split_frames
    from slife.world.textures import build_texture_pool

    check_render_args(minutes, fps, size)
    if content not in CONTENTS:
        raise SlifeError(f"--content {content!r}: must be one of {', '.join(CONTENTS)}")
    out = Path(out_dir)
    request = normalise_request({"generator": GENERATOR_VERSION, "kind": "screen", "seed": int(seed), "minutes": float(minutes),
                          "fps": float(fps), "size": int(size), "content": content})  # fmt: skip
    done = prepare_output(out, _compatible(out, request))
    total = max(1, int(round(minutes * 60 * fps)))
    counts = split_frames(total, np.random.default_rng([int(seed), 0x5C2F]), 120 * fps, 240 * fps)
    pool = build_texture_pool(seed, WorldConfig().texture_size) if content == "world" else None
    meta: dict[str, Any] = {"generator": GENERATOR_VERSION, "world_seed": int(seed), "image": f"square {size}x{size}",
                            "content": content, "apps": list(APPS if content == "apps" else WORLD_APPS),
                            "request": request}  # fmt: skip
    if not done:  # a life being started (a resumed one keeps the meta it was started with)
        meta["clips"] = _clips(seed, counts, fps, size, content, pool)
    writer = LifeWriter(out, name=out.name, fps=fps, short_side=size, kind="screen", meta=meta)
    with writer, tqdm(total=total, unit="frame", disable=not progress, desc="screen") as bar:
        for order, n in enumerate(counts):
            if order in done:
                bar.update(n)
                continue
            with writer.open_shard(f"screen-video{order:03d}", order) as shard:
                k = 0
                for _, frames in screen_segments(seed * 1000 + order, n, fps, size, content=content, pool=pool):
                    for frame in frames:
                        shard.add(frame, k / fps)
                        k += 1
                    bar.update(len(frames))
                writer.add_video(shard, source=f"screen-video{order:03d}", order=order, duration=n / fps,
                                 fingerprint=GENERATOR_VERSION)  # fmt: skip
    return out
