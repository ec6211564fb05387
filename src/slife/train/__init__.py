"""slife.train: per-life CroCo training with milestones in hours of video seen (docs/training.md).

``train(life_dir, run_dir, cfg: TrainConfig, progress=True) -> TrainResult``; configs via
``slife.config.load_config(TrainConfig, path, overrides)``. Importing this package imports torch.
"""

from slife.train.config import DataConfig, ModelSection, OptimConfig, TrainConfig
from slife.train.loop import TrainingDiverged, TrainResult, train

__all__ = ["DataConfig", "ModelSection", "OptimConfig", "TrainConfig", "TrainResult", "TrainingDiverged", "train"]
