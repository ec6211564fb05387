"""Screen-recording-like video: the paper's second *non-life* control.

Flat 2D content (documents, code, spreadsheets, photo viewers) seen through a fixed window that
scrolls, pans and jumps; hard cuts switch between apps. There is no 3D motion: every change between
two frames of a segment is a whole-pixel translation of the content under fixed window chrome (title
bar, scroll bar). No depth or poses are written (so training uses temporal pairs). The paper reports
near-zero alignment for models trained on such video.

Everything is drawn with numpy from the seed (photos from scikit-image's training photos, never the
shift test's held-out ones), so a screen life is a pure function of its request, like a world life.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from slife.life import LifeWriter
from slife.world.config import GENERATOR_VERSION

APPS = ("document", "code", "sheet", "photo")
CHROME = 0.06  # title bar height, as a fraction of the frame


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

    from slife.diagnose.photos import TRAIN_PHOTOS, load_photo

    photo = load_photo(TRAIN_PHOTOS[int(rng.integers(len(TRAIN_PHOTOS)))])
    img = np.asarray(Image.fromarray(photo).resize((w, h), Image.BILINEAR))
    return img


DRAW: dict[str, Callable[[np.random.Generator, int, int], np.ndarray]] = {
    "document": _document, "code": _code, "sheet": _sheet, "photo": _photo,
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


def screen_segments(seed: int, total: int, fps: float, size: int, seconds: tuple[float, float] = (5.0, 40.0)):
    """Yield (app, frames (n, size, size, 3) uint8) segments until ``total`` frames: hard cuts between."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5C2E]))
    left = total
    while left > 0:
        n = min(left, max(1, int(round(rng.uniform(*seconds) * fps))))
        app = APPS[int(rng.integers(len(APPS)))]
        zoom = float(rng.uniform(1.0, 1.6))
        w = int(size * zoom)
        h = int(size * rng.uniform(3.0, 8.0)) if app != "photo" else int(w * rng.uniform(1.0, 1.5))
        canvas = DRAW[app](rng, w, h)
        path = _viewport_path(rng, n, fps, h - size, w - size, size)
        colour = rng.integers(40, 200, size=3).astype(np.uint8)
        frames = np.empty((n, size, size, 3), np.uint8)
        for k, (y, x) in enumerate(path):
            frames[k] = canvas[y : y + size, x : x + size]
            _chrome(frames[k], colour, y / max(1, h - size))
        yield app, frames
        left -= n


def make_screen(
    out_dir: str | Path, minutes: float = 10.0, fps: float = 2.0, seed: int = 0, size: int = 256, progress: bool = True
) -> Path:
    """Render a screen-recording-like non-life control (kind ``screen``) into ``out_dir``; videos of
    2-4 minutes. Re-running the same request is a no-op; a different one is refused."""
    from tqdm import tqdm

    from slife.world.generate import _check_args, _normalise, _prepare, _split

    _check_args(minutes, fps, size)
    out = Path(out_dir)
    request = _normalise({"generator": GENERATOR_VERSION, "kind": "screen", "seed": int(seed), "minutes": float(minutes),
                          "fps": float(fps), "size": int(size)})  # fmt: skip
    done = _prepare(out, request)
    total = max(1, int(round(minutes * 60 * fps)))
    counts = _split(total, np.random.default_rng([int(seed), 0x5C2F]), 120 * fps, 240 * fps)
    meta: dict[str, Any] = {"generator": GENERATOR_VERSION, "world_seed": int(seed), "image": f"square {size}x{size}",
                            "apps": list(APPS), "request": request}  # fmt: skip
    writer = LifeWriter(out, name=out.name, fps=fps, short_side=size, kind="screen", meta=meta)
    with writer, tqdm(total=total, unit="frame", disable=not progress, desc="screen") as bar:
        for order, n in enumerate(counts):
            if order in done:
                bar.update(n)
                continue
            with writer.open_shard(f"screen-video{order:03d}", order) as shard:
                k = 0
                for _, frames in screen_segments(seed * 1000 + order, n, fps, size):
                    for frame in frames:
                        shard.add(frame, k / fps)
                        k += 1
                    bar.update(len(frames))
                writer.add_video(shard, source=f"screen-video{order:03d}", order=order, duration=n / fps,
                                 fingerprint=GENERATOR_VERSION)  # fmt: skip
    return out
