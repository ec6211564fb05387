"""``slife train LIFE_DIR --out RUN_DIR [--config FILE] [--set key=value] [--force]``.

Multi-GPU / multi-node: ``torchrun --nproc_per_node=N -m slife.train LIFE_DIR --out RUN_DIR ...``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from slife.config import add_config_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("life_dir", type=Path, help="life directory (from slife ingest / slife world)")
    parser.add_argument("--out", type=Path, required=True, help="run directory (resumed if it holds the same run)")
    add_config_arguments(parser)
    parser.add_argument("--force", action="store_true", help="start over in a run directory holding a different run")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--stop-after", type=int, default=None, metavar="STEPS",
                        help="stop (saving last.pt) once this many steps are done; run again to resume")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from slife.config import load_config
    from slife.train.config import TrainConfig
    from slife.train.loop import train

    from slife.train.signals import TrainingStopped

    cfg = load_config(TrainConfig, args.config, args.overrides)
    try:
        result = train(args.life_dir, args.out, cfg, progress=not args.no_progress, force=args.force,
                       stop_after=args.stop_after)  # fmt: skip
    except TrainingStopped as exc:
        import sys

        print(f"slife train: {exc}", file=sys.stderr)
        return 128 + exc.signum  # the shell's convention for "ended by signal N"
    if result.resumed_from == 0 or result.steps > result.resumed_from:
        import os

        if int(os.environ.get("RANK", "0")) == 0:
            print(
                f"{result.run_dir}: {result.steps}/{result.total_steps} steps, {result.pairs_seen} pairs, "
                f"{result.hours_seen:.4g} h seen, loss {result.final_loss:.4f}, {result.pairs_per_s:.1f} pairs/s; "
                f"checkpoints: {', '.join(p.name for p in result.checkpoints) or '-'}"
            )
    else:
        print(f"{result.run_dir}: already complete ({result.steps}/{result.total_steps} steps)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``slife train`` to the top-level parser."""
    parser = sub.add_parser("train", help="train one CroCo model on one life (checkpoints at hours of video seen)")
    add_arguments(parser)
    parser.set_defaults(func=run)
