"""Shifted pairs: two windows of one image, the target moved by a whole number of patches.

The true source patch of every target patch is known exactly, and "attend to the same position" is
right only for pairs that did not move, so matching pays from the first step. Used by the shift
mechanism test on photos (slife.diagnose.shift) and by training's shift warm-up on a life's own
frames (``data.shifted``, slife.pairs.dataset).

A pair is cut from an image whose short side is at least :func:`window_side`: the source is an
``S x S`` window at a random position at least ``margin`` pixels from the border, the target the
same window moved by ``shift = (dy, dx)`` pixels, whole patches in ``[-max_shift, max_shift]`` per
axis, plus in the sub-patch variant a uniform ``[0, p)`` pixel offset.

Larger shifts then need a larger image, i.e. more zoom (``window_side`` grows with ``max_shift``).
:func:`draw_window_anywhere` decouples the two: both windows anywhere they fit in the image, so an
image ``img + 2 r`` patches wide holds shifts of up to ``2 r`` patches (``data.shifted.room``).
"""

from __future__ import annotations

import numpy as np


def margin(patch_size: int, max_shift: int, subpatch: bool = False) -> int:
    """Pixels a target window can move from its source window (per side)."""
    return max_shift * patch_size + (patch_size if subpatch else 0)


def window_side(img_size: int, patch_size: int, max_shift: int, subpatch: bool = False) -> int:
    """Smallest image side a pair can be cut from."""
    return img_size + 2 * margin(patch_size, max_shift, subpatch)


def draw_shifts(n: int, rng: np.random.Generator, patch_size: int, max_shift: int, subpatch: bool = False) -> np.ndarray:
    """(n, 2) int pixel shifts (dy, dx) of the target window relative to the source window."""
    shift = rng.integers(-max_shift, max_shift + 1, size=(n, 2)) * patch_size
    if subpatch:
        shift = shift + rng.integers(0, patch_size, size=(n, 2))
    return shift


def draw_window(
    h: int, w: int, shift: np.ndarray, img_size: int, margin_px: int, rng: np.random.Generator
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Top-left corners of the source and target windows in an ``h`` x ``w`` image; draws the source
    position (y, then x)."""
    window = img_size + 2 * margin_px
    if h < window or w < window:
        raise ValueError(f"image {w}x{h} is smaller than the {window} px a shifted pair needs")
    y0 = int(rng.integers(0, h - window + 1)) + margin_px
    x0 = int(rng.integers(0, w - window + 1)) + margin_px
    return (y0, x0), (y0 + int(shift[0]), x0 + int(shift[1]))


def draw_window_anywhere(
    h: int, w: int, shift: np.ndarray, img_size: int, rng: np.random.Generator
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Top-left corners of a source window and the target window ``shift`` pixels from it, both inside
    an ``h`` x ``w`` image, the pair's position uniform among those that fit (y, then x)."""
    dy, dx = int(shift[0]), int(shift[1])
    room_y, room_x = h - img_size - abs(dy), w - img_size - abs(dx)
    if room_y < 0 or room_x < 0:
        raise ValueError(f"image {w}x{h} cannot hold two {img_size} px windows {dy}, {dx} px apart")
    y0 = int(rng.integers(0, room_y + 1)) + max(0, -dy)
    x0 = int(rng.integers(0, room_x + 1)) + max(0, -dx)
    return (y0, x0), (y0 + dy, x0 + dx)


def cut_pair(
    image: np.ndarray, shift: np.ndarray, img_size: int, margin_px: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Source and target ``img_size`` windows of ``image`` (:func:`draw_window`)."""
    (y0, x0), (ty, tx) = draw_window(image.shape[0], image.shape[1], shift, img_size, margin_px, rng)
    return image[y0 : y0 + img_size, x0 : x0 + img_size], image[ty : ty + img_size, tx : tx + img_size]


def shift_ground_truth(shift: np.ndarray, img_size: int, patch_size: int) -> np.ndarray:
    """(n, N): the source patch containing each target patch centre, -1 outside the source."""
    p, g = patch_size, img_size // patch_size
    shift = np.asarray(shift).reshape(-1, 2)
    centre = (np.arange(g) + 0.5) * p
    rows = np.floor((centre[None, :] + shift[:, :1]) / p).astype(np.int64)  # (n, g) source row per target row
    cols = np.floor((centre[None, :] + shift[:, 1:]) / p).astype(np.int64)
    r, c = rows[:, :, None], cols[:, None, :]
    ok = (r >= 0) & (r < g) & (c >= 0) & (c < g)
    return np.where(ok, r * g + c, -1).reshape(len(shift), g * g)
