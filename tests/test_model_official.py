"""Loading official CroCo v1/v2 checkpoints, with synthetic state dicts under their exact key names."""

import argparse

import pytest
import torch

from slife.model import reference as ref
from slife.model.official import OfficialCheckpointError, load_official_croco, official_to_ours, ours_to_official
from slife.model.posenc import grid_positions
from slife.model.record import CrossAttentionRecorder


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# small dims; key names and shape rules as in the official CroCo code
IMG, P, E, ED, D, DD, MLP = 64, 16, 48, 2, 32, 2, 4


def official_state_dict(cosine: bool, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)

    def r(*shape, scale=0.1):
        return torch.randn(*shape, generator=g) * scale

    def lin(prefix, o, i, sd):
        sd[prefix + ".weight"], sd[prefix + ".bias"] = r(o, i), r(o)

    def ln(prefix, dim, sd):
        sd[prefix + ".weight"], sd[prefix + ".bias"] = 1 + r(dim), r(dim)

    n = (IMG // P) ** 2
    sd = {"patch_embed.proj.weight": r(E, 3, P, P, scale=0.05), "patch_embed.proj.bias": r(E)}
    if cosine:
        sd["enc_pos_embed"] = r(n, E, scale=1.0)  # any values: they are loaded, not recomputed
        sd["dec_pos_embed"] = r(n, D, scale=1.0)
    for i in range(ED):
        b = f"enc_blocks.{i}"
        ln(b + ".norm1", E, sd)
        lin(b + ".attn.qkv", 3 * E, E, sd)
        lin(b + ".attn.proj", E, E, sd)
        ln(b + ".norm2", E, sd)
        lin(b + ".mlp.fc1", MLP * E, E, sd)
        lin(b + ".mlp.fc2", E, MLP * E, sd)
    ln("enc_norm", E, sd)
    sd["mask_token"] = r(1, 1, D)
    lin("decoder_embed", D, E, sd)
    for i in range(DD):
        b = f"dec_blocks.{i}"
        ln(b + ".norm1", D, sd)
        lin(b + ".attn.qkv", 3 * D, D, sd)
        lin(b + ".attn.proj", D, D, sd)
        for name in ("projq", "projk", "projv", "proj"):
            lin(f"{b}.cross_attn.{name}", D, D, sd)
        ln(b + ".norm2", D, sd)
        ln(b + ".norm3", D, sd)
        ln(b + ".norm_y", D, sd)
        lin(b + ".mlp.fc1", MLP * D, D, sd)
        lin(b + ".mlp.fc2", D, MLP * D, sd)
    ln("dec_norm", D, sd)
    lin("prediction_head", P * P * 3, D, sd)
    return sd


def v2_kwargs():
    return dict(img_size=IMG, patch_size=P, enc_embed_dim=E, enc_depth=ED, enc_num_heads=4,
                dec_embed_dim=D, dec_depth=DD, dec_num_heads=2, mlp_ratio=MLP, pos_embed="RoPE100")


def test_key_mapping_roundtrip():
    sd = official_state_dict(cosine=True)
    for k in sd:
        assert ours_to_official(official_to_ours(k)) == k
    assert official_to_ours("dec_blocks.1.cross_attn.projq.weight") == "dec_blocks.1.cross_attn.q.weight"
    assert official_to_ours("dec_blocks.0.norm3.bias") == "dec_blocks.0.norm_mlp.bias"
    assert official_to_ours("prediction_head.weight") == "head.weight"


def test_v2_rope_checkpoint_file(tmp_path):
    sd = official_state_dict(cosine=False)
    path = tmp_path / "CroCo_V2_synthetic.pth"
    torch.save({"model": sd, "croco_kwargs": v2_kwargs(), "args": argparse.Namespace(lr=1.5e-4)}, path)
    model = load_official_croco(path)
    cfg = model.cfg
    assert (cfg.img_size, cfg.patch_size, cfg.enc_dim, cfg.enc_depth, cfg.enc_heads) == (IMG, P, E, ED, 4)
    assert (cfg.dec_dim, cfg.dec_depth, cfg.dec_heads, cfg.mlp_ratio) == (D, DD, 2, MLP)
    assert cfg.pos_embed == "rope" and cfg.rope_base == 100.0
    assert torch.equal(model.dec_blocks[1].cross_attn.k.weight, sd["dec_blocks.1.cross_attn.projk.weight"])
    assert torch.equal(model.dec_blocks[0].norm_mlp.weight, sd["dec_blocks.0.norm3.weight"])

    # one encoder block and one decoder block, recomputed functionally from the raw official dict
    torch.manual_seed(0)
    pos = grid_positions(4, 4).expand(2, 16, 2)
    x = torch.randn(2, 16, E)
    with torch.no_grad():
        ours = model.enc_blocks[1](x, model._rope(model.positions, E, 4))
    torch.testing.assert_close(ours, ref.encoder_block(sd, 1, x, pos, cfg), atol=1e-5, rtol=1e-5)
    xd, yd = torch.randn(2, 16, D), torch.randn(2, 16, D)
    rope = model._rope(model.positions, D, 2)
    with torch.no_grad(), CrossAttentionRecorder(model, layers=[0]) as rec:
        ours_x = model.dec_blocks[0](xd, yd, rope, rope)
    ours_attn = rec.maps()[0]
    want_x, want_attn = ref.decoder_block(sd, 0, xd, yd, pos, cfg)
    torch.testing.assert_close(ours_x, want_x, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours_attn, want_attn, atol=1e-6, rtol=1e-5)

    # and the whole forward
    src, tgt = torch.randn(2, 3, IMG, IMG), torch.randn(2, 3, IMG, IMG)
    mask = model.random_mask(2)
    with torch.no_grad():
        out = model(src, tgt, mask, return_attention=True)
    pred, maps = ref.forward(sd, cfg, src, tgt, mask)
    torch.testing.assert_close(out.pred, pred, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(out.cross_attention, maps, atol=1e-5, rtol=1e-4)


def test_v1_cosine_bare_state_dict_with_ddp_prefix():
    sd = official_state_dict(cosine=True, seed=1)
    model = load_official_croco({"model": {"module." + k: v for k, v in sd.items()}})
    cfg = model.cfg
    assert cfg.pos_embed == "cosine" and cfg.img_size == IMG  # from the enc_pos_embed table
    assert (cfg.enc_heads, cfg.dec_heads) == (1, 1)  # no croco_kwargs, not 768/512-d: 64 channels per head, at least 1
    assert torch.equal(model.enc_pos_embed, sd["enc_pos_embed"])
    assert torch.equal(model.dec_pos_embed, sd["dec_pos_embed"])
    src, tgt = torch.randn(1, 3, IMG, IMG), torch.randn(1, 3, IMG, IMG)
    mask = model.random_mask(1)
    with torch.no_grad():
        pred = model(src, tgt, mask).pred
    torch.testing.assert_close(pred, ref.forward(sd, cfg, src, tgt, mask)[0], atol=1e-4, rtol=1e-4)


def test_v1_default_heads_for_base_dims():
    from slife.model.official import official_config

    sd = {"patch_embed.proj.weight": torch.zeros(768, 3, 16, 16), "decoder_embed.weight": torch.zeros(512, 768),
          "enc_blocks.0.mlp.fc1.weight": torch.zeros(3072, 768), "prediction_head.weight": torch.zeros(768, 512),
          "enc_pos_embed": torch.zeros(196, 768), "enc_blocks.11.norm1.weight": torch.zeros(768),
          "dec_blocks.7.norm1.weight": torch.zeros(512)}
    cfg = official_config(sd)
    assert (cfg.img_size, cfg.enc_depth, cfg.enc_heads, cfg.dec_depth, cfg.dec_heads) == (224, 12, 12, 8, 16)


def test_strict_errors_name_the_file(tmp_path):
    sd = official_state_dict(cosine=False)
    del sd["dec_blocks.1.norm_y.weight"]
    sd["dec_blocks.0.extra.weight"] = torch.zeros(3)
    sd["dec_blocks.0.cross_attn.projv.bias"] = torch.zeros(7)
    path = tmp_path / "broken.pth"
    torch.save({"model": sd, "croco_kwargs": v2_kwargs()}, path)
    with pytest.raises(OfficialCheckpointError) as err:
        load_official_croco(path)
    msg = str(err.value)
    assert msg.startswith(str(path))
    assert "dec_blocks.1.norm_y.weight" in msg and "dec_blocks.0.extra.weight" in msg
    assert "dec_blocks.0.cross_attn.projv.bias (7,)" in msg

    kw = {**v2_kwargs(), "enc_embed_dim": 64}
    torch.save({"model": official_state_dict(cosine=False), "croco_kwargs": kw}, path)
    with pytest.raises(OfficialCheckpointError, match="enc_embed_dim=64 but the weights have 48"):
        load_official_croco(path)

    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(OfficialCheckpointError, match="junk.pth: cannot read"):
        load_official_croco(tmp_path / "junk.pth")
    with pytest.raises(OfficialCheckpointError, match="not found"):
        load_official_croco(tmp_path / "missing.pth")
    with pytest.raises(OfficialCheckpointError, match="not a CroCo state dict"):
        load_official_croco({"model": {"foo.weight": torch.zeros(1)}})
