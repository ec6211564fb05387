"""Commands that only read files start without torch: ``slife study --status`` reads run states from
config.yaml and log.jsonl, so neither it nor the config comparison behind it may load torch."""

import subprocess
import sys

from slife.study.cli import demo_study_file

CODE = """
import sys
from pathlib import Path
from slife.cli import main
rc = main(["study", sys.argv[1], "--out", sys.argv[2], "--status"])
from slife.config import save_config
from slife.train.config import TrainConfig
from slife.study.plan import run_state
run = Path(sys.argv[2]) / "runs" / "r"
run.mkdir(parents=True)
save_config(TrainConfig(), run / "config.yaml")
print(rc, run_state("r", run, TrainConfig(seed=1)).state, run_state("r", run, TrainConfig()).state,
      "torch" in sys.modules)
"""


def test_study_status_does_not_import_torch(tmp_path) -> None:
    out = subprocess.run([sys.executable, "-c", CODE, str(demo_study_file()), str(tmp_path / "study")],
                         capture_output=True, text=True, timeout=120, check=True).stdout  # fmt: skip
    assert out.splitlines()[-1] == "0 conflict partial False", out
