"""The end-to-end demo (the demo study through ``slife demo``) in --quick mode: world -> training ->
alignment -> report, with sane numbers."""

import json
from pathlib import Path

import numpy as np
import pytest

from slife.cli import main
from slife.study.analysis import controls_verdict, correspondence_verdict, headline, verdict

CONTROLS = {"diverse": "diverse", "static": "static"}


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    # two lives (one per family) + the two controls keep the test short
    code = main(["demo", "--out", str(out), "--quick", "--quiet", "--set", "lives=[kitchen-1,street-1]"])
    assert code == 0
    return out


def test_demo_writes_report_with_consistent_numbers(demo_out: Path) -> None:
    results = json.loads((demo_out / "results.json").read_text())
    align = results["alignment"]
    names = align["names"]
    assert names == ["kitchen-1", "street-1", "diverse", "static", "shift-only", "kitchen-1-real-only",
                     "kitchen-1-seed1", "random-init", "identity", "pixel-match", "pixel-ncc", "ground-truth"]
    assert align["protocol"] == "masked x8"
    m = np.asarray(align["cas"])
    np.testing.assert_allclose(m, m.T)
    np.testing.assert_allclose(np.diag(m), 1.0)
    assert ((m >= 0) & (m <= 1)).all()
    assert align["chance"] == pytest.approx(5 / 64)
    # the headline is computed from the matrix, not typed in
    stats = results["headline"]
    assert stats["life_vs_life"] == pytest.approx(m[0, 1])
    assert stats["life_vs_diverse"] == pytest.approx((m[0, 2] + m[1, 2]) / 2)
    assert stats["life_vs_static"] == pytest.approx((m[0, 3] + m[1, 3]) / 2)
    assert stats["life_vs_shift-only"] == pytest.approx((m[0, 4] + m[1, 4]) / 2)
    assert stats["life_vs_random-init"] == pytest.approx((m[0, 7] + m[1, 7]) / 2)
    assert stats["seed_spread"] == pytest.approx(abs(m[0, 1] - m[6, 1]))  # kitchen-1's two seeds vs street-1
    mm = np.asarray(align["cas_moving"])
    assert stats["life_vs_life_moving"] == pytest.approx(mm[0, 1])
    assert results["verdict"] == verdict(stats)
    assert results["headlines"][1] == correspondence_verdict(stats, results["source_use"], ["kitchen-1", "street-1"])
    assert results["headlines"][2] == controls_verdict(stats, CONTROLS)
    hard = results["headline_hard"]
    assert results["headlines"][3].endswith(correspondence_verdict(hard, {}, ["kitchen-1", "street-1"]))
    assert hard["gt_moving_r1_chance"] > 0 and results["alignment_hard"]["testset"]["pairs"] > 0
    assert stats["gt_moving_r1_static"] == align["gt_alignment"]["static"]["moving_r1"]
    report = (demo_out / "report.md").read_text()
    for line in results["headlines"]:
        assert line in report
    assert f"{m[0, 1]:.3f}" in report and "Mechanism" in report
    assert "data:image/png;base64," in (demo_out / "report.html").read_text()
    for png in ["alignment/cas_matrix.png", "emergence/kitchen-1.png", "emergence/street-1.png", "mechanism/curve.png"]:
        assert (demo_out / png).stat().st_size > 1000
    # the mechanism test ran (shortened) with its baselines
    mech = results["mechanism"]
    assert [p["step"] for p in mech["curve"]][-1] == 20 and mech["baselines"]["identity"]["exact_moving"] == 0.0
    # source use is measured for every model, with the same keys
    assert set(results["source_use"]) == {*names[:7], "random-init"}
    # ground truth from rendered depth + poses: identity is an honest baseline, above chance on small motions
    gt = align["gt_alignment"]
    assert 0 <= gt["kitchen-1"]["r1"] <= 1
    assert gt["identity"]["r1"] > align["gt_alignment_chance"]["r1"]
    assert gt["identity"]["moving_r1"] == 0.0  # moving patches: the position prior scores nothing
    assert 0 < align["testset"]["displacement"]["moving_fraction"] < 1


def test_demo_emergence_follows_checkpoints(demo_out: Path) -> None:
    results = json.loads((demo_out / "results.json").read_text())
    points = results["emergence"]["kitchen-1"]["points"]
    hours = [p["hours"] for p in points]
    assert hours == sorted(hours) and len(hours) == 2  # milestones at 1/2 and all of the life
    assert hours[-1] == pytest.approx(1 / 60, rel=1e-3)  # a 1-minute life
    assert results["emergence"]["kitchen-1"]["reference_name"] == "street-1"
    assert all(r["step"] == r["total"] == 30 for r in results["training"].values())


def test_demo_rerun_reuses_lives_runs_and_the_mechanism_test(demo_out: Path) -> None:
    stamp = (demo_out / "runs" / "kitchen-1" / "checkpoints" / "last.pt").stat().st_mtime_ns
    mech = (demo_out / "mechanism" / "results.json").stat().st_mtime_ns
    code = main(["demo", "--out", str(demo_out), "--quick", "--quiet", "--set", "lives=[kitchen-1,street-1]"])
    assert code == 0
    assert (demo_out / "runs" / "kitchen-1" / "checkpoints" / "last.pt").stat().st_mtime_ns == stamp
    assert (demo_out / "mechanism" / "results.json").stat().st_mtime_ns == mech


def _stats(**kw: float) -> dict:
    stats = {"life_vs_life": 0.50, "life_vs_life_moving": 0.48, "life_vs_random-init": 0.09, "life_vs_identity": 0.27,
             "life_vs_pixel-match": 0.30, "life_vs_shift-only": 0.30, "life_vs_random-init_moving": 0.08,
             "life_vs_identity_moving": 0.2, "life_vs_pixel-match_moving": 0.29, "life_vs_shift-only_moving": 0.29,
             "seed_spread": 0.02, "seed_spread_moving": 0.02}  # fmt: skip
    stats.update(kw)
    nulls = ("random-init", "identity", "pixel-match", "shift-only")
    for suffix, key in (("", "strongest_null"), ("_moving", "strongest_null_moving")):
        best = max(nulls, key=lambda n: stats[f"life_vs_{n}{suffix}"])
        stats[key], stats[f"{key}_label"], stats[f"{key}_cas"] = best, f"null {best}", stats[f"life_vs_{best}{suffix}"]
    return stats


def test_verdict_needs_the_strongest_null_and_the_seed_spread() -> None:
    assert verdict(_stats()).startswith("Aligned beyond every null") and "0.200" in verdict(_stats())
    # the review's case: a shift-only model on dead leaves shares as much with the lives as they share with
    # each other, while random init (the old verdict's null) is far below: today's verdict said "Reproduced"
    line = verdict(_stats(**{"life_vs_shift-only": 0.50}))
    assert line.startswith("Not reproduced") and "null shift-only explains" in line
    line = verdict(_stats(**{"life_vs_shift-only_moving": 0.49}))
    assert line.startswith("Not reproduced: on moving patches") and "null shift-only" in line
    assert verdict(_stats(seed_spread=float("nan"))).startswith("Not established") and "seed spread is unknown" in \
        verdict(_stats(seed_spread=float("nan")))
    line = verdict(_stats(seed_spread=0.25))
    assert line.startswith("Not established") and "within the seed spread 0.250" in line
    line = verdict(_stats(**{"life_vs_identity": 0.6}))
    assert line.startswith("Not reproduced") and "null identity explains" in line
    assert verdict(_stats(life_vs_life=float("nan"))).startswith("One life")
    # a margin beyond the seed spread still needs its bootstrap interval (test pairs, models) above 0
    sure = verdict(_stats(strongest_null_margin_ci=[0.2, 0.12, 0.27], strongest_null_moving_margin_ci=[0.19, 0.1, 0.25]))
    assert sure.startswith("Aligned beyond every null") and "95 % interval [0.120, 0.270]" in sure
    unsure = verdict(_stats(strongest_null_margin_ci=[0.2, 0.12, 0.27], strongest_null_moving_margin_ci=[0.19, -0.02, 0.4]))
    assert unsure.startswith("Not established") and "on moving patches" in unsure and "[-0.020, 0.400], which includes 0" in unsure


def test_correspondence_verdict_needs_every_null_and_source_use() -> None:
    stats = {"gt_moving_r1": 0.45, "gt_moving_r1_chance": 0.12, "gt_moving_r1_random_init": 0.13,
             "gt_moving_r1_pixel-match": 0.40, "gt_strongest_null_moving_r1": 0.40,
             "gt_strongest_null_label": "pixel matching", "gt_seed_spread": 0.01}  # fmt: skip
    use = {"a": {"swapped_minus_real": 0.2}, "b": {"swapped_minus_real": 0.1}}
    line = correspondence_verdict(stats, use, ["a", "b"])
    assert line.startswith("World models found moved patches beyond every null") and "+0.150" in line
    stats["gt_strongest_null_margin_ci"] = [0.05, -0.01, 0.11]  # beyond the seed spread, but not beyond noise
    line = correspondence_verdict(stats, use, ["a", "b"])
    assert line.startswith("World models found moved patches above every null by 0.050") and "includes 0" in line
    stats["gt_strongest_null_margin_ci"] = [0.05, 0.02, 0.08]
    assert "interval [0.020, 0.080])" in correspondence_verdict(stats, use, ["a", "b"])
    stats["gt_seed_spread"] = 0.08
    assert "within the seed spread" in correspondence_verdict(stats, use, ["a", "b"])
    stats["gt_seed_spread"] = float("nan")
    assert "spread unknown" in correspondence_verdict(stats, use, ["a", "b"])
    stats.update(gt_moving_r1=0.38)  # 3x chance, but below pixel matching
    line = correspondence_verdict(stats, use, ["a", "b"])
    assert line.startswith("World models find moved patches above chance (3.2x chance) but not beyond pixel matching")
    stats["gt_moving_r1"] = 0.2
    assert correspondence_verdict(stats, use, ["a", "b"]).startswith("World models find moved patches only weakly (1.7x")
    stats["gt_moving_r1"] = 0.15
    assert correspondence_verdict(stats, use, ["a", "b"]).startswith("World models did not learn")
    assert correspondence_verdict({}, use, ["a"]) == "No ground truth on this test set."


def test_controls_verdict_compares_the_non_life_model_with_the_lives() -> None:
    stats = {"gt_moving_r1": 0.40, "gt_moving_r1_chance": 0.13, "gt_moving_r1_diverse": 0.42, "gt_moving_r1_static": 0.15}
    controls = {"diverse": "diverse", "static": "static"}
    line = controls_verdict(stats, controls)
    assert "diverse-data control `diverse` 0.420" in line and "static-camera (non-life) control `static` 0.150" in line
    assert line.endswith("align clearly less than the life models, as in the paper.")
    stats["gt_moving_r1_static"] = 0.38
    assert controls_verdict(stats, controls).endswith("does not come from the lives' own motion.")
    # the best non-life model decides: a screen control that aligns like the lives is reported
    stats.update(gt_moving_r1_static=0.15, gt_moving_r1_screens=0.39)
    assert controls_verdict(stats, {**controls, "screens": "screen"}).endswith("does not come from the lives' own motion.")
    assert controls_verdict({"gt_moving_r1": 0.4, "gt_moving_r1_chance": 0.1}, controls) is None
    beaten = {**stats, "gt_strongest_null_moving_r1": 0.45, "gt_strongest_null_label": "pixel matching"}
    assert controls_verdict(beaten, controls).endswith("so the controls cannot show what the lives add.")
    stats.update(gt_moving_r1=0.15, gt_moving_r1_static=0.05)  # life models at chance: nothing to compare
    assert controls_verdict(stats, controls).endswith("so the controls say nothing yet.")


def test_headline_splits_families() -> None:
    report = {
        "names": ["kitchen-1", "kitchen-2", "street-1", "random-init", "identity"],
        "cas": [
            [1, 0.8, 0.4, 0.1, 0.2],
            [0.8, 1, 0.2, 0.1, 0.2],
            [0.4, 0.2, 1, 0.1, 0.2],
            [0.1, 0.1, 0.1, 1, 0.1],
            [0.2, 0.2, 0.2, 0.1, 1],
        ],
        "chance": 0.078,
    }
    fam = {"kitchen-1": "kitchen", "kitchen-2": "kitchen", "street-1": "street"}
    stats = headline(report, ["kitchen-1", "kitchen-2", "street-1"], fam, {})
    assert stats["within_family"] == pytest.approx(0.8)
    assert stats["across_family"] == pytest.approx(0.3)
    assert stats["life_vs_life"] == pytest.approx((0.8 + 0.4 + 0.2) / 3)
    assert "life_vs_diverse" not in stats
