"""Masks are drawn in one module (slife.pairs.masking); the callers that moved there draw exactly the
masks they drew before on a fixed seed (the formulas below are the code before issue #22's change)."""

from __future__ import annotations

import numpy as np
import torch

from slife.align.matchers import ReadProtocol, protocol_masks
from slife.model.config import model_config
from slife.model.croco import CroCo
from slife.pairs.masking import draw_mask, num_masked, random_masks


def _model() -> CroCo:
    torch.manual_seed(0)
    return CroCo(model_config("tiny", img_size=32, patch_size=8, mask_ratio=0.75))


def test_croco_random_mask_is_the_mask_it_drew_before() -> None:
    model = _model()
    n, hidden = model.num_patches, model.num_masked()
    assert hidden == num_masked(n, 0.75) == 12
    old_noise = torch.rand(5, n, generator=torch.Generator().manual_seed(3))
    before = torch.zeros(5, n, dtype=torch.bool).scatter_(1, old_noise.argsort(dim=1)[:, :hidden], True)
    assert torch.equal(model.random_mask(5, torch.Generator().manual_seed(3)), before)
    torch.manual_seed(7)  # without a generator: the global one, as before
    old_noise = torch.rand(5, n)
    before = torch.zeros(5, n, dtype=torch.bool).scatter_(1, old_noise.argsort(dim=1)[:, :hidden], True)
    torch.manual_seed(7)
    assert torch.equal(model.random_mask(5), before)


def test_protocol_masks_are_the_masks_they_were_before() -> None:
    model = _model()
    proto = ReadProtocol("masked", masks=3, seed=11)
    n, hidden = model.num_patches, model.num_masked()
    noise = torch.rand(3, 4, n, generator=torch.Generator().manual_seed(11))
    before = torch.zeros(3, 4, n, dtype=torch.bool).scatter_(-1, noise.argsort(dim=-1)[..., :hidden], True)
    got = protocol_masks(model, 4, proto)
    assert got is not None and torch.equal(got, before)
    assert (got.sum(-1) == hidden).all()


def test_masks_hide_exactly_the_number_asked() -> None:
    assert (random_masks((2, 3), 10, 4, torch.Generator().manual_seed(0)).sum(-1) == 4).all()
    mask = draw_mask(10, 4, np.random.default_rng(0))
    assert mask.dtype == bool and mask.sum() == 4
