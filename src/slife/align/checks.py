"""Does a model use the second view? Its masked loss with the right source, another pair's, and noise.

CroCo can lower its loss without the source when the target can be completed from its own visible
patches (easy, predictable textures; a memorised place). Such a model learns no correspondence, and
its cross-attention shows only the position prior. The check: the masked loss on a test set's pairs
with the real source, with *another pair's source* (a real image that does not match: roll by one
pair) and with Gaussian noise (out of distribution), all with the same seeded masks. A model that
relies on the source loses clearly more without it (``swapped_minus_real`` well above 0).
"""

from __future__ import annotations

import numpy as np
import torch

from slife.align.matchers import ReadProtocol, protocol_masks
from slife.align.testset import TestSet
from slife.errors import SlifeError
from slife.imaging import to_tensors


def source_use(model: torch.nn.Module, testset: TestSet, seed: int, batch_size: int = 32) -> dict[str, float]:
    """Masked loss on the test pairs with the real source, with Gaussian noise as the source, and with
    another pair's source (the previous pair's, cyclically; needs >= 2 pairs), all with the same masks:
    how much the model relies on the second view. Noise is out of distribution; the swapped source is not."""
    if len(testset) < 2:
        raise SlifeError(f"{testset.path or 'test set'}: the source-use check needs at least 2 pairs")
    swapped_src = np.roll(testset.src, 1, axis=0)
    masks = protocol_masks(model, len(testset), ReadProtocol("masked", 1, seed))[0]
    gen = torch.Generator().manual_seed(seed + 1)
    was_training = model.training
    model.eval()
    totals = {"real": 0.0, "noise": 0.0, "swapped": 0.0}
    try:
        with torch.no_grad():
            for start in range(0, len(testset), batch_size):
                sl = slice(start, start + batch_size)
                src, tgt, mask = to_tensors(testset.src[sl]), to_tensors(testset.tgt[sl]), masks[sl]
                other = to_tensors(swapped_src[sl])
                for key, source in (("real", src), ("noise", torch.randn(src.shape, generator=gen)), ("swapped", other)):
                    out = model(source, tgt, mask=mask)
                    totals[key] += float(model.loss(out.pred, tgt, mask)) * len(src)
    finally:
        model.train(was_training)
    mean = {k: v / len(testset) for k, v in totals.items()}
    return {"loss_real_source": mean["real"], "loss_noise_source": mean["noise"],
            "loss_swapped_source": mean["swapped"], "noise_minus_real": mean["noise"] - mean["real"],
            "swapped_minus_real": mean["swapped"] - mean["real"]}  # fmt: skip
