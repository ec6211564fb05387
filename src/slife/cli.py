"""The ``slife`` command line: one subcommand per pipeline step.

Each step's package registers its own subcommands (``register(subparsers)`` in its ``cli`` module);
heavy imports (torch, PyAV, OpenGL) happen inside the handlers, so ``slife --help`` is instant.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from slife import __version__
from slife.errors import SlifeError
from slife.life import Life


def _info(args: argparse.Namespace) -> int:
    life = Life.open(args.life_dir)
    info = life.info()
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    print(f"life        {info['name']} ({info['kind']})")
    print(f"hours       {info['hours']:.3f}")
    print(f"frames      {info['frames']}")
    print(f"videos      {info['videos']}")
    print(f"fps         {info['fps']:g}")
    print(f"resolution  {', '.join(info['resolutions']) or '-'} (short side {info['short_side']})")
    print(f"depth       {'yes' if info['depth'] else 'no'}")
    print(f"poses       {'yes' if info['poses'] else 'no'}")
    for warning in info["warnings"]:
        print(f"warning     {warning}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from slife.align.cli import register as register_align
    from slife.demo import register as register_demo
    from slife.diagnose.cli import register as register_diagnose
    from slife.evaluate.cli import register as register_eval
    from slife.ingest.cli import register as register_ingest
    from slife.pairs.cli import register as register_pairs
    from slife.train.cli import register as register_train
    from slife.world.cli import register as register_world

    parser = argparse.ArgumentParser(
        prog="slife", description="single-life visual learning: ingest lives, train CroCo per life, measure alignment"
    )
    parser.add_argument("--version", action="version", version=f"slife {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    register_ingest(sub)
    info = sub.add_parser("info", help="summarise a life: hours, frames, videos, fps, resolution")
    info.add_argument("life_dir", type=Path)
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=_info)
    register_world(sub)
    register_pairs(sub)
    register_train(sub)
    register_align(sub)
    register_eval(sub)
    register_diagnose(sub)
    register_demo(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (SlifeError, FileNotFoundError) as exc:
        print(f"slife {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"slife {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
