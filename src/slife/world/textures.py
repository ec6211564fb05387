"""The world's texture pool: real photographs shipped with scikit-image plus procedural materials.

Every texture is an S x S x 3 uint8 layer of one texture array. Procedural textures tile
seamlessly; the renderer mirrors UVs, so photographs tile without seams too. The world seed fixes
the pool (crops, tints, procedural parameters); places pick materials from it by category.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

# Photographs in scikit-image's own data directory (no download needed).
COLOR_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry",
                "stereo_motorcycle", "retina", "colorwheel")
GRAY_PHOTOS = ("brick", "grass", "gravel", "camera", "moon", "coins", "clock", "text", "page", "cell")


@dataclass
class TexturePool:
    layers: np.ndarray  # (L, S, S, 3) uint8
    groups: dict[str, list[int]] = field(default_factory=dict)  # category -> layer indices

    def pick(self, rng: np.random.Generator, group: str) -> int:
        return int(rng.choice(self.groups[group]))


def _load_photo(name: str) -> np.ndarray:
    from skimage import data

    img = getattr(data, name)()
    if isinstance(img, tuple):  # stereo pairs
        img = img[0]
    img = np.asarray(img)
    if img.dtype != np.uint8:
        img = (np.clip(img, 0, 1) * 255).astype(np.uint8) if img.dtype.kind == "f" else img.astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return img[:, :, :3]


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(img).resize((size, size), Image.BILINEAR))


def _photo_crop(img: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    side = int(min(h, w) * rng.uniform(0.55, 1.0))
    y0, x0 = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    crop = _resize(np.ascontiguousarray(img[y0 : y0 + side, x0 : x0 + side]), size)
    return np.ascontiguousarray(crop[:, ::-1]) if rng.random() < 0.5 else crop  # upright, maybe mirrored


def _tint(gray_rgb: np.ndarray, color: np.ndarray, contrast: float = 1.0) -> np.ndarray:
    g = gray_rgb.astype(np.float32).mean(axis=2, keepdims=True) / 255.0
    g = 0.5 + (g - 0.5) * contrast
    return np.clip(g * color[None, None, :] * 255.0 * 1.6, 0, 255).astype(np.uint8)


def _spectral(rng: np.random.Generator, size: int, amplitude) -> np.ndarray:
    """Tileable noise in [0, 1]: white noise shaped in the Fourier domain by ``amplitude(radius)``."""
    white = np.fft.rfft2(rng.standard_normal((size, size)).astype(np.float32))
    fy = np.fft.fftfreq(size)[:, None] * size
    fx = np.fft.rfftfreq(size)[None, :] * size
    out = np.fft.irfft2(white * amplitude(np.sqrt(fx**2 + fy**2)), s=(size, size)).astype(np.float32)
    return (out - out.min()) / max(float(out.max() - out.min()), 1e-6)


def noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Tileable smooth noise in [0, 1] with features about ``size / cells`` pixels wide."""
    return _spectral(rng, size, lambda r: np.exp(-((r / max(cells, 1)) ** 2)))


def fbm(rng: np.random.Generator, size: int, base: int = 4, octaves: int = 5) -> np.ndarray:
    """Tileable fractal (1/f) noise in [0, 1], from ``base`` cycles per tile over ``octaves`` octaves."""
    top = base * 2.0**octaves
    return _spectral(rng, size, lambda r: np.where(r <= top, 1.0 / np.maximum(r, base / 2.0), 0.0))


def _colorize(v: np.ndarray, c0: np.ndarray, c1: np.ndarray) -> np.ndarray:
    rgb = c0[None, None, :] * (1 - v[..., None]) + c1[None, None, :] * v[..., None]
    return np.clip(rgb * 255.0, 0, 255).astype(np.uint8)


def _rand_color(rng: np.random.Generator, lo: float = 0.2, hi: float = 0.9) -> np.ndarray:
    """A random colour of moderate saturation (real interiors and facades are rarely neon)."""
    c = rng.uniform(lo, hi, 3)
    return (c.mean() + (c - c.mean()) * rng.uniform(0.3, 0.7)).astype(np.float32)


def wood(rng: np.random.Generator, size: int) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    warp = noise(rng, size, 3)
    rings = int(rng.integers(6, 20))
    v = 0.5 + 0.5 * np.sin(2 * np.pi * (rings * x + 2.0 * warp))  # integer rings -> tileable
    grain = noise(rng, size, min(size, 64))
    v = np.clip(0.6 * v + 0.25 * grain + 0.15 * warp, 0, 1)
    base = np.array([0.55, 0.35, 0.18], np.float32) * rng.uniform(0.6, 1.3)
    return _colorize(v, base * 0.6, np.minimum(base * 1.35, 1.0))


def tiles(rng: np.random.Generator, size: int) -> np.ndarray:
    n = int(rng.choice([2, 4, 8]))
    step = size // n
    c = _rand_color(rng, 0.3, 0.95)
    out = np.empty((size, size, 3), np.float32)
    for i in range(n):
        for j in range(n):
            out[i * step : (i + 1) * step, j * step : (j + 1) * step] = c * rng.uniform(0.85, 1.1)
    out *= (0.85 + 0.3 * fbm(rng, size, 8, 4))[..., None]
    grout = max(1, step // 16)
    y, x = np.mgrid[0:size, 0:size]
    line = ((y % step) < grout) | ((x % step) < grout)
    out[line] = _rand_color(rng, 0.2, 0.8) * 0.7
    return np.clip(out * 255, 0, 255).astype(np.uint8)


def plaster(rng: np.random.Generator, size: int) -> np.ndarray:
    c = _rand_color(rng, 0.45, 0.95)
    v = fbm(rng, size, 4, 6)
    return _colorize(v, c * 0.8, np.minimum(c * 1.1, 1.0))


def asphalt(rng: np.random.Generator, size: int) -> np.ndarray:
    g = rng.uniform(0.18, 0.35)
    v = 0.6 * fbm(rng, size, 8, 5) + 0.4 * rng.random((size, size)).astype(np.float32)
    return _colorize(v, np.full(3, g * 0.6, np.float32), np.full(3, g * 1.6, np.float32))


def pavers(rng: np.random.Generator, size: int) -> np.ndarray:
    rows = int(rng.choice([4, 8]))
    h = size // rows
    w = 2 * h
    c = _rand_color(rng, 0.35, 0.8)
    out = np.empty((size, size, 3), np.float32)
    for r in range(rows):
        shift = (w // 2) * (r % 2)
        for k in range(-1, size // w + 1):
            x0 = k * w + shift
            a, b = max(x0, 0), min(x0 + w, size)
            if a < b:
                out[r * h : (r + 1) * h, a:b] = c * rng.uniform(0.75, 1.15)
    y, x = np.mgrid[0:size, 0:size]
    gap = max(1, h // 12)
    edge = (y % h) < gap
    edge |= ((x - (w // 2) * ((y // h) % 2)) % w) < gap
    out *= (0.8 + 0.4 * fbm(rng, size, 8, 4))[..., None]
    out[edge] *= 0.45
    return np.clip(out * 255, 0, 255).astype(np.uint8)


def facade(rng: np.random.Generator, size: int, wall: np.ndarray) -> np.ndarray:
    """One bay of a building floor (tiles to a window grid): a wall material with a window."""
    out = wall.astype(np.float32).copy()
    x0, x1 = int(size * rng.uniform(0.2, 0.32)), int(size * rng.uniform(0.68, 0.8))
    y0, y1 = int(size * rng.uniform(0.18, 0.3)), int(size * rng.uniform(0.72, 0.85))
    frame = max(2, size // 40)
    fc = _rand_color(rng, 0.05, 0.95) * 255
    out[y0 - frame : y1 + frame, x0 - frame : x1 + frame] = fc
    glass = _colorize(noise(rng, size, 2), np.array([0.05, 0.08, 0.12]), _rand_color(rng, 0.3, 0.7))
    out[y0:y1, x0:x1] = glass[y0:y1, x0:x1]
    mid = (x0 + x1) // 2
    out[y0:y1, mid - frame // 2 : mid + frame // 2 + 1] = fc
    out[y1 + frame : y1 + 3 * frame, x0 - 2 * frame : x1 + 2 * frame] = fc * 0.8  # sill
    return np.clip(out, 0, 255).astype(np.uint8)


def metal(rng: np.random.Generator, size: int) -> np.ndarray:
    c = _rand_color(rng, 0.1, 0.95)
    streak = ndimage.uniform_filter1d(rng.random((size, size)).astype(np.float32), size // 4, axis=1, mode="wrap")
    v = np.clip(0.5 + 2.0 * (streak - streak.mean()) + 0.2 * (fbm(rng, size, 4, 3) - 0.5), 0, 1)
    return _colorize(v, c * 0.75, np.minimum(c * 1.15, 1.0))


def build_texture_pool(seed: int, size: int = 256) -> TexturePool:
    """The deterministic texture pool of world ``seed``."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x7E7]))
    layers: list[np.ndarray] = []
    groups: dict[str, list[int]] = {}

    def add(group: str, img: np.ndarray) -> None:
        groups.setdefault(group, []).append(len(layers))
        layers.append(np.ascontiguousarray(img, dtype=np.uint8))

    photos = {name: _load_photo(name) for name in COLOR_PHOTOS + GRAY_PHOTOS}
    for name in COLOR_PHOTOS:
        for _ in range(2):
            add("photo", _photo_crop(photos[name], rng, size))
    for name in ("camera", "moon", "coins", "clock", "text", "page", "cell"):
        add("photo", _tint(_photo_crop(photos[name], rng, size), _rand_color(rng, 0.3, 0.7)))
    for _ in range(3):
        add("brick", _tint(_photo_crop(photos["brick"], rng, size), np.array([0.6, 0.33, 0.25]) * rng.uniform(0.7, 1.2)))
        add("stone", _tint(_photo_crop(photos["gravel"], rng, size), _rand_color(rng, 0.35, 0.6), 1.3))
    for _ in range(2):
        add("grass", _tint(_photo_crop(photos["grass"], rng, size), np.array([0.3, 0.55, 0.2]) * rng.uniform(0.8, 1.2)))
    for _ in range(6):
        add("wood", wood(rng, size))
        add("tile", tiles(rng, size))
        add("plaster", plaster(rng, size))
        add("metal", metal(rng, size))
    for _ in range(3):
        add("asphalt", asphalt(rng, size))
        add("pavers", pavers(rng, size))
    for _ in range(10):
        kind = rng.integers(0, 3)
        wall = plaster(rng, size) if kind == 0 else layers[int(rng.choice(groups["brick" if kind == 1 else "stone"]))]
        add("facade", facade(rng, size, wall))
    add("white", np.full((size, size, 3), 235, np.uint8))
    return TexturePool(np.stack(layers), groups)
