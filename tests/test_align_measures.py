"""`slife align` with intervals and the similarity metrics beside CAS, end to end on tiny models."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from slife.align.drivers import AlignConfig, similarity
from slife.align.features import PIXELS, model_features, pixel_features, sample_cells
from slife.align.matchers import ModelMatcher, random_init_matcher
from slife.align.testset import TestSet, make_testset
from slife.cli import main
from test_align_helpers import make_plane_life, save_tiny_checkpoint, tiny_config

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def testset_path(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("measures")
    lives = [make_plane_life(root, "lifeA", seed=0)]
    return make_testset(lives, n_pairs_per_life=4, img_size=96, seed=0).save(root / "test.npz")


def test_features_of_every_layer_for_the_sampled_cells(testset_path: Path) -> None:
    ts = TestSet.load(testset_path)
    cells = sample_cells(ts, max_samples=50, seed=0)
    assert len(cells) == 50 and np.array_equal(cells, np.sort(cells)) and np.array_equal(cells, sample_cells(ts, 50, 0))
    assert np.array_equal(sample_cells(ts, 10_000), np.arange(len(ts) * ts.num_patches))
    model = random_init_matcher(tiny_config(), seed=1).model
    feats = model_features(model, ts, cells, batch_size=3)
    cfg = tiny_config()
    assert list(feats) == [f"enc{i}" for i in range(cfg.enc_depth)] + [f"dec{i}" for i in range(cfg.dec_depth)]
    assert feats["enc0"].shape == (50, cfg.enc_dim) and feats["dec0"].shape == (50, cfg.dec_dim)
    # cell c is patch c % N of pair c // N: the same as the encoder run on that pair alone
    from slife.imaging import to_tensor

    c = int(cells[7])
    pair, patch = divmod(c, ts.num_patches)
    with torch.no_grad():
        last = model.encode(to_tensor(ts.tgt[pair])[None])[0, patch]
    assert torch.allclose(model.enc_norm(feats[f"enc{cfg.enc_depth - 1}"][7]), last, atol=1e-5)
    pix = pixel_features(ts, cells)[PIXELS]
    assert pix.shape == (50, ts.patch_size**2 * 3) and float(pix.max()) <= 1.0


def test_similarity_matrix_has_the_baselines_and_a_copy_scores_one(testset_path: Path) -> None:
    ts = TestSet.load(testset_path)
    a = random_init_matcher(tiny_config(), seed=1)
    matchers = {"a": a, "copy": ModelMatcher(a.model), "b": random_init_matcher(tiny_config(), seed=2),
               "random-init": random_init_matcher(tiny_config(), seed=3)}  # fmt: skip
    report = similarity(matchers, ts, AlignConfig(metric_samples=60, metric_k=5))
    assert report["names"] == ["a", "copy", "b", "random-init", PIXELS]
    assert report["baselines"] == ["random-init", PIXELS] and report["samples"] == 60
    for metric in ("mutual_knn", "cka", "unbiased_cka", "cknna"):
        m = np.array(report[metric]["value"])
        np.testing.assert_allclose(m, m.T)
        assert (np.diag(m) == 1.0).all()
        assert m[0, 1] == pytest.approx(1.0, abs=1e-5)  # a model and its copy, at the same layer
        assert report[metric]["layers"][0][1][0] == report[metric]["layers"][0][1][1]
        assert m[0, 2] < 0.999
        grid = report[metric]["grids"]["a | b"]
        assert grid["rows"] == grid["cols"] and np.nanmax(grid["values"]) == pytest.approx(m[0, 2])
    assert report["null"]["mutual_knn"] == pytest.approx(5 / 59)


def test_cli_prints_intervals_and_metrics_and_writes_them(testset_path: Path, tmp_path: Path, capsys) -> None:
    run_a, run_b = tmp_path / "runA", tmp_path / "runB"
    save_tiny_checkpoint(run_a / "checkpoints" / "last.pt", seed=11, hours=1.0)
    save_tiny_checkpoint(run_b / "checkpoints" / "last.pt", seed=12, hours=1.0)
    out = tmp_path / "m"
    args = ["align", "matrix", str(run_a), str(run_b), "--testset", str(testset_path), "--out", str(out), "--metrics",
            "--bootstrap", "200", "--set", "metric_samples=60", "--batch-size", "4"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "cknna" in printed and "bootstrap intervals" in printed
    report = json.loads((out / "cas_matrix.json").read_text())
    m, ci = np.array(report["cas"]), np.array(report["cas_ci"])
    assert ci.shape == (len(report["names"]),) * 2 + (2,)
    off = ~np.eye(len(m), dtype=bool)
    assert (ci[..., 0][off] <= m[off] + 1e-12).all() and (m[off] <= ci[..., 1][off] + 1e-12).all()
    assert report["options"]["bootstrap"] == 200 and report["options"]["metrics"] is True
    assert report["similarity"]["names"] == ["runA", "runB", "random-init", PIXELS]
    for metric in report["similarity"]["metrics"]:  # every cell with its half-sample interval
        val, iv = np.array(report["similarity"][metric]["value"]), np.array(report["similarity"][metric]["interval"])
        other = ~np.eye(len(val), dtype=bool)
        assert iv.shape == val.shape + (2,) and (iv[..., 0][other] <= val[other] + 1e-9).all()
        assert (val[other] <= iv[..., 1][other] + 1e-9).all()
    lo, hi = report["gt_alignment_ci"]["runA"]["r1"]
    assert lo <= report["gt_alignment"]["runA"]["r1"] <= hi

    # the numbers do not depend on the intervals or the metrics being asked for
    plain = tmp_path / "plain"
    assert main(["align", "matrix", str(run_a), str(run_b), "--testset", str(testset_path), "--out", str(plain),
                 "--bootstrap", "0", "--batch-size", "4"]) == 0
    again = json.loads((plain / "cas_matrix.json").read_text())
    assert again["cas"] == report["cas"] and "cas_ci" not in again and "similarity" not in again

    capsys.readouterr()
    assert main(["align", "score", str(run_a), str(run_b), "--testset", str(testset_path), "--bootstrap", "200",
                 "--batch-size", "4"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("CAS A | B "))
    assert "[" in line and "]" in line  # 0.412 [0.39, 0.43]
