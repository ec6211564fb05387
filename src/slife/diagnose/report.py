"""What the shift mechanism test writes and prints: ``results.json``, ``curve.png``, ``summary.md`` and
one progress line per evaluation (``slife diagnose shift``, the study's mechanism step, the bench)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


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


def write_outputs(result: Any, out: Path) -> None:
    """``out/results.json`` (NaN as null), ``out/curve.png`` and ``out/summary.md``, each written atomically."""
    from slife.atomic import write_json_atomic, write_text_atomic
    from slife.diagnose.plots import plot_shift_curve

    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "results.json", result.to_json())
    plot_shift_curve(result, out / "curve.png")
    write_text_atomic(out / "summary.md", summary_markdown(result))
