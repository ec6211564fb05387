"""slife export / from_pretrained: a folder with safetensors + config.json + card, loaded back exactly."""

import json
from pathlib import Path

import pytest
import torch

from slife.cli import main
from slife.model import from_pretrained
from slife.model.checkpoint import load_model, save_checkpoint
from slife.model.export import ExportError
from tests.test_integrity import _tiny_payload


@pytest.fixture()
def run(tmp_path: Path) -> Path:
    payload = _tiny_payload() | {"life": "kitchen-1", "pairs_seen": 96, "train_config": {"data": {"sampler": "auto"}}}
    save_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt", payload)
    return tmp_path / "run"


def test_export_round_trips_the_model(run: Path, tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text(json.dumps({"gt_moving_r1": 0.356, "note": "demo"}))
    assert main(["export", str(run), "--out", str(tmp_path / "out"), "--results", str(tmp_path / "r.json")]) == 0
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    model, config = from_pretrained(out)
    original, _ = load_model(run / "checkpoints" / "last.pt")
    assert config["life"] == "kitchen-1" and config["step"] == 3 and config["results"]["gt_moving_r1"] == 0.356
    for key, value in original.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    src, tgt = torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(model.cross_attention(src, tgt), original.cross_attention(src, tgt))
    card = (out / "README.md").read_text()
    assert "kitchen-1" in card and "0.356" in card and "from_pretrained" in card
    assert not model.training


def test_bad_export_folders_are_named(run: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # if huggingface_hub is installed, it must not go online
    out = tmp_path / "out"
    main(["export", str(run), "--out", str(out)])
    with pytest.raises(ExportError, match="no such exported model folder"):
        from_pretrained(tmp_path / "missing")
    with pytest.raises(ExportError, match="no such folder; .*pip install huggingface_hub|cannot download"):
        from_pretrained("someone/some-model")  # a Hub id; tests never go online
    cfg = json.loads((out / "config.json").read_text())
    cfg["model_config"]["enc_dim"] = 32
    (out / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ExportError, match="model.safetensors: weights do not fit config.json"):
        from_pretrained(out)
    (out / "model.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(ExportError, match="model.safetensors: cannot read the weights"):
        from_pretrained(out)
    (out / "config.json").write_text("[1, 2]")
    with pytest.raises(ExportError, match="config.json: not a slife export"):
        from_pretrained(out)


def test_export_refuses_a_non_empty_folder_and_replaces_it_whole(run: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    """#23 H1: a user's README.md / an earlier export is never overwritten file by file."""
    import slife.model.export as export

    out = tmp_path / "out"
    out.mkdir()
    (out / "README.md").write_text("my notes")
    assert main(["export", str(run), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{out}: folder not empty (README.md)" in err and "--force" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == ["README.md"] and (out / "README.md").read_text() == "my notes"

    assert main(["export", str(run), "--out", str(out), "--force"]) == 0
    first = (out / "model.safetensors").read_bytes()
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert "kitchen-1" in (out / "README.md").read_text()

    # a crash while writing the new folder leaves the old export whole and no temp folder behind
    torch.manual_seed(1)
    other = _tiny_payload() | {"life": "garden-2"}
    save_checkpoint(tmp_path / "run2" / "checkpoints" / "last.pt", other)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(export, "model_card", crash)
    with pytest.raises(KeyboardInterrupt):
        export.export_model(tmp_path / "run2", out, force=True)
    assert (out / "model.safetensors").read_bytes() == first
    assert json.loads((out / "config.json").read_text())["life"] == "kitchen-1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "run", "run2"]
