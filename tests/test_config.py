"""Typed configs: files, overrides and the errors users see."""

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from slife.config import ConfigError, load_config, parse_overrides, save_config


@dataclass
class Optim:
    lr: float = 1.5e-4
    betas: tuple[float, float] = (0.9, 0.95)


@dataclass
class Cfg:
    name: str = "tiny"
    steps: int = 10
    milestones: list[float] = field(default_factory=lambda: [0.25, 0.5])
    amp: bool = True
    seed: int | None = None
    optim: Optim = field(default_factory=Optim)


def test_defaults_file_and_overrides_merge(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("steps: 20\noptim:\n  lr: 3.0e-4\n")
    cfg = load_config(Cfg, path, ["optim.betas=[0.8, 0.9]", "milestones=[1, 2]", "seed=3"])
    assert cfg.steps == 20 and cfg.optim.lr == 3e-4 and cfg.optim.betas == (0.8, 0.9)
    assert cfg.milestones == [1.0, 2.0] and cfg.seed == 3 and cfg.name == "tiny"


def test_toml_and_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('name = "base"\n[optim]\nlr = 0.001\n')
    cfg = load_config(Cfg, path)
    assert cfg.name == "base" and cfg.optim.lr == 0.001
    out = tmp_path / "saved.yaml"
    save_config(cfg, out)
    assert load_config(Cfg, out) == cfg


def test_overrides_are_parsed_not_evaluated() -> None:
    assert parse_overrides(["a.b=0.5", "c=__import__('os')"]) == {"a": {"b": 0.5}, "c": "__import__('os')"}


def test_exponent_floats_without_dot_are_numbers(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("optim:\n  lr: 1e-4\n")
    assert load_config(Cfg, path, []).optim.lr == 1e-4
    assert load_config(Cfg, None, ["optim.lr=3e-4"]).optim.lr == 3e-4


@pytest.mark.parametrize(
    "override, message",
    [
        (["stepz=3"], "unknown key"),
        (["steps=abc"], "Cfg.steps: expected an integer"),
        (["amp=3"], "expected true/false"),
        (["optim.betas=[1]"], "expected 2 items"),
        (["steps"], "must look like key=value"),
    ],
)
def test_bad_overrides_name_the_key(override: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(Cfg, None, override)


def test_bad_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("steps: [unclosed\n")
    with pytest.raises(ConfigError, match="c.yaml: cannot parse"):
        load_config(Cfg, path)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(Cfg, tmp_path / "missing.yaml")
