"""Training batches of augmented pairs, a pure function of (seed, sample number).

Sample number ``k = step * global_batch + rank * batch + i`` is generated from its own generator
``np.random.default_rng([seed, k])``, which draws, in order: the pair (from the prefix of frames
visible at that step), the source's crop and jitter, the target's crop and jitter, and the target's
mask. With shifted pairs on (``data.shifted``, slife.pairs.shifted), it first draws whether the sample
is a shifted pair (only after the warm-up, and only if ``share > 0``: every step of the first
``warmup`` fraction is shifted); a shifted sample then draws one frame of the prefix, the shift, the
window position, and the mask. Hence a resumed run sees
exactly the samples it would have seen, DDP ranks draw disjoint samples, and N ranks x batch B see the
same samples as 1 rank x batch N*B.

Options that make real pairs teach (docs/pairs.md, "Pairs that can teach"; all off by default, and
off they draw exactly as above):

- ``jitter_per_pair``: the target takes the source's jitter factors and draws none, so the order is
  pair, source crop + jitter, target crop, mask.
- ``aligned_crops``: the target crop's two draws (a uniform crop, or with ``crop_patches > 0`` two
  whole-patch offsets k ~ U{-crop_patches..crop_patches}) are moved onto the source crop's patch grid
  after removing the translation between the two frames (slife.pairs.aligned, phase correlation of
  the resized frames); the number and order of draws is unchanged, and the crop is a pure function of
  the draws and of the frames.

Decoded, resized frames are kept in memory up to ``cache_mb`` (per loading process); which frames
are cached changes nothing but speed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from slife.imaging import to_tensors
from slife.pairs.aligned import draw_aligned_crop, phase_shift
from slife.pairs.augment import apply_jitter, draw_crop, draw_jitter, read_resized, resize_side
from slife.pairs.masking import draw_mask
from slife.pairs.shifted import ShiftedPairsConfig


@dataclass(frozen=True)
class View:
    """One image of a pair: frame ``frame`` resized to short side ``side``, the ``img_size`` crop at
    (y, x), colour jitter factors (b, c, s) or None."""

    frame: int
    side: int
    y: int
    x: int
    jitter: tuple[float, float, float] | None


@dataclass(frozen=True)
class SampleRecipe:
    src: View
    tgt: View
    mask: np.ndarray  # (N,) bool, True = hidden target patch


class PairBatches(torch.utils.data.Dataset):
    """Item ``step`` = this rank's batch for optimiser step ``step``.

    Use with ``DataLoader(ds, batch_size=None, sampler=range(start, total), num_workers=...)``; the
    Life reopens its file handles in each worker.
    """

    def __init__(
        self,
        life,
        sampler,
        ends: np.ndarray,
        img_size: int,
        num_masked: int,
        batch_size: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        patch_size: int = 16,
        jitter: float = 0.4,
        shifted: ShiftedPairsConfig = ShiftedPairsConfig(),
        cache_mb: float = 0.0,
        jitter_per_pair: bool = False,
        aligned_crops: bool = False,
        crop_patches: int = 0,
    ):
        self.life = life
        self.sampler = sampler
        self.ends = np.asarray(ends, dtype=np.int64)  # visible prefix length per step
        self.img_size = int(img_size)
        self.patch_size = int(patch_size)
        self.short_side = resize_side(img_size)
        self.num_patches = (img_size // patch_size) ** 2
        self.num_masked = int(num_masked)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.jitter = float(jitter)
        self.jitter_per_pair = bool(jitter_per_pair)
        self.aligned_crops = bool(aligned_crops)
        self.crop_patches = int(crop_patches)
        if self.crop_patches < 0 or (self.crop_patches and not self.aligned_crops):
            raise ValueError(f"crop_patches must be >= 0 and needs aligned_crops, got {crop_patches}")
        self.shifted = shifted
        self.warmup_steps = shifted.warmup_steps(len(self.ends))
        self.shift = shifted.shift(self.patch_size)
        self.shift_side = self.shift.frame_side(self.img_size)
        self.cache_bytes = int(cache_mb * 2**20)
        self._cache: dict[tuple[int, int], np.ndarray] = {}
        self._cached_bytes = 0

    def __len__(self) -> int:
        return len(self.ends)

    @property
    def sides(self) -> list[int]:
        """The short sides frames are resized to for these batches (real pairs', then shifted pairs')."""
        return [self.short_side] + ([self.shift_side] if self.shifted.on else [])

    def _render(self, view: View, batch_cache: dict[tuple[int, int], np.ndarray]) -> np.ndarray:
        image = self.frame(view.frame, view.side, batch_cache)
        crop = image[view.y : view.y + self.img_size, view.x : view.x + self.img_size]
        return apply_jitter(crop, *view.jitter) if view.jitter is not None else np.ascontiguousarray(crop)

    def sample_ids(self, step: int) -> np.ndarray:
        first = (step * self.world_size + self.rank) * self.batch_size
        return np.arange(first, first + self.batch_size, dtype=np.int64)

    def frame(self, i: int, short_side: int, batch_cache: dict[tuple[int, int], np.ndarray]) -> np.ndarray:
        """Frame ``i`` resized to ``short_side`` (uint8 H x W x 3), from memory when cached."""
        key = (i, short_side)
        image = self._cache.get(key)
        if image is None:
            image = batch_cache.get(key)
        if image is None:
            image = read_resized(self.life, i, short_side)
            if self._cached_bytes + image.nbytes <= self.cache_bytes:
                self._cache[key] = image
                self._cached_bytes += image.nbytes
            else:
                batch_cache[key] = image  # at least reused within the batch
        return image

    def draw(self, step: int, dims: Callable[[int, int], tuple[int, int]],
             image: Callable[[int, int], np.ndarray] | None = None) -> list[SampleRecipe]:  # fmt: skip
        """What each sample of ``step`` is made of (frames, crops, jitter, mask), drawn from the
        sample's own generator in the order of the module docstring; ``dims(frame, short_side)`` is
        the (h, w) of a frame resized to that short side, ``image(frame, short_side)`` the resized frame
        itself (uint8 H x W x 3; needed with ``aligned_crops`` only)."""
        if self.aligned_crops and image is None:
            raise ValueError("aligned_crops needs the frames: pass image(frame, short_side) to draw()")
        end = int(self.ends[step])
        warm = step < self.warmup_steps
        recipes = []
        for k in self.sample_ids(step):
            rng = np.random.default_rng([self.seed, int(k)])
            if warm or (self.shifted.share > 0 and rng.random() < self.shifted.share):
                i = int(rng.integers(0, end))
                shift = self.shift.draw(1, rng)[0]
                (y, x), (ty, tx) = self.shift.windows(*dims(i, self.shift_side), shift, self.img_size, rng)
                src = View(i, self.shift_side, y, x, None)
                tgt = View(i, self.shift_side, ty, tx, None)
            else:
                a, b = (int(v) for v in self.sampler.sample(1, rng, end)[0])
                src = self._augmented_view(a, dims, rng)
                tgt = self._target_view(src, b, dims, image, rng)
            recipes.append(SampleRecipe(src, tgt, draw_mask(self.num_patches, self.num_masked, rng)))
        return recipes

    def _augmented_view(self, frame: int, dims: Callable[[int, int], tuple[int, int]], rng: np.random.Generator) -> View:
        y, x = draw_crop(*dims(frame, self.short_side), self.img_size, rng)
        return View(frame, self.short_side, y, x, draw_jitter(rng, self.jitter) if self.jitter > 0 else None)

    def _target_view(self, src: View, frame: int, dims: Callable[[int, int], tuple[int, int]],
                     image: Callable[[int, int], np.ndarray] | None, rng: np.random.Generator) -> View:  # fmt: skip
        """The target's view of a real pair: independent (the default) or with the options above."""
        if not (self.aligned_crops or self.jitter_per_pair):
            return self._augmented_view(frame, dims, rng)
        h, w = dims(frame, self.short_side)
        if self.aligned_crops:
            assert image is not None
            shift = phase_shift(image(src.frame, self.short_side), image(frame, self.short_side))
            y, x = draw_aligned_crop(h, w, self.img_size, self.patch_size, (src.y, src.x), shift, rng, self.crop_patches)
        else:
            y, x = draw_crop(h, w, self.img_size, rng)
        if self.jitter_per_pair:
            jitter = src.jitter
        else:
            jitter = draw_jitter(rng, self.jitter) if self.jitter > 0 else None
        return View(frame, self.short_side, y, x, jitter)

    def __getitem__(self, step: int) -> dict[str, Any]:
        step = int(step)
        batch_cache: dict[tuple[int, int], np.ndarray] = {}

        def dims(i: int, side: int) -> tuple[int, int]:
            return self.frame(i, side, batch_cache).shape[:2]

        recipes = self.draw(step, dims, lambda i, side: self.frame(i, side, batch_cache))
        srcs = [self._render(r.src, batch_cache) for r in recipes]
        tgts = [self._render(r.tgt, batch_cache) for r in recipes]
        masks = [r.mask for r in recipes]
        pairs = [(r.src.frame, r.tgt.frame) for r in recipes]
        return {
            "src": to_tensors(np.stack(srcs)),
            "tgt": to_tensors(np.stack(tgts)),
            "mask": torch.from_numpy(np.stack(masks)),
            "pairs": torch.tensor(pairs, dtype=torch.int64),
            "step": step,
        }
