"""Reading the decoder's cross-attention by hooks (slife.model.record)."""

import math

import pytest
import torch

from slife.model.config import ModelConfig
from slife.model.croco import CroCo
from slife.model.layers import scaled_scores
from slife.model.record import CrossAttentionRecorder, resolve_layers

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _model() -> CroCo:
    torch.manual_seed(0)
    cfg = ModelConfig(img_size=32, patch_size=8, enc_dim=32, enc_depth=1, enc_heads=2, dec_dim=32, dec_depth=3, dec_heads=2)
    return CroCo(cfg).eval()


def _images(b: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(b, 3, 32, 32, generator=g), torch.randn(b, 3, 32, 32, generator=g)


def test_recorder_gives_logits_whose_softmax_is_the_returned_map() -> None:
    model, (src, tgt) = _model(), _images()
    mask = model.random_mask(2)
    with torch.no_grad(), CrossAttentionRecorder(model) as rec:
        out = model(src, tgt, mask=mask)
    logits = rec.logits()
    assert logits.shape == (3, 2, 2, 16, 16) and logits.dtype == torch.float32
    assert not torch.allclose(logits.sum(-1), torch.ones(3, 2, 2, 16))  # not probabilities
    with torch.no_grad():
        explicit = model(src, tgt, mask=mask, return_attention=True)
    assert torch.equal(rec.maps(), explicit.cross_attention)  # one recording path, bit-identical
    assert torch.equal(out.pred, explicit.pred)
    # the logits of layer 0 are q k^T / sqrt(d) of its own inputs, recomputed by hand
    seen = {}
    blk = model.dec_blocks[0]
    h = blk.norm_cross.register_forward_hook(lambda m, i, o: seen.__setitem__("x", o))
    h2 = blk.norm_y.register_forward_hook(lambda m, i, o: seen.__setitem__("y", o))
    with torch.no_grad():
        model(src, tgt, mask=mask)
    h.remove(), h2.remove()
    ca, rope = blk.cross_attn, model._rope(model.positions, 32, 2)
    from slife.model.posenc import apply_rope

    q = apply_rope(ca.q(seen["x"]).view(2, 16, 2, 16).transpose(1, 2), *rope)
    k = apply_rope(ca.k(seen["y"]).view(2, 16, 2, 16).transpose(1, 2), *rope)
    torch.testing.assert_close(logits[0], q @ k.transpose(-1, -2) / math.sqrt(16), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(scaled_scores(q, k), q @ k.transpose(-1, -2) / 4.0, atol=1e-6, rtol=1e-6)


def test_only_chosen_layers_are_recorded_and_hooks_are_removed() -> None:
    model, (src, tgt) = _model(), _images()
    mask = torch.zeros(2, 16, dtype=torch.bool)
    with torch.no_grad(), CrossAttentionRecorder(model) as every:
        model(src, tgt, mask=mask)
    with torch.no_grad(), CrossAttentionRecorder(model, layers=[2, 0]) as some:
        model(src, tgt, mask=mask)
    assert torch.equal(some.logits(), every.logits()[[2, 0]])
    assert all(not blk.cross_attn.scores.hooked for blk in model.dec_blocks)  # fused again
    with pytest.raises(RuntimeError, match="no cross-attention recorded"):
        CrossAttentionRecorder(model).logits()
    for bad in ([3], [-1], [0, 0], []):
        with pytest.raises(ValueError, match="distinct indices"):
            CrossAttentionRecorder(model, layers=bad)
    assert resolve_layers(None, 4) == [0, 1, 2, 3]
