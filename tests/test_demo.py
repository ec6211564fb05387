"""The end-to-end demo in --quick mode: world -> training -> alignment -> report, with sane numbers."""

import json
from pathlib import Path

import numpy as np
import pytest

from slife.cli import main
from slife.demo import DemoConfig, headline, verdict


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    # two lives (one per family) + the non-life control keep the test short
    code = main(["demo", "--out", str(out), "--quick", "--quiet", "--set", "lives=[kitchen-1,street-1]"])
    assert code == 0
    return out


def test_demo_writes_report_with_consistent_numbers(demo_out: Path) -> None:
    results = json.loads((demo_out / "results.json").read_text())
    align = results["alignment"]
    names = align["names"]
    assert names == ["kitchen-1", "street-1", "nonlife", "random-init", "identity"]
    m = np.asarray(align["cas"])
    np.testing.assert_allclose(m, m.T)
    np.testing.assert_allclose(np.diag(m), 1.0)
    assert ((m >= 0) & (m <= 1)).all()
    assert align["chance"] == pytest.approx(5 / 64)
    # the headline is computed from the matrix, not typed in
    stats = results["headline"]
    assert stats["life_vs_life"] == pytest.approx(m[0, 1])
    assert stats["life_vs_nonlife"] == pytest.approx((m[0, 2] + m[1, 2]) / 2)
    assert stats["life_vs_random_init"] == pytest.approx((m[0, 3] + m[1, 3]) / 2)
    assert results["verdict"] == verdict(stats)
    report = (demo_out / "report.md").read_text()
    assert results["verdict"] in report and f"{m[0, 1]:.3f}" in report
    for png in ["alignment/cas_matrix.png", "emergence/kitchen-1.png", "emergence/street-1.png"]:
        assert (demo_out / png).stat().st_size > 1000
    # ground truth from rendered depth + poses: identity is an honest baseline, above chance on small motions
    gt = align["gt_alignment"]
    assert 0 <= gt["kitchen-1"]["r1"] <= 1
    assert gt["identity"]["r1"] > align["gt_alignment_chance"]["r1"]


def test_demo_emergence_follows_checkpoints(demo_out: Path) -> None:
    results = json.loads((demo_out / "results.json").read_text())
    points = results["emergence"]["kitchen-1"]["points"]
    hours = [p["hours"] for p in points]
    assert hours == sorted(hours) and len(hours) == 2  # milestones at 1/2 and all of the life
    assert hours[-1] == pytest.approx(1 / 60, rel=1e-3)  # a 1-minute life
    assert results["emergence"]["kitchen-1"]["reference_name"] == "street-1"
    assert all(r["steps"] == 30 for r in results["training"].values())


def test_demo_rerun_reuses_lives_and_runs(demo_out: Path) -> None:
    stamp = (demo_out / "runs" / "kitchen-1" / "checkpoints" / "last.pt").stat().st_mtime_ns
    code = main(["demo", "--out", str(demo_out), "--quick", "--quiet", "--set", "lives=[kitchen-1,street-1]"])
    assert code == 0
    assert (demo_out / "runs" / "kitchen-1" / "checkpoints" / "last.pt").stat().st_mtime_ns == stamp


def test_verdict_states_the_comparison() -> None:
    stats = {"life_vs_life": 0.6, "life_vs_random_init": 0.1, "life_vs_nonlife": 0.2}
    assert verdict(stats).startswith("Reproduced") and "3.0x" in verdict(stats)
    stats["life_vs_nonlife"] = 0.7
    assert verdict(stats).startswith("Not reproduced")


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
    stats = headline(report, ["kitchen-1", "kitchen-2", "street-1"], fam)
    assert stats["within_family"] == pytest.approx(0.8)
    assert stats["across_family"] == pytest.approx(0.3)
    assert stats["life_vs_life"] == pytest.approx((0.8 + 0.4 + 0.2) / 3)
    assert "life_vs_nonlife" not in stats
    assert DemoConfig().k == 5
