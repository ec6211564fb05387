"""Target masks of training samples: which patches of the target the encoder never sees.

CroCo hides ``mask_ratio`` of the target's patches, uniformly at random per sample [croco]. A mask is
drawn from the sample's own generator (slife.pairs.dataset), so it is a pure function of the seed and
the sample number like the rest of the sample.
"""

from __future__ import annotations

import numpy as np


def num_masked(num_patches: int, mask_ratio: float) -> int:
    """Patches hidden per sample: round(mask_ratio * N)."""
    return int(round(mask_ratio * num_patches))


def draw_mask(num_patches: int, hidden: int, rng: np.random.Generator) -> np.ndarray:
    """(N,) bool with exactly ``hidden`` True (hidden) entries, uniformly at random."""
    mask = np.zeros(num_patches, dtype=bool)
    mask[rng.permutation(num_patches)[:hidden]] = True
    return mask
