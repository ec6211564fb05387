"""Shifted pairs cut from real photographs (the shift mechanism test's pairs, slife.diagnose.shift).

The photos ship with scikit-image, split into training and held-out evaluation photos. The split is
fixed [ours]: the evaluation photos (a cat, coins, a motorcycle) share no content with the training
photos, so a model can only score on them by matching, not by remembering. Each photo is resized at a
few scales (photo short side / the side a pair needs) and pairs are cut with slife.pairs.shifted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from slife.errors import SlifeError
from slife.pairs.shifted import Shift, shift_ground_truth

TRAIN_PHOTOS = (
    "astronaut", "coffee", "rocket", "immunohistochemistry", "retina", "hubble_deep_field",
    "camera", "moon", "brick", "grass", "gravel", "text", "page", "cell",
)  # fmt: skip
EVAL_PHOTOS = ("chelsea", "coins", "stereo_motorcycle")


def load_photo(name: str) -> np.ndarray:
    """One photo as (H, W, 3) uint8 RGB (grey photos are repeated over the channels)."""
    import skimage.data

    img = getattr(skimage.data, name)()
    if isinstance(img, tuple):  # stereo_motorcycle -> (left, right, disparity): the left view
        img = img[0]
    img = np.asarray(img)
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return np.ascontiguousarray(img[:, :, :3].astype(np.uint8))


def load_photos(names: tuple[str, ...]) -> list[np.ndarray]:
    return [load_photo(n) for n in names]


@dataclass
class PhotoPairsConfig:
    """How pairs are cut from photos (``task`` in configs/diagnose_shift.yaml)."""

    max_shift: int = 2  # whole patches per axis, uniform in [-max_shift, max_shift]
    subpatch: bool = False  # add a uniform [0, patch) pixel offset per axis (the sub-patch variant)
    scales: list[float] = field(default_factory=lambda: [1.0, 1.5, 2.0])  # photo short side / window side

    def __post_init__(self) -> None:
        if self.max_shift < 0:
            raise SlifeError(f"task.max_shift must be >= 0, got {self.max_shift}")
        if not self.scales or any(not (s >= 1.0 and math.isfinite(s)) for s in self.scales):
            raise SlifeError(f"task.scales must be finite and >= 1 (photo side / window side), got {self.scales}")


class PhotoPairs:
    """Cuts shifted (source, target) pairs from photos, with the true source patch of every target patch."""

    def __init__(self, photos: list[np.ndarray], img_size: int, patch_size: int, cfg: PhotoPairsConfig) -> None:
        from PIL import Image

        if img_size % patch_size:
            raise SlifeError(f"shift pairs: img_size {img_size} is not a multiple of patch_size {patch_size}")
        self.img_size, self.patch_size, self.cfg = img_size, patch_size, cfg
        self.shift = Shift(patch_size, cfg.max_shift, cfg.subpatch)
        self.window = self.shift.frame_side(img_size)
        self.images: list[np.ndarray] = []
        for photo in photos:
            h, w = photo.shape[:2]
            for scale in cfg.scales:
                f = scale * self.window / min(h, w)
                size = (max(self.window, round(w * f)), max(self.window, round(h * f)))
                self.images.append(np.asarray(Image.fromarray(photo).resize(size, Image.BICUBIC)))

    @property
    def grid(self) -> int:
        return self.img_size // self.patch_size

    def draw(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``n`` pairs: src, tgt (n, S, S, 3) uint8, gt (n, N) int64 (-1 = outside the source), and the
        pixel shift (n, 2) (dy, dx) of the target window relative to the source window."""
        s = self.img_size
        which = rng.integers(len(self.images), size=n)
        shift = self.shift.draw(n, rng)
        src = np.empty((n, s, s, 3), np.uint8)
        tgt = np.empty_like(src)
        for i in range(n):
            src[i], tgt[i] = self.shift.cut(self.images[which[i]], shift[i], s, rng)
        return src, tgt, self.ground_truth(shift), shift

    def ground_truth(self, shift: np.ndarray) -> np.ndarray:
        """(n, N): the source patch containing each target patch centre, -1 outside the source."""
        return shift_ground_truth(shift, self.img_size, self.patch_size)

    def testset(self, n: int, seed: int, names: tuple[str, ...] = ()) -> Any:
        """A fixed evaluation set of ``n`` pairs (seeded), a ``TestSet`` every alignment reader takes."""
        from slife.align.testset import TestSet

        src, tgt, gt, shift = self.draw(n, np.random.default_rng(seed))
        zeros_i, zeros_f = np.zeros(n, np.int64), np.zeros(n, np.float64)
        meta = {"sampler": "shift", "seed": int(seed), "max_shift": self.cfg.max_shift,
                "subpatch": self.cfg.subpatch, "photos": list(names), "shift_px": shift.tolist()}  # fmt: skip
        return TestSet(src=src, tgt=tgt, patch_size=self.patch_size, life=np.array(["photos"] * n), src_index=zeros_i,
                       tgt_index=zeros_i, src_time=zeros_f, tgt_time=zeros_f, video=zeros_i, gt=gt, meta=meta)  # fmt: skip
