"""``slife eval depth|match|all`` end to end on tiny checkpoints and tiny files in the real formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from slife.cli import main
from slife.config import to_dict
from slife.model.checkpoint import save_checkpoint
from test_eval_datasets import nyu_arrays, write_hpatches, write_nyu, write_plane_life


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from slife.model.config import model_config
    from slife.model.croco import CroCo

    run = tmp_path_factory.mktemp("run")
    cfg = model_config("tiny", img_size=64, enc_depth=2)
    for step, hours in ((10, 0.5), (20, 1.0)):
        torch.manual_seed(step)
        model = CroCo(cfg)
        save_checkpoint(run / "checkpoints" / f"hours_{hours:g}.pt", {
            "model_config": to_dict(cfg), "model": model.state_dict(), "step": step, "hours_seen": hours,
            "pairs_seen": 8 * step, "life": "test"})
    return run


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("data")
    images, depths = nyu_arrays(5)
    (root / "nyu").mkdir()
    nyu = write_nyu(root / "nyu", images, depths, train=[0, 1, 2], test=[3, 4])
    write_hpatches(root / "hpatches", {"v_astro": "astronaut", "i_coffee": "coffee"}, ks=(2,))
    life = write_plane_life(root / "life", shift_px=4.0, frames=5)
    return {"nyu": nyu, "hpatches": root / "hpatches", "life": life}


DEPTH_SET = ["--set", "steps=4", "--set", "probe_dim=32", "--set", "probe_heads=2", "--set", "device=cpu"]


def test_eval_depth_and_match_write_json_and_report(run_dir: Path, data: dict[str, Path], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    ckpt = run_dir / "checkpoints" / "hours_0.5.pt"
    out = tmp_path / "report"
    assert main(["eval", "depth", str(ckpt), "--data", str(data["nyu"]), "--out", str(out), *DEPTH_SET]) == 0
    res = json.loads((out / "depth_nyu_hours_0.5.json").read_text())
    assert res["format"] == "nyu" and res["hours_seen"] == 0.5 and res["train_images"] == 3 and res["test_images"] == 2
    assert res["max_depth"] == 10.0 and res["steps"] == 4
    assert 0.0 < res["metrics"]["abs_rel"] < 10 and res["metrics"]["pixels"] > 0
    # metrics only inside the Eigen crop (426 rows) and the centre crop (~480 of 640 columns)
    assert all(426 * 470 < r["pixels"] < 426 * 490 for r in res["per_image"])

    assert main(["eval", "match", str(ckpt), "--data", str(data["hpatches"]), "--out", str(out),
                 "--set", "eval_stride=4", "--set", "device=cpu"]) == 0
    res = json.loads((out / "match_hpatches_hours_0.5.json").read_text())
    assert res["pairs"] == 2 and set(res["model_by_group"]) == {"i", "v"}
    assert res["model"]["aepe"] > 0 and 0 <= res["model"]["pck@5"] <= 1 and "rt_fraction" in res["model"]
    assert res["sift"]["pck@3"] > 0.8 and res["sift"]["dense_pck@3"] > 0.9  # the baseline is in every report
    md = (out / "eval.md").read_text()
    assert "## Depth probe: nyu" in md and "## Zero-shot correspondence: hpatches" in md
    assert "| SIFT + ratio |" in md and "| SIFT + RANSAC H |" in md and "| hours_0.5 |" in md

    assert main(["eval", "match", str(ckpt), "--data", str(data["life"]), "--out", str(out),
                 "--set", "life_pairs=2", "--set", "life_gap_seconds=0.5", "--set", "device=cpu"]) == 0
    res = json.loads((out / "match_life_hours_0.5.json").read_text())
    assert res["format"] == "life" and res["pairs"] == 2 and res["model"]["points"] > 0
    assert res["sift"]["matches"] > 0


def test_eval_all_every_milestone_and_plot(run_dir: Path, data: dict[str, Path]) -> None:
    args = ["eval", "all", str(run_dir), "--depth-data", str(data["nyu"]), "--match-data", str(data["hpatches"]),
            "--set", "depth.steps=3", "--set", "depth.probe_dim=32", "--set", "depth.probe_heads=2",
            "--set", "match.eval_stride=8", "--set", "depth.device=cpu", "--set", "match.device=cpu"]
    assert main(args) == 0
    report = run_dir / "report"
    res = json.loads((report / "eval_all.json").read_text())
    assert [r["hours_seen"] for r in res["vs_hours"]] == [0.5, 1.0]
    assert [r["checkpoint_name"] for r in res["depth"]] == ["hours_0.5", "hours_1"]
    assert all("aepe" in r["model"] for r in res["match"]) and "sift" in res
    assert (report / "eval_vs_hours.png").stat().st_size > 1000
    md = (report / "eval.md").read_text()
    assert md.count("| hours_1 |") == 2 and "eval_vs_hours.png" in md


def test_bad_data_is_a_clean_error(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ckpt = run_dir / "checkpoints" / "hours_1.pt"
    (tmp_path / "empty").mkdir()
    assert main(["eval", "match", str(ckpt), "--data", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'empty'}: cannot tell the data format" in err
    assert main(["eval", "depth", str(ckpt), "--data", str(tmp_path / "missing.mat")]) == 2
    assert "missing.mat: no such file or directory" in capsys.readouterr().err
    assert main(["eval", "depth", str(ckpt), "--data", str(tmp_path), "--set", "epochs=x"]) == 2
