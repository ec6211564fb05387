"""Index-tensor masking (bit-identical to boolean indexing) and the compiled model (equal to eager)."""

import warnings

import pytest
import torch

from slife.config import ConfigError, load_config
from slife.model.config import ModelConfig
from slife.model.croco import CroCo, mask_indices, patchify, take
from slife.model.posenc import rope_tables
from slife.train.compiling import AUTO_MIN_STEPS, auto_compile, compile_for_training
from slife.train.config import TrainConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def micro(**kw) -> ModelConfig:
    base = dict(img_size=32, patch_size=8, enc_dim=32, enc_depth=1, enc_heads=2, dec_dim=32, dec_depth=1, dec_heads=2,
                mask_ratio=0.5)  # fmt: skip
    return ModelConfig(**{**base, **kw})


def batch(model: CroCo, b: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    s = model.cfg.img_size
    src, tgt = torch.randn(b, 3, s, s, generator=g), torch.randn(b, 3, s, s, generator=g)
    return src, tgt, model.random_mask(b, generator=g)


def test_mask_indices_are_the_order_of_boolean_indexing():
    g = torch.Generator().manual_seed(0)
    mask = torch.rand(5, 16, generator=g).argsort(1) < 6  # 6 hidden per row
    x = torch.randn(5, 16, 7, generator=g)
    visible, hidden = mask_indices(mask, 6)
    assert visible.shape == (5, 10) and hidden.shape == (5, 6)
    assert torch.equal(take(x, visible), x[~mask].view(5, 10, 7))
    assert torch.equal(take(x, hidden), x[mask].view(5, 6, 7))
    assert torch.equal(take(torch.arange(16).expand(5, 16), visible), visible)  # 2-D rows too


@pytest.mark.parametrize("pos_embed", ["rope", "cosine"])
def test_index_masking_is_bit_identical_to_boolean_masking(pos_embed):
    """The model as it was written with boolean indexing (the masked patch embedding, positions, the
    mask-token fill of the decoder, the loss on x[mask]): the same numbers, bit for bit, forward and
    backward."""
    torch.manual_seed(0)
    model = CroCo(micro(pos_embed=pos_embed))
    src, tgt, mask = batch(model)
    b, n, k = mask.shape[0], model.num_patches, model.num_patches - model.num_masked()
    p, cfg = model.cfg.patch_size, model.cfg

    def boolean_loss():
        keep = ~mask
        patches = tgt.reshape(b, 3, cfg.grid, p, cfg.grid, p).permute(0, 2, 4, 1, 3, 5).reshape(b, n, -1)
        w = model.patch_embed.proj.weight
        x = torch.nn.functional.linear(patches[keep].view(b, k, -1), w.reshape(w.shape[0], -1), model.patch_embed.proj.bias)
        if model.enc_pos_embed is not None:
            x = x + model.enc_pos_embed.expand(b, n, -1)[keep].view(x.shape)
        pos = model.positions.expand(b, n, 2)[keep].view(b, k, 2)
        rope = rope_tables(pos, cfg.enc_dim // cfg.enc_heads, cfg.rope_base) if pos_embed == "rope" else None
        for blk in model.enc_blocks:
            x = blk(x, rope)
        x, y = model.decoder_embed(model.enc_norm(x)), model.decoder_embed(model.encode(src))
        full = model.mask_token.expand(b, n, x.shape[-1]).clone()
        full[keep] = x.reshape(-1, x.shape[-1])
        x = full
        if model.dec_pos_embed is not None:
            x, y = x + model.dec_pos_embed, y + model.dec_pos_embed
        rope = rope_tables(model.positions, cfg.dec_dim // cfg.dec_heads, cfg.rope_base) if pos_embed == "rope" else None
        for blk in model.dec_blocks:
            x = blk(x, y, rope, rope)
        pred = model.head(model.dec_norm(x))
        target = patchify(tgt, p)[mask]
        centred = target - target.mean(-1, keepdim=True)
        target = centred * (centred.square().sum(-1, keepdim=True) / (target.shape[-1] - 1) + 1e-6).rsqrt()
        return pred, (pred[mask] - target).pow(2).mean()

    want_pred, want_loss = boolean_loss()
    pred = model(src, tgt, mask).pred
    loss = model.loss(pred, tgt, mask)
    assert torch.equal(pred, want_pred) and torch.equal(loss, want_loss)
    params = list(model.parameters())
    for ga, gb in zip(torch.autograd.grad(loss, params), torch.autograd.grad(want_loss, params)):
        assert torch.equal(ga, gb)


def test_masks_must_hide_the_same_count_everywhere():
    model = CroCo(micro())
    src, tgt, mask = batch(model)
    ragged = mask.clone()
    ragged[0] = False
    with pytest.raises(ValueError, match="same number"):
        model.loss(torch.zeros(3, 16, 192), tgt, ragged)
    assert float(model.loss(torch.zeros(3, 16, 192), tgt, torch.zeros_like(mask))) == 0.0  # nothing hidden


def _step(model: CroCo, src, tgt, mask, amp: bool):
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
        out = model(src, tgt, mask)
    loss = model.loss(out.pred, tgt, mask)
    loss.backward()
    return out.pred.float(), loss, {k: p.grad.clone() for k, p in model.named_parameters()}


@pytest.mark.slow  # a cold inductor cache compiles for tens of seconds (a warm one: a few)
@pytest.mark.parametrize("amp", [False, True], ids=["fp32", "bf16"])
def test_compiled_equals_eager(amp):
    """torch.compile'd forward + loss + backward equals eager: float32 to summation order, bf16 autocast
    to bf16 rounding (same weights, same batch and mask)."""
    torch.manual_seed(0)
    eager = CroCo(micro())
    compiled = CroCo(micro())
    compiled.load_state_dict(eager.state_dict())
    src, tgt, mask = batch(eager, b=4)
    rng = torch.get_rng_state()
    choice = compile_for_training(compiled, True, 4, torch.bfloat16 if amp else None, steps=1)
    if not choice.enabled:
        pytest.skip(f"torch.compile unavailable here: {choice.reason}")
    assert torch.equal(torch.get_rng_state(), rng)  # compiling drew no random numbers
    assert all(p.grad is None for p in compiled.parameters())  # the probe's gradients were dropped
    pa, la, ga = _step(eager, src, tgt, mask, amp)
    pb, lb, gb = _step(compiled, src, tgt, mask, amp)
    assert compiled.compiled
    tol = dict(atol=2e-2, rtol=2e-2) if amp else dict(atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(pb, pa, **tol)
    torch.testing.assert_close(lb, la, **tol)
    for k in ga:
        scale = float(ga[k].abs().max()) + 1e-12
        assert float((gb[k] - ga[k]).abs().max()) / scale < (3e-2 if amp else 1e-4), k
    # recording reads the eager explicit path: the same logits as the eager model, bit for bit
    with torch.no_grad():
        assert torch.equal(compiled.cross_attention(src, tgt, logits=True), eager.cross_attention(src, tgt, logits=True))


def test_compile_failure_falls_back_to_eager(monkeypatch):
    def broken(fn, **kw):
        def run(*args):
            raise RuntimeError("no C++ compiler")

        return run

    torch.manual_seed(0)
    model = CroCo(micro())
    src, tgt, mask = batch(model)
    want = model(src, tgt, mask).pred
    monkeypatch.setattr(torch, "compile", broken)
    with pytest.warns(UserWarning, match="no C\\+\\+ compiler"):
        choice = compile_for_training(model, True, 3, None, steps=10)
    assert not choice.enabled and not model.compiled
    assert torch.equal(model(src, tgt, mask).pred, want)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not compile_for_training(model, False, 3, None, steps=10).enabled


def test_auto_compiles_long_runs_only_and_config_values():
    cpu = torch.device("cpu")
    bf16 = torch.bfloat16
    assert auto_compile(cpu, AUTO_MIN_STEPS["cpu"], bf16)[0] and not auto_compile(cpu, AUTO_MIN_STEPS["cpu"] - 1, bf16)[0]
    assert not auto_compile(cpu, AUTO_MIN_STEPS["cpu"])[0] and auto_compile(cpu, AUTO_MIN_STEPS["cpu-fp32"])[0]  # fp32 gains less
    assert not auto_compile(torch.device("meta"), 10**6)[0]
    assert TrainConfig().model.compile == "auto"
    for text, want in (("true", True), ("false", False), ("auto", "auto")):
        assert load_config(TrainConfig, None, [f"model.compile={text}"]).model.compile == want
    with pytest.raises((ConfigError, Exception), match="compile"):
        load_config(TrainConfig, None, ["model.compile=sometimes"])
