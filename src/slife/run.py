"""What a training run directory holds, in one place: the names of its files and how to read them.

```
RUN/config.yaml           the resolved TrainConfig
RUN/log.jsonl             one JSON record per log step (+ start / resume / checkpoint / stopped events)
RUN/tb/                   TensorBoard scalars
RUN/checkpoints/last.pt   full training state (exact resume)
RUN/checkpoints/hours_<h>.pt   milestones by hours of video seen
RUN/report/               evaluation outputs (slife eval)
```

Training writes these files (slife.train.loop; what a checkpoint holds: slife.train.state); align,
eval and study find them through here and read checkpoints with slife.model.checkpoint, which imports
this module (never the other way round). No torch import at module level: reading a run's state must
stay cheap.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG_FILE = "config.yaml"
LOG_FILE = "log.jsonl"
TB_DIR = "tb"
CHECKPOINT_DIR = "checkpoints"
LAST = "last.pt"
REPORT_DIR = "report"
MAX_LOG_BYTES = 1 << 30  # a log.jsonl larger than this is not slife's (a 550k-step life logs a few MB)
MAX_LOG_LINE = 1 << 16  # longer lines are no record slife writes: skipped without being held whole


# The fields readers of log.jsonl use, and their types: a record with one of them of another type
# (a damaged or hand-edited line) is skipped like a line cut by a kill.
_INT_FIELDS = ("step", "total_steps", "world_size", "pairs_seen")
_NUMBER_FIELDS = ("loss", "lr", "hours_seen", "elapsed_s", "pairs_per_s", "life_hours", "prefix_hours")
_STR_FIELDS = ("event", "name", "signal", "life")


def _well_typed(rec: dict[str, Any]) -> bool:
    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    def is_number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    return (all(is_int(rec[k]) for k in _INT_FIELDS if k in rec)
            and all(is_number(rec[k]) for k in _NUMBER_FIELDS if k in rec)
            and all(isinstance(rec[k], str) for k in _STR_FIELDS if k in rec))  # fmt: skip


@dataclass(frozen=True)
class RunDir:
    path: Path

    def __init__(self, path: str | Path) -> None:
        object.__setattr__(self, "path", Path(path))

    @property
    def config_file(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def log_file(self) -> Path:
        return self.path / LOG_FILE

    @property
    def tb_dir(self) -> Path:
        return self.path / TB_DIR

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / CHECKPOINT_DIR

    @property
    def last(self) -> Path:
        return self.checkpoint_dir / LAST

    @property
    def report_dir(self) -> Path:
        return self.path / REPORT_DIR

    def training_files(self) -> list[Path]:
        """What a training run owns (moved aside together by ``slife train --force``)."""
        return [self.checkpoint_dir, self.config_file, self.log_file, self.tb_dir]

    @staticmethod
    def of_checkpoint(checkpoint: str | Path) -> "RunDir | None":
        """The run a checkpoint file lives in (``RUN/checkpoints/x.pt``), or None."""
        p = Path(checkpoint)
        return RunDir(p.parent.parent) if p.parent.name == CHECKPOINT_DIR else None

    def read_log(self) -> list[dict[str, Any]]:
        """The records of ``log.jsonl`` (lines cut by a kill, and records whose known fields have the
        wrong type, are skipped)."""
        if not self.log_file.is_file():
            return []
        size = self.log_file.stat().st_size
        if size > MAX_LOG_BYTES:
            from slife.errors import SlifeError

            raise SlifeError(f"{self.log_file}: {size} bytes, more than the {MAX_LOG_BYTES} a training log can be")
        records = []
        with open(self.log_file, encoding="utf-8", errors="replace") as fh:
            while line := fh.readline(MAX_LOG_LINE):
                if not line.endswith("\n") and len(line) >= MAX_LOG_LINE:  # an overlong line: skip the rest of it
                    while (rest := fh.readline(MAX_LOG_LINE)) and not rest.endswith("\n"):
                        pass
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(rec, dict) and _well_typed(rec):
                    records.append(rec)
        return records
