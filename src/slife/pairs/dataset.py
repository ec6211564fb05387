"""Training batches of augmented pairs, a pure function of (seed, sample number).

Sample number ``k = step * global_batch + rank * batch + i`` is generated from its own generator
``np.random.default_rng([seed, k])``, which draws, in order: the pair (from the prefix of frames
visible at that step), the source's crop and jitter, the target's crop and jitter, and the target's
mask. Hence a resumed run sees exactly the samples it would have seen, DDP ranks draw disjoint
samples, and N ranks x batch B see the same samples as 1 rank x batch N*B.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from slife.imaging import IMAGENET_MEAN, IMAGENET_STD
from slife.pairs.augment import augment, load_resized, resize_side


def to_batch(images: list[np.ndarray]) -> torch.Tensor:
    """uint8 H x W x 3 images -> (B, 3, H, W) ImageNet-normalised floats (as slife.imaging.to_tensor)."""
    t = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return t.sub_(mean).div_(std)


def sample_mask(num_patches: int, num_masked: int, rng: np.random.Generator) -> np.ndarray:
    """(N,) bool with exactly ``num_masked`` True (hidden) entries, uniformly at random."""
    mask = np.zeros(num_patches, dtype=bool)
    mask[rng.permutation(num_patches)[:num_masked]] = True
    return mask


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
    ):
        self.life = life
        self.sampler = sampler
        self.ends = np.asarray(ends, dtype=np.int64)  # visible prefix length per step
        self.img_size = int(img_size)
        self.short_side = resize_side(img_size)
        self.num_patches = (img_size // patch_size) ** 2
        self.num_masked = int(num_masked)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.jitter = float(jitter)

    def __len__(self) -> int:
        return len(self.ends)

    def sample_ids(self, step: int) -> np.ndarray:
        first = (step * self.world_size + self.rank) * self.batch_size
        return np.arange(first, first + self.batch_size, dtype=np.int64)

    def __getitem__(self, step: int) -> dict[str, Any]:
        step = int(step)
        end = int(self.ends[step])
        srcs, tgts, masks, pairs = [], [], [], []
        cache: dict[int, np.ndarray] = {}

        def frame(i: int) -> np.ndarray:
            if i not in cache:
                cache[i] = load_resized(self.life.jpeg(i), self.short_side)
            return cache[i]

        for k in self.sample_ids(step):
            rng = np.random.default_rng([self.seed, int(k)])
            src, tgt = (int(v) for v in self.sampler.sample(1, rng, end)[0])
            srcs.append(augment(frame(src), self.img_size, rng, self.jitter))
            tgts.append(augment(frame(tgt), self.img_size, rng, self.jitter))
            masks.append(sample_mask(self.num_patches, self.num_masked, rng))
            pairs.append((src, tgt))
        return {
            "src": to_batch(srcs),
            "tgt": to_batch(tgts),
            "mask": torch.from_numpy(np.stack(masks)),
            "pairs": torch.tensor(pairs, dtype=torch.int64),
            "step": step,
        }
