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
from slife.errors import EXIT_BAD_INPUT, EXIT_OS_ERROR, SlifeError, os_error_message
from slife.life import Life


def _info(args: argparse.Namespace) -> int:
    life = Life.open(args.life_dir)
    info = life.info()
    problems = life.verify(progress=not args.json and sys.stderr.isatty()) if args.verify else None
    if problems is not None:
        info["verify"] = {"frames": len(life), "problems": problems}
    if args.json:
        print(json.dumps(info, indent=1))
        return EXIT_BAD_INPUT if problems else 0
    print(f"life        {info['name']} ({info['kind']})")
    print(f"hours       {info['hours']:.3f}")
    print(f"frames      {info['frames']}")
    print(f"videos      {info['videos']}")
    print(f"fps         {info['fps']:g}")
    print(f"resolution  {', '.join(info['resolutions']) or '-'} (short side {info['short_side']})")
    print(f"depth       {'yes' if info['depth'] else 'no'}")
    unposed = info.get("frames_without_pose", 0)
    print(f"poses       {'yes' if info['poses'] else 'no'}" + (f" ({unposed} frames without a pose)" if unposed else ""))
    for warning in info["warnings"]:
        print(f"warning     {warning}")
    if problems is None:
        return 0
    if not problems:
        print(f"verify      ok: {len(life)} frames decoded, every shard matches its index")
        return 0
    print(f"verify      {len(problems)} problem(s):")
    for line in problems:
        print(f"  {line}")
    return EXIT_BAD_INPUT


def build_parser() -> argparse.ArgumentParser:
    from slife.align.cli import register as register_align
    from slife.study.cli import register as register_study
    from slife.diagnose.cli import register as register_diagnose
    from slife.evaluate.cli import register as register_eval
    from slife.ingest.cli import register as register_ingest
    from slife.model.cli import register as register_export
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
    info.add_argument("--verify", action="store_true",
                      help="decode every frame and depth map and check them against the index (exit 2 on problems)")
    info.set_defaults(func=_info)
    register_world(sub)
    register_pairs(sub)
    register_train(sub)
    register_align(sub)
    register_export(sub)
    register_eval(sub)
    register_diagnose(sub)
    register_study(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SlifeError as exc:
        print(f"slife {args.command}: error: {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # e.g. `slife info LIFE | head`: the reader left, nothing to report
        _silence_stdout()
        return 0
    except OSError as exc:  # disk full, read-only folder, permission denied, missing file
        print(f"slife {args.command}: error: {_one_line(os_error_message(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT if isinstance(exc, FileNotFoundError) else EXIT_OS_ERROR
    except KeyboardInterrupt:
        print(f"slife {args.command}: interrupted", file=sys.stderr)
        return 130


def _one_line(message: str) -> str:
    """An error message on one line (a library's multi-line text joined with ' / ')."""
    return " / ".join(line.strip() for line in message.splitlines() if line.strip())


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush of a closed pipe stays quiet."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    raise SystemExit(main())
