"""CAS on real (tiny, untrained) CroCo models, and the `slife align` commands end to end."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from slife.align.analysis import AttentionCache, alignment_matrix, emergence_curve, gt_alignment
from slife.align.cas import cas, cas_per_layer
from slife.align.matchers import ModelMatcher, checkpoint_matcher, random_init_matcher
from slife.align.testset import TestSet, make_testset
from slife.cli import main
from test_align_helpers import make_plane_life, save_tiny_checkpoint, tiny_config


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def testset_path(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("align")
    lives = [make_plane_life(root, "lifeA", seed=0), make_plane_life(root, "lifeB", seed=1)]
    return make_testset(lives, n_pairs_per_life=4, img_size=96, seed=0).save(root / "test.npz")


@pytest.fixture(scope="module")
def testset(testset_path) -> TestSet:
    return TestSet.load(testset_path)


def test_real_model_with_itself_is_exactly_one(testset: TestSet) -> None:
    source = random_init_matcher(tiny_config(), seed=3, batch_size=3)
    a = source.attention(testset)
    b = source.attention(testset)
    assert a.shape == (8, 36, 36)
    torch.testing.assert_close(a.sum(-1), torch.ones(8, 36))
    assert cas(a, b) == 1.0
    # invariance: positive scaling and monotone transforms of a real map
    other = random_init_matcher(tiny_config(), seed=4).attention(testset)
    ref = cas(a, other)
    assert 0.0 < ref < 1.0
    assert cas(a * 1000.0, other) == ref
    assert cas(a.log(), other.sqrt()) == ref


def test_symmetry_of_two_random_init_models_and_seeding(testset: TestSet) -> None:
    rng_state = torch.get_rng_state()
    s1 = random_init_matcher(tiny_config(), seed=1)
    assert torch.equal(torch.get_rng_state(), rng_state)  # the global RNG is left alone
    a = s1.attention(testset)
    b = random_init_matcher(tiny_config(), seed=2).attention(testset)
    assert torch.equal(random_init_matcher(tiny_config(), seed=1).attention(testset), a)
    assert cas(a, b) == cas(b, a)
    per_layer_a = s1.attention(testset, per_layer=True)
    assert per_layer_a.shape == (2, 8, 36, 36)  # tiny decoder depth 2
    torch.testing.assert_close(per_layer_a.mean(0), a)
    layers = cas_per_layer(per_layer_a, random_init_matcher(tiny_config(), seed=2).attention(testset, per_layer=True))
    assert layers.shape == (2,) and ((layers >= 0) & (layers <= 1)).all()


def test_checkpoint_source_matches_the_in_memory_model(testset: TestSet, tmp_path) -> None:
    path = save_tiny_checkpoint(tmp_path / "m.pt", seed=5, hours=0.5)
    from slife.model.checkpoint import load_model

    model, _ = load_model(path)
    a = ModelMatcher(model, batch_size=8).attention(testset)
    b = checkpoint_matcher(path).attention(testset)
    assert cas(a, b) == 1.0
    names, m = alignment_matrix({"ckpt": checkpoint_matcher(path), "mem": ModelMatcher(model)}, testset)
    assert names == ["ckpt", "mem"] and m.tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert 0.0 <= gt_alignment(a, testset, r=1) <= 1.0


def test_cache_computes_each_source_once(testset: TestSet) -> None:
    calls = []

    class Counting:
        name = "counting"

        def attention(self, ts, per_layer=False):
            calls.append(per_layer)
            return torch.rand(len(ts), ts.num_patches, ts.num_patches)

    cache = AttentionCache(testset, k=5)
    src = Counting()
    names, m = alignment_matrix({"a": src, "b": random_init_matcher(tiny_config(), 0)}, testset, cache=cache)
    alignment_matrix({"a": src}, testset, cache=cache)
    assert calls == [False]


def test_cli_matrix_and_score(testset_path: Path, tmp_path: Path, capsys) -> None:
    run_a, run_b = tmp_path / "runA", tmp_path / "runB"
    save_tiny_checkpoint(run_a / "checkpoints" / "last.pt", seed=11, hours=1.0)
    save_tiny_checkpoint(run_b / "checkpoints" / "last.pt", seed=12, hours=1.0)
    copy = tmp_path / "copyA.pt"
    copy.write_bytes((run_a / "checkpoints" / "last.pt").read_bytes())
    out = tmp_path / "matrix"
    args = ["align", "matrix", str(run_a), str(run_b), str(copy), "--testset", str(testset_path),
            "--out", str(out), "--per-layer", "--batch-size", "4"]
    assert main(args) == 0
    report = json.loads((out / "cas_matrix.json").read_text())
    assert (out / "cas_matrix.png").stat().st_size > 10_000
    assert report["names"] == ["runA", "runB", "copyA", "random-init", "identity", "pixel-match", "pixel-ncc", "ground-truth"]
    assert report["baselines"] == ["random-init", "identity", "pixel-match", "pixel-ncc", "ground-truth"]
    assert set(report["cas_moving_by_correctness"]) == {"runA | runB", "runA | copyA", "runB | copyA"}
    copy_split = report["cas_moving_by_correctness"]["runA | copyA"]  # a copy is right exactly where A is
    assert copy_split["one"]["share"] in (0.0, None) and all(v["cas"] in (1.0, None) for v in copy_split.values())
    m = np.array(report["cas"])
    np.testing.assert_array_equal(m, m.T)
    assert (np.diag(m) == 1.0).all() and ((m >= 0) & (m <= 1)).all()
    assert m[0, 2] == 1.0  # a model and its copy
    assert m[0, 1] < 1.0
    assert report["chance"] == pytest.approx(5 / 36)
    assert set(report["gt_alignment"]) == set(report["names"])
    assert set(report["gt_alignment"]["identity"]) == {"r0", "r1", "moving_r0", "moving_r1"}
    assert len(report["cas_per_layer"]["runA | runB"]) == 2
    assert "chance k/N" in capsys.readouterr().out

    assert main(["align", "score", str(run_a), str(copy), "--testset", str(testset_path), "--json", "--k", "3"]) == 0
    score = json.loads(capsys.readouterr().out)
    assert score["cas"]["A | B"] == 1.0 and score["chance"] == pytest.approx(3 / 36)
    assert {"A | random-init", "A | identity"} <= set(score["cas"])


def test_cli_emergence_and_api(testset_path: Path, testset: TestSet, tmp_path: Path) -> None:
    run, ref = tmp_path / "run", tmp_path / "ref"
    for i, hours in enumerate([0.05, 0.5, 2.0]):
        save_tiny_checkpoint(run / "checkpoints" / f"hours_{hours:g}.pt", seed=20 + i, hours=hours)
    ref_ckpt = save_tiny_checkpoint(ref / "checkpoints" / "last.pt", seed=21, hours=2.0)  # = the 0.5 h model
    out = tmp_path / "em"
    assert main(["align", "emergence", str(run), "--reference", str(ref), "--testset", str(testset_path),
                 "--out", str(out)]) == 0
    report = json.loads((out / "emergence.json").read_text())
    assert (out / "emergence.png").stat().st_size > 10_000
    assert [p["hours"] for p in report["points"]] == [0.05, 0.5, 2.0]
    values = [p["cas"] for p in report["points"]]
    assert values[1] == 1.0 and values[0] < 1.0 and values[2] < 1.0
    assert set(report["baselines"]) == {f"{n} vs reference" for n in ("random-init", "identity", "pixel-match", "pixel-ncc", "ground-truth")}
    assert "r1" in report["points"][0]["gt_alignment"] and report["chance"] == pytest.approx(5 / 36)
    curve = emergence_curve(run, ref_ckpt, testset)
    assert [h for h, _ in curve] == [0.05, 0.5, 2.0] and curve[1][1] == 1.0


def test_cli_rejects_a_test_set_of_another_size(testset_path: Path, tmp_path: Path, capsys) -> None:
    ckpt = save_tiny_checkpoint(tmp_path / "big.pt", seed=0, img_size=128)
    assert main(["align", "score", str(ckpt), str(ckpt), "--testset", str(testset_path)]) == 2
    err = capsys.readouterr().err
    assert "img_size=96" in err and "img_size=128" in err and str(testset_path) in err
