"""Target masks: which patches of the target the encoder never sees, in one place.

CroCo hides ``mask_ratio`` of the target's patches, uniformly at random per sample [croco]:
:func:`num_masked` says how many, and a mask is drawn one of two ways, by who holds the generator.

- :func:`draw_mask` (numpy): a training sample's mask, drawn from the sample's own generator
  (slife.pairs.dataset), so it is a pure function of the seed and the sample number like the rest of
  the sample.
- :func:`random_masks` (torch): masks drawn on a torch generator, CroCo's masking module: uniform
  noise, argsort, the first ``hidden`` indices hidden. ``CroCo.random_mask`` (a model run without a
  mask, the shift test's training) and the masked reading protocol (``slife.align.matchers``) draw here.

The two generators give different (equally uniform) masks for the same seed; each caller keeps its
own, so the recipe's samples and the committed results stay bit-identical.
"""

from __future__ import annotations

import numpy as np
import torch


def num_masked(num_patches: int, mask_ratio: float) -> int:
    """Patches hidden per sample: round(mask_ratio * N)."""
    return int(round(mask_ratio * num_patches))


def draw_mask(num_patches: int, hidden: int, rng: np.random.Generator) -> np.ndarray:
    """(N,) bool with exactly ``hidden`` True (hidden) entries, uniformly at random."""
    mask = np.zeros(num_patches, dtype=bool)
    mask[rng.permutation(num_patches)[:hidden]] = True
    return mask


def random_masks(shape: tuple[int, ...], num_patches: int, hidden: int, generator: torch.Generator | None = None,
                 device: torch.device | str | None = None) -> torch.Tensor:  # fmt: skip
    """(*shape, N) bool, exactly ``hidden`` True (hidden) per row, uniformly at random, drawn on ``device``."""
    noise = torch.rand(*shape, num_patches, generator=generator, device=device)
    order = noise.argsort(dim=-1)[..., :hidden]
    return torch.zeros(*shape, num_patches, dtype=torch.bool, device=device).scatter_(-1, order, True)
