"""Shifted pairs [ours]: two windows of one image, the target moved by a whole number of patches.

The true source patch of every target patch is known exactly, and "attend to the same position" is
right only for pairs that did not move, so matching pays from the first step. One geometry,
:class:`Shift`, cuts them everywhere: from a life's own frames in training (``data.shifted``,
:class:`ShiftedPairsConfig`, slife.pairs.dataset) and from photos in the shift mechanism test
(slife.pairs.photos).

A pair is cut from an image whose short side is at least :meth:`Shift.frame_side`: the shift is
``(dy, dx)`` pixels, whole patches in ``[-max_shift, max_shift]`` per axis, plus in the sub-patch
variant a uniform ``[0, p)`` pixel offset. With ``room == 0`` the source window lies at least
:attr:`Shift.margin` pixels from every border (larger shifts then need a larger image, i.e. more
zoom); with ``room > 0`` the frame is ``img + 2 room`` patches and both windows go anywhere they fit,
so it holds shifts of up to ``2 room`` patches at that zoom.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from slife.errors import SlifeError


@dataclass(frozen=True)
class Shift:
    """How a shifted pair is cut: patch size, largest whole-patch shift per axis, the sub-patch
    offset, and the room (in patches) around the crop (0 = the margin of ``max_shift``)."""

    patch_size: int
    max_shift: int
    subpatch: bool = False
    room: int = 0

    @property
    def margin(self) -> int:
        """Pixels a target window can move from its source window (per side)."""
        p = self.patch_size
        return self.max_shift * p + (p if self.subpatch else 0)

    def frame_side(self, img_size: int) -> int:
        """Short side of the image pairs are cut from (sets the zoom)."""
        return img_size + 2 * (self.room * self.patch_size if self.room else self.margin)

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, 2) int pixel shifts (dy, dx) of the target window relative to the source window."""
        p = self.patch_size
        shift = rng.integers(-self.max_shift, self.max_shift + 1, size=(n, 2)) * p
        if self.subpatch:
            shift = shift + rng.integers(0, p, size=(n, 2))
        return shift

    def windows(self, h: int, w: int, shift: np.ndarray, img_size: int,
                rng: np.random.Generator) -> tuple[tuple[int, int], tuple[int, int]]:  # fmt: skip
        """Top-left corners of the source and target windows in an ``h`` x ``w`` image; draws the
        source position (y, then x): at least :attr:`margin` from the borders, or with ``room`` the
        pair's position uniform among those where both windows fit."""
        dy, dx = int(shift[0]), int(shift[1])
        if self.room:
            room_y, room_x = h - img_size - abs(dy), w - img_size - abs(dx)
            if room_y < 0 or room_x < 0:
                raise ValueError(f"image {w}x{h} cannot hold two {img_size} px windows {dy}, {dx} px apart")
            y0 = int(rng.integers(0, room_y + 1)) + max(0, -dy)
            x0 = int(rng.integers(0, room_x + 1)) + max(0, -dx)
            return (y0, x0), (y0 + dy, x0 + dx)
        window = img_size + 2 * self.margin
        if h < window or w < window:
            raise ValueError(f"image {w}x{h} is smaller than the {window} px a shifted pair needs")
        y0 = int(rng.integers(0, h - window + 1)) + self.margin
        x0 = int(rng.integers(0, w - window + 1)) + self.margin
        return (y0, x0), (y0 + dy, x0 + dx)

    def cut(self, image: np.ndarray, shift: np.ndarray, img_size: int,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """Source and target ``img_size`` windows of ``image`` (:meth:`windows`)."""
        (y0, x0), (ty, tx) = self.windows(image.shape[0], image.shape[1], shift, img_size, rng)
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


@dataclass
class ShiftedPairsConfig:
    """Shifted pairs in training (``data.shifted``): pairs cut from single frames of the life (no
    colour jitter), trained on as well as the configured pairs. The first ``warmup`` fraction of the
    steps uses them only; after that each pair is a shifted one with probability ``share``. Small
    models at CPU sizes never start to use the second view on real pairs alone (docs/results/world);
    shifted pairs make matching pay from the first step, from the life's own frames only. Both 0 = off
    (the paper's setup).
    """

    warmup: float = 0.0
    share: float = 0.0
    max_shift: int = 2
    subpatch: bool = False
    # Patches of room around the crop in the frame the windows are cut from (sets the zoom: the frame
    # is resized to img_size + 2 * room patches). 0 = max_shift, with the source window at least that
    # far from every border; room > 0: both windows anywhere they fit, so shifts up to 2 * room.
    room: int = 0

    def __post_init__(self) -> None:
        for name in ("warmup", "share"):
            if not 0 <= getattr(self, name) <= 1:
                raise SlifeError(f"data.shifted.{name} must be in [0, 1], got {getattr(self, name)}")
        if self.max_shift < 0 or self.room < 0:
            raise SlifeError(f"data.shifted.max_shift and room must be >= 0, got {self.max_shift}, {self.room}")
        if self.room and self.max_shift + (1 if self.subpatch else 0) > 2 * self.room:
            raise SlifeError(f"data.shifted.max_shift {self.max_shift}{' + a sub-patch offset' if self.subpatch else ''} "
                             f"does not fit in room {self.room} (at most 2 * room patches)")  # fmt: skip

    @property
    def on(self) -> bool:
        return bool(self.warmup or self.share)

    def warmup_steps(self, total: int) -> int:
        """Steps ``[0, warmup_steps)`` of a ``total``-step run train on shifted pairs only."""
        return int(round(self.warmup * total))

    def shift(self, patch_size: int) -> Shift:
        return Shift(patch_size, self.max_shift, self.subpatch, self.room)

    def describe(self) -> str:
        """The schedule in words, for a run's start and a study's report ("" when off)."""
        if not self.on:
            return ""
        when = [f"the first {self.warmup:.0%} of the steps only" if self.warmup else "",
                f"{self.share:.0%} of every batch" if self.share else ""]  # fmt: skip
        return (f"shifted crops of the life's own frames (data.shifted, max {self.max_shift} patches): "
                + ", ".join(p for p in when if p))
