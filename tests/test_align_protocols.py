"""Reading protocols for cross-attention maps (unmasked, masked queries) and moving-patch scores."""

import numpy as np
import pytest
import torch

from slife.align.analysis import gt_alignment, gt_alignment_chance, moving_patches, patch_displacement
from slife.align.matchers import IdentityMatcher, OracleMatcher, ReadProtocol, model_attention, protocol_masks
from slife.align.testset import TestSet, displacement_histogram, gt_displacement
from slife.errors import SlifeError
from slife.model.config import model_config
from slife.model.croco import CroCo


def _model(seed: int = 0) -> CroCo:
    torch.manual_seed(seed)
    return CroCo(model_config("tiny", img_size=32, patch_size=8, enc_dim=32, dec_dim=32, enc_depth=1, dec_depth=2)).eval()


def _testset(pairs: int = 3, shift: int = 1) -> TestSet:
    rng = np.random.default_rng(0)
    src = rng.integers(0, 256, (pairs, 32, 32, 3), dtype=np.uint8)
    g = 4
    rows, cols = np.divmod(np.arange(g * g), g)
    gt = np.where(cols + shift < g, rows * g + cols + shift, -1)
    z = np.zeros(pairs, np.int64)
    return TestSet(src=src, tgt=src.copy(), patch_size=8, life=np.array(["x"] * pairs), src_index=z, tgt_index=z,
                   src_time=z.astype(float), tgt_time=z.astype(float), video=z, gt=np.tile(gt, (pairs, 1)))


def test_masked_protocol_reads_rows_of_hidden_patches_averaged_over_masks() -> None:
    model, ts = _model(), _testset()
    proto = ReadProtocol("masked", masks=3, seed=5)
    maps = model_attention(model, ts, per_layer=True, protocol=proto)
    masks = protocol_masks(model, len(ts), proto)
    assert masks.shape == (3, 3, 16) and bool((masks.sum(-1) == model.num_masked()).all())
    from slife.imaging import to_tensors

    src, tgt = to_tensors(ts.src), to_tensors(ts.tgt)
    expect = torch.zeros(maps.shape)
    count = torch.zeros(1, 3, 16, 1)
    with torch.no_grad():
        for m in masks:
            a = model(src, tgt, mask=m, return_attention=True).cross_attention.mean(dim=2)
            expect += a * m[None, :, :, None]
            count += m[None, :, :, None]
    expect = torch.where(count > 0, expect / count.clamp(min=1), torch.full_like(expect, 1 / 16))
    torch.testing.assert_close(maps, expect)
    assert torch.allclose(maps.sum(-1), torch.ones(maps.shape[:-1]))  # rows stay distributions
    # the same masks for every call and model; another seed gives other masks and other maps
    torch.testing.assert_close(model_attention(model, ts, per_layer=True, protocol=proto), maps)
    assert not torch.equal(protocol_masks(model, len(ts), ReadProtocol("masked", 3, 6)), masks)
    unmasked = model_attention(model, ts, per_layer=True)
    assert not torch.allclose(unmasked, maps, atol=1e-3)


def test_masked_reading_with_batches_equals_one_batch() -> None:
    model, ts = _model(1), _testset(pairs=5)
    proto = ReadProtocol("masked", masks=2, seed=0)
    torch.testing.assert_close(model_attention(model, ts, batch_size=2, protocol=proto),
                               model_attention(model, ts, batch_size=16, protocol=proto))


def test_protocol_validation() -> None:
    with pytest.raises(SlifeError, match="protocol"):
        ReadProtocol("sideways")
    with pytest.raises(SlifeError, match="masks"):
        ReadProtocol("masked", masks=0)


def test_displacement_and_moving_patches() -> None:
    ts = _testset(shift=2)
    d = patch_displacement(ts)
    assert d.shape == (3, 16)
    assert set(np.unique(d[0])) == {-1, 2}  # every visible patch moved by two columns; the last two have no GT
    assert moving_patches(ts).sum() == 3 * 8
    hist = displacement_histogram(ts.gt, ts.grid)
    assert hist["counts"][2] == 24 and hist["patches_with_gt"] == 24 and hist["moving_fraction"] == 1.0
    assert gt_displacement(np.array([[5, -1]]), 4).tolist() == [[1, -1]]  # patch 0 -> (1, 1): Chebyshev 1


def test_identity_scores_zero_on_moving_patches_and_the_oracle_one() -> None:
    ts = _testset(shift=2)
    moving = moving_patches(ts)
    identity = IdentityMatcher().attention(ts)
    assert gt_alignment(identity, ts, 1, moving) == 0.0
    assert gt_alignment(OracleMatcher().attention(ts), ts, 0, moving) == 1.0
    assert 0 < gt_alignment_chance(ts, 0, moving) < 0.1
    with pytest.raises(SlifeError, match="selection"):
        gt_alignment(identity, ts, 0, np.ones((2, 2), bool))


def test_source_use_control() -> None:
    from slife.align.checks import source_use

    model, ts = _model(2), _testset(pairs=4)
    use = source_use(model, ts, seed=0, batch_size=3)
    assert set(use) == {"loss_real_source", "loss_noise_source", "loss_swapped_source", "noise_minus_real",
                        "swapped_minus_real"}
    assert use["loss_real_source"] > 0 and use["loss_noise_source"] != use["loss_real_source"]
    same = ts.subset([0, 0, 0])  # every source is the same image: swapping sources changes nothing
    assert source_use(model, same, seed=0)["swapped_minus_real"] == pytest.approx(0.0, abs=1e-6)
    assert source_use(model, ts, seed=0, batch_size=4) == pytest.approx(use, abs=1e-5)  # batching does not matter
    with pytest.raises(SlifeError, match="2 pairs"):
        source_use(model, ts.subset([0]), seed=0)
