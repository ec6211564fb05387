"""``slife diagnose shift --out DIR [--config FILE] [--set key=value] [--quick]``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from slife.config import add_config_arguments

# the recipe is ShiftConfig's defaults; configs/diagnose_shift.yaml spells it out with the reasons
QUICK = ["steps=150", "eval_every=50", "eval_pairs=24"]


def progress_line(point: dict[str, Any]) -> str:
    """One line per evaluation of the curve."""
    u, m = point["scores"]["unmasked"], point["scores"]["masked"]
    return (
        f"{point['pairs']:>7d} pairs {point['train_seconds']:6.0f} s  loss {point['train_loss']:.3f}  "
        f"exact unmasked {u['exact']:.3f} masked {m['exact']:.3f}  within-1 unmasked {u['within1']:.3f} "
        f"masked {m['within1']:.3f}  swapped-source loss +{point['swapped_minus_real']:.3f}"
    )


def summary_markdown(result: Any) -> str:
    """A short report: the last point of the curve next to identity, random init, chance and pixel matching."""
    base, last = result.baselines, result.final()
    rows = ["| reader | exact | within 1 | exact, moving | within 1, moving |", "| --- | --- | --- | --- | --- |"]

    def row(name: str, s: dict[str, float]) -> str:
        return f"| {name} | {s['exact']:.3f} | {s['within1']:.3f} | {s['exact_moving']:.3f} | {s['within1_moving']:.3f} |"

    for proto in ("unmasked", "masked"):
        rows.append(row(f"model, {proto}", last["scores"][proto]))
    for proto in ("unmasked", "masked"):
        rows.append(row(f"random init, {proto}", base["random-init"][proto]))
    rows += [row("identity", base["identity"]), row("chance", base["chance"])]
    if "pixel-match" in base:  # results written before the pixel matcher was a baseline lack it
        rows.append(row("pixel matching (no learning)", base["pixel-match"]))
    target = result.config["target_exact"]
    hit = result.reached("exact", "unmasked") or result.reached("exact", "masked")
    verdict = (
        f"reached exact-patch top-1 >= {target} after {hit['pairs']} pairs ({hit['train_seconds']:.0f} s of training)"
        if hit
        else f"did not reach exact-patch top-1 >= {target}"
    )
    return "\n".join([
        "# Shift mechanism test",
        "",
        f"{result.config['steps']} steps x {result.config['batch_size']} pairs, {result.train_seconds:.0f} s of training "
        f"({result.pairs_per_s:.0f} pairs/s, {result.machine['torch_threads']} thread(s)); {verdict}.",
        "",
        *rows,
        "",
        f"Masked loss with the real source {last['loss_real_source']:.3f}, with another pair's source "
        f"{last['loss_swapped_source']:.3f}, with noise {last['loss_noise_source']:.3f}.",
        "",
        "![curve](curve.png)",
        "",
    ])  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from slife.diagnose.plots import plot_shift_curve
    from slife.diagnose.shift import load_shift_config, run_shift

    cfg = load_shift_config(args.config, (QUICK if args.quick else []) + args.overrides)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    result = run_shift(cfg, progress=lambda p: print(progress_line(p), file=sys.stderr, flush=True))
    (out / "results.json").write_text(json.dumps(result.to_json(), indent=1), encoding="utf-8")
    plot_shift_curve(result, out / "curve.png")
    (out / "summary.md").write_text(summary_markdown(result), encoding="utf-8")
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
