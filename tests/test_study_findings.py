"""The paper's findings 2 and 3 computed from known matrices and downstream rows."""

from __future__ import annotations

import numpy as np
import pytest

from slife.study.findings import family_order, family_structure, plot_dendrogram, plot_transfer, transfer

LIVES = ["k1", "s1", "k2", "s2"]
FAMILIES = {"k1": "kitchen", "k2": "kitchen", "s1": "street", "s2": "street", "div": "diverse"}


def report(within: float, across: float, diverse: float = 0.5) -> dict:
    names = [*LIVES, "div", "identity"]
    m = np.full((6, 6), 0.1)
    for i, a in enumerate(LIVES):
        for j, b in enumerate(LIVES):
            m[i, j] = 1.0 if i == j else (within if FAMILIES[a] == FAMILIES[b] else across)
        m[i, 4] = m[4, i] = diverse
    m[4, 4] = m[5, 5] = 1.0
    return {"names": names, "cas": m.tolist(), "chance": 0.08, "baselines": ["identity"]}


def test_block_diagonal_matrix_reproduces_finding_2_and_clusters_by_family() -> None:
    f = family_structure(report(0.6, 0.4), LIVES, FAMILIES, {"div": "diverse"}, seed_spread=0.05)
    assert f["within_family"] == pytest.approx(0.6) and f["across_family"] == pytest.approx(0.4)
    assert (f["within_pairs"], f["across_pairs"]) == (2, 4)
    assert f["diverse"] == {"div": pytest.approx(0.5)}
    assert f["order"][:4] == ["k1", "k2", "s1", "s2"] and f["order"][4:] == ["div", "identity"]
    order = f["clustering"]["order"]
    assert {tuple(sorted(order[:2])), tuple(sorted(order[2:]))} == {("k1", "k2"), ("s1", "s2")}
    assert f["sentence"].startswith("Finding 2 (family structure) reproduced") and "by family" in f["sentence"]


def test_flat_or_noisy_matrix_does_not_reproduce_finding_2() -> None:
    flat = family_structure(report(0.5, 0.5), LIVES, FAMILIES, {}, seed_spread=0.01)
    assert "not reproduced" in flat["sentence"]
    small = family_structure(report(0.52, 0.5), LIVES, FAMILIES, {}, seed_spread=0.05)  # within the seed spread
    assert "not reproduced" in small["sentence"]
    noisy = report(0.6, 0.4)
    noisy["margins"] = {"within_minus_across": [0.2, -0.05, 0.4]}  # beyond the seed spread, not beyond the pairs' noise
    unsure = family_structure(noisy, LIVES, FAMILIES, {}, seed_spread=0.01)
    assert "not established" in unsure["sentence"] and "[-0.050, 0.400]" in unsure["sentence"]
    one_seed = family_structure(report(0.6, 0.4), LIVES, FAMILIES, {})
    assert "not established" in one_seed["sentence"]
    one_family = family_structure(report(0.6, 0.4), ["k1", "k2"], FAMILIES, {}, seed_spread=0.01)
    assert "cannot be told" in one_family["sentence"]


def test_finding_2_by_the_feature_metrics_is_stated_beside_cas() -> None:
    rep = report(0.6, 0.4)
    rep["similarity"] = {"metrics": ["mutual_knn", "cka"],
                         "mutual_knn": {"contrasts": {"within family - across families": [0.04, 0.02, 0.06]}},
                         "cka": {"contrasts": {"within family - across families": [0.01, -0.02, 0.04]}}}  # fmt: skip
    f = family_structure(rep, LIVES, FAMILIES, {}, seed_spread=0.01)
    assert f["metrics"] == {"mutual_knn": [0.04, 0.02, 0.06], "cka": [0.01, -0.02, 0.04]}
    assert "mutual_knn +0.040 [0.020, 0.060]" in f["sentence"] and "established by mutual_knn." in f["sentence"]
    assert f["sentence"].startswith("Finding 2 (family structure) reproduced")  # the verdict stays CAS's
    rep["similarity"]["mutual_knn"]["contrasts"]["within family - across families"] = [0.0, -0.01, 0.01]
    assert "established by none of them" in family_structure(rep, LIVES, FAMILIES, {}, seed_spread=0.01)["sentence"]
    assert family_structure(report(0.6, 0.4), LIVES, FAMILIES, {}, seed_spread=0.01)["metrics"] == {}


def test_family_order_groups_lives_and_keeps_the_rest() -> None:
    assert family_order(["s1", "x", "k1", "s2", "k2"], LIVES, FAMILIES) == ["k1", "k2", "s1", "s2", "x"]


def test_transfer_relates_alignment_to_downstream_with_the_right_sign(tmp_path) -> None:
    rep = report(0.6, 0.4)
    m = np.asarray(rep["cas"])
    m[0, 2] = m[2, 0] = 0.7  # k1 and k2 align most, then s1, s2
    rep["cas"] = m.tolist()
    align_rank = {"k1": 4, "k2": 4, "s1": 2, "s2": 1, "div": 3}
    down = {n: {"depth AbsRel": 0.5 - 0.05 * r, "match PCK@5": 0.1 * r} for n, r in align_rank.items()}
    t = transfer(down, rep, LIVES, {"div": "diverse"})
    assert t["models"] == [*LIVES, "div"]
    for key in ("depth AbsRel", "match PCK@5"):  # lower AbsRel and higher PCK both count as better
        assert t["metrics"][key]["spearman_alignment"] > 0.8 and t["metrics"][key]["spearman_models"] == 5
    assert t["metrics"]["match PCK@5"]["diverse"] == pytest.approx(0.3)
    assert t["metrics"]["match PCK@5"]["lives"] == pytest.approx(np.mean([0.4, 0.2, 0.4, 0.1]))
    assert "models that align more transfer better" in t["sentence"]
    worse = {n: {"depth AbsRel": 0.3 + 0.05 * r} for n, r in align_rank.items()}  # aligning more, transferring worse
    t2 = transfer(worse, rep, LIVES, {"div": "diverse"})
    assert t2["metrics"]["depth AbsRel"]["spearman_alignment"] < -0.8 and "not reproduced" in t2["sentence"]
    assert "cannot be told" in transfer({}, rep, LIVES, {})["sentence"]
    assert plot_transfer(t, tmp_path / "t.png").stat().st_size > 5000
    f = family_structure(rep, LIVES, FAMILIES, {}, 0.01)
    assert plot_dendrogram(f["clustering"], LIVES, tmp_path / "d.png").stat().st_size > 5000
