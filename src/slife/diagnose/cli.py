"""``slife diagnose shift --out DIR [--config FILE] [--set key=value] [--quick]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from slife.config import add_config_arguments

# the recipe is ShiftConfig's defaults; configs/diagnose_shift.yaml spells it out with the reasons
QUICK = ["steps=150", "eval_every=50", "eval_pairs=24"]


def run(args: argparse.Namespace) -> int:
    from slife.diagnose.report import progress_line, summary_markdown, write_outputs
    from slife.diagnose.shift import load_shift_config, run_shift

    cfg = load_shift_config(args.config, (QUICK if args.quick else []) + args.overrides)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    result = run_shift(cfg, progress=lambda p: print(progress_line(p), file=sys.stderr, flush=True))
    write_outputs(result, out)
    print(summary_markdown(result))
    if args.save_model:
        from slife.config import to_dict
        from slife.model.checkpoint import save_checkpoint

        # the resolved ModelConfig (what load_model builds), not the config's {size, overrides} section
        save_checkpoint(out / "model.pt", {"model_config": to_dict(result.model.cfg), "model": result.model.state_dict()})
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``slife diagnose`` to the top-level parser."""
    parser = sub.add_parser("diagnose", help="check the learning machinery on tasks with known answers")
    kinds = parser.add_subparsers(dest="diagnostic", required=True)
    shift = kinds.add_parser(
        "shift", help="train CroCo on photo pairs shifted by whole patches; score correspondence vs identity/chance"
    )
    shift.add_argument("--out", type=Path, required=True, help="folder for results.json, curve.png, summary.md")
    add_config_arguments(shift)
    shift.add_argument("--quick", action="store_true", help="a ~1-minute smoke run (150 steps)")
    shift.add_argument("--save-model", action="store_true", help="also write the trained model (model.pt)")
    shift.set_defaults(func=run)
