"""CAS as the paper writes it: pre-softmax logits, layers, heads, direction; recorded in every result."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from slife.align.analysis import AttentionCache, ranked_cas, ranked_cas_per_pair
from slife.align.cas import cas_per_pair
from slife.align.drivers import AlignConfig
from slife.align.matchers import IdentityMatcher, OracleMatcher, PixelMatcher, ReadProtocol, model_attention
from slife.align.testset import TestSet, inverse_gt
from slife.cli import main
from slife.config import ConfigError, load_config
from slife.errors import SlifeError
from slife.model.config import ModelConfig
from slife.model.croco import CroCo
from slife.imaging import to_tensors

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _model(seed: int = 0) -> CroCo:
    torch.manual_seed(seed)
    cfg = ModelConfig(img_size=32, patch_size=8, enc_dim=32, enc_depth=1, enc_heads=2, dec_dim=32, dec_depth=2, dec_heads=2)
    return CroCo(cfg).eval()


def _testset(pairs: int = 3, gt: bool = True) -> TestSet:
    rng = np.random.default_rng(0)
    src = rng.integers(0, 256, (pairs, 32, 32, 3), dtype=np.uint8)
    tgt = np.roll(src, 8, axis=2)  # target = source moved right by one patch
    g = 4
    rows, cols = np.divmod(np.arange(g * g), g)
    truth = np.where(cols >= 1, rows * g + cols - 1, -1)
    z = np.zeros(pairs, np.int64)
    return TestSet(src=src, tgt=tgt, patch_size=8, life=np.array(["x"] * pairs), src_index=z, tgt_index=z + 1,
                   src_time=z.astype(float), tgt_time=z + 1.0, video=z, gt=np.tile(truth, (pairs, 1)) if gt else None)


@pytest.mark.parametrize("name", ["unmasked", "masked"])
def test_default_reading_is_the_softmax_map_averaged_over_all_layers_and_heads(name: str) -> None:
    model, ts = _model(), _testset()
    proto = ReadProtocol(name, 2, 1)
    default = model_attention(model, ts, per_layer=True, protocol=proto)
    explicit = ReadProtocol(name, 2, 1, "softmax", (0, 1), (0, 1))
    assert torch.equal(model_attention(model, ts, per_layer=True, protocol=explicit), default)
    if name == "unmasked":  # the formula before the options existed: return_attention's maps, heads averaged
        with torch.no_grad():
            mask = torch.zeros(3, 16, dtype=torch.bool)
            old = model(to_tensors(ts.src), to_tensors(ts.tgt), mask, return_attention=True).cross_attention
        assert torch.equal(default, old.float().mean(dim=2))
    assert AlignConfig().read_protocol().label == "masked x8"  # reports read exactly as before


def test_pre_softmax_reading_averages_the_query_key_logits() -> None:
    model, ts = _model(), _testset()
    src, tgt = to_tensors(ts.src), to_tensors(ts.tgt)
    with torch.no_grad():
        logits = model.cross_attention(src, tgt, logits=True)  # (L, B, H, N, N)
    pre = model_attention(model, ts, per_layer=True, protocol=ReadProtocol(logits="pre-softmax"))
    torch.testing.assert_close(pre, logits.mean(dim=2), rtol=0, atol=0)
    torch.testing.assert_close(model.cross_attention(src, tgt), logits.softmax(-1), rtol=0, atol=0)
    soft = model_attention(model, ts, protocol=ReadProtocol())
    assert not torch.allclose(pre.mean(0), soft)  # logits are not probabilities
    # one layer and one head: softmax is monotone per row, so the ranking and CAS are the same
    one = dict(layers=(1,), heads=(0,))
    a = model_attention(model, ts, protocol=ReadProtocol(logits="pre-softmax", **one))
    b = model_attention(model, ts, protocol=ReadProtocol(**one))
    torch.testing.assert_close(a, logits[1, :, 0], rtol=0, atol=0)
    assert (cas_per_pair(a, b, k=3) == 1.0).all()
    # averaging over heads and layers before vs after the softmax changes which patches rank first
    other = model_attention(_model(1), ts, protocol=ReadProtocol(logits="pre-softmax"))
    other_soft = model_attention(_model(1), ts, protocol=ReadProtocol())
    assert cas_per_pair(pre.mean(0), other, 3).mean() != cas_per_pair(soft, other_soft, 3).mean()


def test_layers_and_heads_pick_those_maps_and_out_of_range_is_an_error() -> None:
    model, ts = _model(), _testset()
    src, tgt = to_tensors(ts.src), to_tensors(ts.tgt)
    with torch.no_grad():
        maps = model.cross_attention(src, tgt)
    got = model_attention(model, ts, per_layer=True, protocol=ReadProtocol(layers=(1,), heads=(1,)))
    assert torch.equal(got, maps[1:2, :, 1])
    with pytest.raises(SlifeError, match="layers"):
        model_attention(model, ts, protocol=ReadProtocol(layers=(2,)))
    with pytest.raises(SlifeError, match="heads"):
        model_attention(model, ts, protocol=ReadProtocol(heads=(0, 5)))
    for bad in (dict(layers=()), dict(heads=(1, 1)), dict(layers=(-1,)), dict(logits="log"), dict(name="x")):
        with pytest.raises(SlifeError):
            ReadProtocol(**bad)
    assert ReadProtocol("masked", 4, 0, "pre-softmax", (0,), (1, 0)).label == "masked x4, pre-softmax, layers 0, heads 1,0"


def test_inverse_ground_truth_by_hand() -> None:
    # 2 x 2 grid; target patches 0 and 1 both see source patch 3, target 2 sees source 0, target 3 nothing
    gt = np.array([[3, 3, 0, -1]])
    assert inverse_gt(gt, 2).tolist() == [[2, -1, -1, 0]]  # tie between 0 and 1 (same distance): lower index
    ts = _testset()
    sw = ts.swapped()
    assert np.array_equal(sw.src, ts.tgt) and np.array_equal(sw.tgt, ts.src) and sw.tgt_time[0] == 0.0
    g = 4
    rows, cols = np.divmod(np.arange(g * g), g)
    assert sw.gt[0].tolist() == np.where(cols <= 2, rows * g + cols + 1, -1).tolist()  # moved back left
    assert np.array_equal(sw.swapped().src, ts.src)


def test_direction_source_reads_the_swapped_pass_and_both_averages_the_two() -> None:
    ts = _testset()
    pix, ident, oracle = PixelMatcher(), IdentityMatcher(), OracleMatcher()
    target, source, both = (AttentionCache(ts, 3, direction=d) for d in ("target", "source", "both"))
    # pixel matching is exact on this whole-patch shift in both directions, so it agrees with the oracle
    # on the patches with GT; the identity is off by one patch everywhere
    per = {d: ranked_cas_per_pair(c.get("pix", pix), c.get("id", ident)) for d, c in
           (("target", target), ("source", source), ("both", both))}
    np.testing.assert_allclose(per["both"], (per["target"] + per["source"]) / 2)
    want_source = cas_per_pair(pix.attention(ts.swapped()), ident.attention(ts.swapped()), 3)
    np.testing.assert_array_equal(per["source"], want_source)
    # GT rows stay the target's: CAS restricted to target patches is the same in every direction
    where = ts.gt >= 0
    values = {ranked_cas(c.get("pix", pix), c.get("o", oracle), where)[0] for c in (target, source, both)}
    assert len(values) == 1
    # top-1 of the swapped pass: pixel matching finds the wrapped shift; the inverse-GT oracle agrees on
    # the 12 source patches some target patch sees and falls back to the identity on the last column
    top1 = AttentionCache(ts, 1, direction="source")
    assert ranked_cas(top1.get("pix", pix), top1.get("o", oracle))[0] == 0.75
    no_gt = AttentionCache(_testset(gt=False), 3, direction="source").get("id", ident)
    assert no_gt.sets is None and no_gt.swapped is not None  # target rows are not read when nothing needs them
    with pytest.raises(SlifeError, match="direction"):
        AttentionCache(ts, 3, direction="sideways")


def test_align_config_validates_and_the_cli_records_the_options(tmp_path: Path, capsys) -> None:
    cfg = load_config(AlignConfig, None, ["layers=[1]", "heads=[0, 1]", "logits=pre-softmax", "direction=both"])
    assert cfg.layers == (1,) and cfg.heads == (0, 1) and cfg.read_protocol().logits == "pre-softmax"
    for bad in (["direction=up"], ["logits=raw"], ["layers=[0, 0]"], ["k=0"], ["bootstrap=-1"]):
        with pytest.raises((ConfigError, SlifeError)):
            load_config(AlignConfig, None, bad)
    from test_align_helpers import save_tiny_checkpoint

    ts_path = _tiny_testset(tmp_path)
    a, b = save_tiny_checkpoint(tmp_path / "a.pt", seed=1), save_tiny_checkpoint(tmp_path / "b.pt", seed=2)
    args = ["align", "score", str(a), str(b), "--testset", str(ts_path), "--json", "--k", "3", "--logits", "pre-softmax",
            "--layers", "1", "--direction", "source", "--batch-size", "4", "--bootstrap", "0"]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["options"]["logits"] == "pre-softmax" and result["options"]["layers"] == [1]
    assert result["options"]["direction"] == "source" and result["options"]["k"] == 3
    assert result["protocol"] == "masked x8, pre-softmax, layers 1"
    assert 0.0 <= result["cas"]["A | B"] <= 1.0


def _tiny_testset(root: Path) -> Path:
    from test_align_helpers import make_plane_life
    from slife.align.testset import make_testset

    lives = [make_plane_life(root, "lifeA", seed=0)]
    return make_testset(lives, n_pairs_per_life=3, img_size=96, seed=0).save(root / "test.npz")
