"""``slife eval depth|match|all``: downstream evaluation of single-life models (docs/evaluate.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from slife.config import add_config_arguments


def _depth(args: argparse.Namespace) -> int:
    from slife.config import load_config
    from slife.evaluate.depth import DepthEvalConfig
    from slife.evaluate.runner import run_depth

    overrides = list(args.overrides) + ([f"probe={args.probe}"] if args.probe else [])
    cfg = load_config(DepthEvalConfig, args.config, overrides)
    fmt = args.format or cfg.format
    path = run_depth(args.target, args.data, fmt, args.split_file, cfg, args.out)
    print(path)
    return 0


def _match(args: argparse.Namespace) -> int:
    from slife.config import load_config
    from slife.evaluate.match import MatchEvalConfig
    from slife.evaluate.runner import run_match

    overrides = list(args.overrides) + (["sift=false"] if args.no_sift else [])
    cfg = load_config(MatchEvalConfig, args.config, overrides)
    fmt = args.format or cfg.format
    path = run_match(args.target, args.data, fmt, cfg, args.out)
    print(path)
    return 0


def _all(args: argparse.Namespace) -> int:
    from slife.config import load_config
    from slife.evaluate.runner import EvalAllConfig, run_all

    cfg = load_config(EvalAllConfig, args.config, args.overrides)
    path = run_all(
        args.run, args.depth_data, args.depth_format or cfg.depth.format, args.split_file, args.match_data,
        args.match_format or cfg.match.format, cfg, args.out,
    )
    print(path)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``slife eval`` and its subcommands."""
    ev = sub.add_parser("eval", help="downstream evaluation: depth probe, zero-shot correspondence")
    tasks = ev.add_subparsers(dest="task", required=True)

    d = tasks.add_parser("depth", help="frozen encoder + trained attentive depth probe (NYU, ScanNet, life)")
    d.add_argument("target", type=Path, metavar="RUN_OR_CKPT", help="run directory (its last.pt) or checkpoint file")
    d.add_argument("--data", type=Path, required=True, help="nyu_depth_v2_labeled.mat, ScanNet export folder or life")
    d.add_argument("--format", choices=("nyu", "scannet", "life"), default=None, help="data format (default: detect)")
    d.add_argument("--split-file", type=Path, default=None,
                   help="NYU: splits.mat (default: next to the .mat); ScanNet: text file of test scene names")
    d.add_argument("--probe", choices=("attentive", "linear"), default=None,
                   help="attentive (default, the paper's: learned per-patch queries cross-attend to the frozen "
                        "tokens) or linear (each token alone)")
    d.add_argument("--out", type=Path, default=None, help="report folder (default RUN/report)")
    add_config_arguments(d)
    d.set_defaults(func=_depth)

    m = tasks.add_parser("match", help="dense correspondence from cross-attention vs SIFT (HPatches, life)")
    m.add_argument("target", type=Path, metavar="RUN_OR_CKPT", help="run directory (its last.pt) or checkpoint file")
    m.add_argument("--data", type=Path, required=True, help="HPatches folder (i_*/v_* sequences) or a life with depth+poses")
    m.add_argument("--format", choices=("hpatches", "life"), default=None, help="data format (default: detect)")
    m.add_argument("--no-sift", action="store_true", help="skip the SIFT baseline")
    m.add_argument("--out", type=Path, default=None, help="report folder (default RUN/report)")
    add_config_arguments(m)
    m.set_defaults(func=_match)

    a = tasks.add_parser("all", help="both tasks on every milestone checkpoint of a run; plot metric vs hours")
    a.add_argument("run", type=Path, metavar="RUN")
    a.add_argument("--depth-data", type=Path, default=None)
    a.add_argument("--depth-format", choices=("nyu", "scannet", "life"), default=None)
    a.add_argument("--split-file", type=Path, default=None, help="depth split file (see `slife eval depth`)")
    a.add_argument("--match-data", type=Path, default=None)
    a.add_argument("--match-format", choices=("hpatches", "life"), default=None)
    a.add_argument("--out", type=Path, default=None, help="report folder (default RUN/report)")
    add_config_arguments(a)  # keys: depth.*, match.*, include_last
    a.set_defaults(func=_all)
