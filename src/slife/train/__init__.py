"""slife.train: per-life CroCo training with milestones in hours of video seen (docs/training.md).

``train(life_dir, run_dir, cfg: TrainConfig, progress=True) -> TrainResult``; configs via
``slife.config.load_config(TrainConfig, path, overrides)``. The configs import without torch; the
training names (``train``, ``TrainResult``, ``TrainingDiverged``) import torch when first used, so the
command line (which registers every subcommand) starts without it.
"""

from typing import Any

from slife.train.config import DataConfig, ModelSection, OptimConfig, TrainConfig

_FROM_LOOP = ("TrainingDiverged", "TrainResult", "train")


def __getattr__(name: str) -> Any:
    if name in _FROM_LOOP:
        from slife.train import loop

        return getattr(loop, name)
    raise AttributeError(f"module 'slife.train' has no attribute {name!r}")


__all__ = ["DataConfig", "ModelSection", "OptimConfig", "TrainConfig", "TrainResult", "TrainingDiverged", "train"]
