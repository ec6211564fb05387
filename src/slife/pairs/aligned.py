"""Patch-aligned crops [ours]: the target crop placed on the source crop's patch grid.

Two views cropped independently from two frames sit at a random sub-patch phase to each other (up to
half a patch per axis), so no source patch holds exactly what a target patch shows and copying the
right source patch barely lowers the loss. With ``data.aligned_crops`` the dominant translation
between the two resized frames is estimated from the frames themselves (phase correlation,
:func:`phase_shift`; no depth or poses), and the target crop is placed so that its offset relative to
the source crop, minus that translation, is a whole number of patches (:func:`aligned_offset`).
Everything is a pure function of the frames and of the values drawn from the sample's generator.
"""

from __future__ import annotations

import numpy as np

_GRAY = np.array([0.299, 0.587, 0.114], dtype=np.float64)


def gray(image: np.ndarray) -> np.ndarray:
    """H x W x 3 (uint8 or float) -> H x W float64 Rec.601 luma; H x W input is returned as float64."""
    x = np.asarray(image, dtype=np.float64)
    return x @ _GRAY if x.ndim == 3 else x


def _hann(h: int, w: int) -> np.ndarray:
    return np.outer(np.hanning(h + 2)[1:-1], np.hanning(w + 2)[1:-1])


def phase_shifts(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer translations (dy, dx) with ``b[y, x] ~ a[y - dy, x - dx]`` for stacks of grey images
    (..., H, W) of one size: the peak of the phase correlation (normalised cross-power spectrum) of the
    Hann-windowed, mean-free images; shifts are wrapped to [-H/2, H/2) x [-W/2, W/2). Returns (..., 2)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    h, w = a.shape[-2:]
    win = _hann(h, w)
    fa = np.fft.rfft2((a - a.mean(axis=(-2, -1), keepdims=True)) * win)
    fb = np.fft.rfft2((b - b.mean(axis=(-2, -1), keepdims=True)) * win)
    cross = fb * np.conj(fa)
    cross /= np.maximum(np.abs(cross), 1e-12)
    corr = np.fft.irfft2(cross, s=(h, w))
    flat = corr.reshape(*corr.shape[:-2], h * w).argmax(axis=-1)
    dy, dx = np.divmod(flat, w)
    dy = np.where(dy >= (h + 1) // 2, dy - h, dy)
    dx = np.where(dx >= (w + 1) // 2, dx - w, dx)
    return np.stack([dy, dx], axis=-1).astype(np.int64)


def phase_shift(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """Dominant translation (dy, dx) from image ``a`` to image ``b`` (RGB or grey; compared on their
    common top-left H x W when the sizes differ): ``b[y, x] ~ a[y - dy, x - dx]``."""
    ga, gb = gray(a), gray(b)
    h, w = min(ga.shape[0], gb.shape[0]), min(ga.shape[1], gb.shape[1])
    dy, dx = phase_shifts(ga[:h, :w], gb[:h, :w])
    return int(dy), int(dx)


def aligned_offset(source: int, shift: int, want: int, room: int, patch: int) -> int:
    """Target crop offset along one axis, in ``[0, room]``, whose residual phase
    ``(offset - source - shift) mod patch`` is as close to 0 as the room allows (0 whenever
    ``room + 1 >= patch``); among those, the one nearest to ``want`` (the smaller on a tie)."""
    if room < 0:
        raise ValueError(f"crop room {room} < 0: the image is smaller than the crop")
    cand = np.arange(room + 1)
    phase = (cand - source - shift) % patch
    dist = np.minimum(phase, patch - phase)
    ok = cand[dist == dist.min()]
    return int(ok[np.argmin(np.abs(ok - want))])


def draw_aligned_crop(h: int, w: int, size: int, patch: int, source: tuple[int, int], shift: tuple[int, int],
                      rng: np.random.Generator, crop_patches: int = 0) -> tuple[int, int]:  # fmt: skip
    """Top-left (y, x) of the target's ``size`` crop of an ``h`` x ``w`` frame, on the patch grid of the
    source crop at ``source`` once the frames' translation ``shift`` (target frame vs source frame) is
    removed. ``crop_patches == 0``: a uniform crop (the same two draws as
    :func:`slife.pairs.augment.draw_crop`) moved to the nearest aligned position; ``crop_patches > 0``:
    the relative offset is k whole patches per axis, k ~ U{-crop_patches..crop_patches} (two draws, y
    then x), clipped into the frame (the nearest aligned position that fits)."""
    if h < size or w < size:
        raise ValueError(f"image {w}x{h} is smaller than the crop {size}")
    if crop_patches > 0:
        ky = int(rng.integers(-crop_patches, crop_patches + 1))
        kx = int(rng.integers(-crop_patches, crop_patches + 1))
        want = (source[0] + shift[0] + ky * patch, source[1] + shift[1] + kx * patch)
    else:
        want = (int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1)))
    return (aligned_offset(source[0], shift[0], want[0], h - size, patch),
            aligned_offset(source[1], shift[1], want[1], w - size, patch))  # fmt: skip
