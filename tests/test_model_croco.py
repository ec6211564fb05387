"""CroCo model: shapes, masking, loss, attention paths, training, variants, config."""

import pytest
import torch

from slife.errors import SlifeError
from slife.model import reference as ref
from slife.model.config import SIZES, ModelConfig, model_config
from slife.model.croco import CroCo, patchify, unpatchify
from slife.model.layers import attend
from slife.model.official import ours_to_official, to_official_state_dict


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def micro(**kw) -> ModelConfig:
    base = dict(img_size=64, patch_size=16, enc_dim=32, enc_depth=2, enc_heads=2, dec_dim=32, dec_depth=2, dec_heads=2)
    return ModelConfig(**{**base, **kw})


def images(b=2, size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 3, size, size, generator=g), torch.randn(b, 3, size, size, generator=g)


@pytest.fixture(params=["rope", "cosine"])
def model(request):
    torch.manual_seed(0)
    return CroCo(micro(pos_embed=request.param)).eval()


def test_shapes_and_mask_count(model):
    src, tgt = images(3)
    out = model(src, tgt)
    assert out.pred.shape == (3, 16, 16 * 16 * 3)
    assert out.mask.shape == (3, 16) and out.mask.dtype == torch.bool
    assert out.mask.sum(1).tolist() == [round(0.9 * 16)] * 3  # 14 of 16
    assert out.cross_attention is None
    assert model.encode(tgt, out.mask).shape == (3, 2, 32)
    assert model.encode(src).shape == (3, 16, 32)
    assert model.patch_grid == (4, 4) and model.num_patches == 16


def test_random_mask_is_random_per_sample_and_reproducible():
    m = CroCo(micro(img_size=128, mask_ratio=0.75))
    mask = m.random_mask(8, generator=torch.Generator().manual_seed(3))
    assert (mask.sum(1) == 48).all()
    assert len({tuple(r.tolist()) for r in mask}) == 8
    again = m.random_mask(8, generator=torch.Generator().manual_seed(3))
    assert torch.equal(mask, again)


def test_prediction_ignores_hidden_target_pixels(model):
    src, tgt = images(2)
    mask = model.random_mask(2, generator=torch.Generator().manual_seed(0))
    tgt2 = tgt.clone()
    hidden_pixels = unpatchify(mask[..., None].float().expand(-1, -1, 768), 16, (4, 4)).bool()
    tgt2[hidden_pixels] = torch.randn(int(hidden_pixels.sum()))
    with torch.no_grad():
        a, b = model(src, tgt, mask).pred, model(src, tgt2, mask).pred
        c = model(src, tgt2, torch.zeros_like(mask)).pred
    torch.testing.assert_close(a, b)
    assert (a - c).abs().max() > 1e-3  # with nothing hidden the changed pixels matter


def test_patchify_roundtrip_and_order():
    img = torch.arange(2 * 3 * 32 * 32, dtype=torch.float32).reshape(2, 3, 32, 32)
    p = patchify(img, 16)
    assert p.shape == (2, 4, 768)
    # patch 1 = row 0, col 1; element (row 2, col 5, channel 1)
    assert p[0, 1, (2 * 16 + 5) * 3 + 1] == img[0, 1, 2, 16 + 5]
    torch.testing.assert_close(unpatchify(p, 16, (2, 2)), img)


def test_loss_hand_computed():
    m = CroCo(micro(img_size=32))  # 4 patches of 768 values
    tgt = torch.randn(1, 3, 32, 32)
    pred = torch.randn(1, 4, 768)
    mask = torch.tensor([[True, False, True, False]])
    patches = patchify(tgt, 16)
    want = 0.0
    for n in (0, 2):
        x = patches[0, n].double()
        mu = x.sum() / 768
        var = ((x - mu) ** 2).sum() / 767
        t = (x - mu) / (var + 1e-6).sqrt()
        want += float(((pred[0, n].double() - t) ** 2).mean()) / 2
    assert abs(float(m.loss(pred, tgt, mask)) - want) < 1e-5
    # only hidden patches count
    pred2 = pred.clone()
    pred2[0, 1] += 100.0
    assert float(m.loss(pred2, tgt, mask)) == pytest.approx(float(m.loss(pred, tgt, mask)))
    raw = CroCo(micro(img_size=32, norm_pix_loss=False))
    want_raw = float(((pred[0, [0, 2]] - patches[0, [0, 2]]) ** 2).mean())
    assert float(raw.loss(pred, tgt, mask)) == pytest.approx(want_raw, rel=1e-5)


def test_pooled_target_loss_is_todays_at_1_and_hand_computed_at_2():
    """data.pooled_target: pool 1 is the loss as before (bit for bit); pool 2 compares 2 x 2 block
    means of prediction and target, the target normalised after pooling (hand-computed here)."""
    m = CroCo(micro(img_size=8, patch_size=4))  # 4 patches of 4 x 4 x 3 = 48 values
    g = torch.Generator().manual_seed(3)
    tgt = torch.randn(1, 3, 8, 8, generator=g)
    pred = torch.randn(1, 4, 48, generator=g)
    mask = torch.tensor([[False, True, True, False]])
    assert torch.equal(m.loss(pred, tgt, mask, pool=1), m.loss(pred, tgt, mask))
    want = 0.0
    for n, (py, px) in ((1, (0, 4)), (2, (4, 0))):  # patch 1 = row 0, col 1; patch 2 = row 1, col 0
        loss_n = []
        for r in range(2):
            for c in range(2):
                for ch in range(3):
                    t = float(tgt[0, ch, py + 2 * r : py + 2 * r + 2, px + 2 * c : px + 2 * c + 2].double().mean())
                    # the predicted pixel (row i, col j, channel ch) of the patch is pred[.., (i * 4 + j) * 3 + ch]
                    q = sum(float(pred[0, n, ((2 * r + i) * 4 + 2 * c + j) * 3 + ch]) for i in (0, 1) for j in (0, 1)) / 4
                    loss_n.append((t, q))
        ts = torch.tensor([t for t, _ in loss_n], dtype=torch.float64)
        qs = torch.tensor([q for _, q in loss_n], dtype=torch.float64)
        mu, var = ts.mean(), ((ts - ts.mean()) ** 2).sum() / 11  # 12 pooled values, unbiased
        want += float(((qs - (ts - mu) / (var + 1e-6).sqrt()) ** 2).mean()) / 2
    assert float(m.loss(pred, tgt, mask, pool=2)) == pytest.approx(want, rel=1e-5)
    # pool = patch size: one value per channel (the patch's mean colour)
    assert torch.isfinite(m.loss(pred, tgt, mask, pool=4))
    with pytest.raises(ValueError, match="divide the patch size"):
        m.loss(pred, tgt, mask, pool=3)


def test_fused_and_explicit_paths_agree(model):
    src, tgt = images(2)
    mask = model.random_mask(2)
    with torch.no_grad():
        fused = model(src, tgt, mask)
        explicit = model(src, tgt, mask, return_attention=True)
    torch.testing.assert_close(fused.pred, explicit.pred, atol=1e-5, rtol=1e-5)
    assert explicit.cross_attention.shape == (2, 2, 2, 16, 16)


def test_cross_attention_rows_sum_to_one(model):
    src, tgt = images(2)
    with torch.no_grad():
        maps = model.cross_attention(src, tgt)
    assert maps.shape == (2, 2, 2, 16, 16) and maps.dtype == torch.float32
    torch.testing.assert_close(maps.sum(-1), torch.ones(2, 2, 2, 16))
    assert (maps >= 0).all()
    assert maps.std() > 0  # not uniform


def test_matches_functional_reference(model):
    src, tgt = images(2, seed=4)
    mask = model.random_mask(2)
    with torch.no_grad():
        out = model(src, tgt, mask, return_attention=True)
        pred, maps = ref.forward(to_official_state_dict(model), model.cfg, src, tgt, mask)
    torch.testing.assert_close(out.pred, pred, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(out.cross_attention, maps, atol=1e-5, rtol=1e-4)
    assert float(model.loss(out.pred, tgt, mask)) == pytest.approx(float(ref.loss(model.cfg, pred, tgt, mask)), rel=1e-5)


def test_gradients_match_functional_reference(model):
    """The training step's gradients (fused attention, visible-only patch embedding, two-pass
    patch normalisation) equal those of the straightforward reference on the same weights."""
    src, tgt = images(2, seed=5)
    mask = model.random_mask(2, generator=torch.Generator().manual_seed(3))
    model.zero_grad(set_to_none=True)
    model.loss(model(src, tgt, mask).pred, tgt, mask).backward()
    params = {k: v.detach().clone().requires_grad_(v.dtype.is_floating_point and not k.endswith("pos_embed"))
              for k, v in to_official_state_dict(model).items()}
    pred, _ = ref.forward(params, model.cfg, src, tgt, mask)
    ref.loss(model.cfg, pred, tgt, mask).backward()
    ours = {ours_to_official(k): p.grad for k, p in model.named_parameters()}
    compared = [k for k, p in params.items() if p.grad is not None]
    assert "patch_embed.proj.weight" in compared and "mask_token" in compared and len(compared) > 40
    for k in compared:
        torch.testing.assert_close(ours[k], params[k].grad, atol=2e-5, rtol=1e-3, msg=k)


def test_reduced_precision_attention_on_cpu_matches_fused():
    """bf16 on CPU takes the explicit product (PyTorch's CPU flash kernel is slow there): same values,
    same gradients as the fused kernel up to bf16 rounding."""
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 4, 64, 32, generator=g) for _ in range(3))
    want = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    leaves = [t.bfloat16().requires_grad_() for t in (q, k, v)]
    out = attend(*leaves)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), want, atol=3e-2, rtol=0)
    out.float().square().sum().backward()
    fp32 = [t.clone().requires_grad_() for t in (q, k, v)]
    torch.nn.functional.scaled_dot_product_attention(*fp32).square().sum().backward()
    for a, b in zip(leaves, fp32):
        assert torch.nn.functional.cosine_similarity(a.grad.float().flatten(), b.grad.flatten(), dim=0) > 0.999


def test_source_tokens_not_updated_by_decoder(model):
    src, tgt = images(2)
    seen = []
    hooks = [blk.norm_y.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].clone())) for blk in model.dec_blocks]
    with torch.no_grad():
        model(src, tgt)
        expected = model.decoder_embed(model.encode(src))
        if model.dec_pos_embed is not None:
            expected = expected + model.dec_pos_embed
    for h in hooks:
        h.remove()
    assert len(seen) == 2
    for y in seen:
        torch.testing.assert_close(y, expected)


def test_one_optimizer_step_reduces_loss():
    torch.manual_seed(0)
    m = CroCo(micro()).train()
    src, tgt = images(4)
    mask = m.random_mask(4, generator=torch.Generator().manual_seed(1))
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
    losses = []
    for _ in range(2):
        loss = m.loss(m(src, tgt, mask).pred, tgt, mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[1] < losses[0]
    assert all(p.grad is not None for n, p in m.named_parameters()), "every parameter gets a gradient"


def test_bf16_autocast_cpu(model):
    src, tgt = images(2)
    mask = model.random_mask(2)
    with torch.no_grad():
        full = model(src, tgt, mask).pred
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(src, tgt, mask)
        loss = model.loss(out.pred, tgt, mask)
        maps = model.cross_attention(src, tgt)
    assert out.pred.dtype == torch.bfloat16 and loss.dtype == torch.float32
    assert torch.isfinite(loss)
    assert (out.pred.float() - full).abs().max() < 0.25
    torch.testing.assert_close(maps.sum(-1), torch.ones_like(maps.sum(-1)), atol=1e-3, rtol=0)


def test_init_matches_recipe():
    m = CroCo(model_config("tiny"))
    assert m.dec_blocks[0].cross_attn.q.bias.abs().sum() == 0
    w = m.enc_blocks[0].mlp.fc1.weight
    bound = (6 / (w.shape[0] + w.shape[1])) ** 0.5
    assert w.abs().max() <= bound and w.abs().max() > 0.9 * bound
    assert 0.01 < float(m.mask_token.detach().std()) < 0.03
    assert m.enc_blocks[0].norm1.eps == 1e-6


def test_sizes_and_config_errors():
    assert set(SIZES) == {"tiny", "small", "base", "large"}
    base = model_config("base")
    assert (base.enc_dim, base.enc_depth, base.enc_heads, base.dec_dim, base.dec_depth, base.dec_heads) == (768, 12, 12, 512, 8, 16)
    assert base.num_patches == 196 and round(base.mask_ratio * 196) == 176
    large = model_config("large", pos_embed="cosine")
    assert (large.enc_dim, large.enc_depth, large.dec_dim, large.dec_depth) == (1024, 24, 768, 12)
    assert large.pos_embed == "cosine"
    with pytest.raises(SlifeError, match="unknown size"):
        model_config("huge")
    with pytest.raises(SlifeError, match="unknown field"):
        model_config("tiny", depth=3)
    with pytest.raises(SlifeError, match="not a multiple"):
        ModelConfig(img_size=100)
    with pytest.raises(SlifeError, match="divisible by 4"):
        ModelConfig(enc_dim=120, enc_heads=4)  # head dim 30
    with pytest.raises(SlifeError, match="pos_embed"):
        ModelConfig(pos_embed="learned")


def test_bad_inputs_raise():
    m = CroCo(micro())
    src, tgt = images(2)
    with pytest.raises(ValueError, match="shape"):
        m(src[:, :, :32], tgt)
    bad = torch.zeros(2, 16, dtype=torch.bool)
    bad[0, :3] = True
    with pytest.raises(ValueError, match="same number"):
        m(src, tgt, bad)


@pytest.mark.parametrize("pos_embed", ["rope", "cosine"])
def test_checkpoint_roundtrip(tmp_path, pos_embed):
    from slife.config import to_dict
    from slife.model.checkpoint import load_model, save_checkpoint

    m = CroCo(micro(pos_embed=pos_embed)).eval()
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"model_config": to_dict(m.cfg), "model": m.state_dict(), "step": 3})
    loaded, meta = load_model(path)
    assert loaded.cfg == m.cfg and meta["step"] == 3
    src, tgt = images(1)
    mask = m.random_mask(1)
    with torch.no_grad():
        torch.testing.assert_close(loaded(src, tgt, mask).pred, m(src, tgt, mask).pred)


def test_base_size_forward_shapes():
    torch.manual_seed(0)
    m = CroCo(model_config("base")).eval()
    src, tgt = images(1, size=224)
    with torch.no_grad():
        out = m(src, tgt)
    assert out.pred.shape == (1, 196, 768)
    assert int(out.mask.sum()) == 176
    assert torch.isfinite(out.pred).all()
