"""Evaluation outputs: JSON results, markdown tables appended to ``RUN/report/eval.md``, plots."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from slife.atomic import write_json_atomic
from slife.evaluate.metrics import pck_key

REPORT_MD = "eval.md"


def report_dir(checkpoint: Path, out: Path | None) -> Path:
    """``out`` if given; else ``RUN/report`` for a checkpoint in ``RUN/checkpoints/``; else next to it."""
    if out is not None:
        return Path(out)
    from slife.run import REPORT_DIR, RunDir

    run = RunDir.of_checkpoint(checkpoint)
    return run.report_dir if run is not None else Path(checkpoint).parent / REPORT_DIR


def write_json(path: Path, data: Any) -> None:
    """Atomic JSON write (NaN/inf written as null): slife.atomic.write_json_atomic."""
    write_json_atomic(path, data)


def append_markdown(path: Path, text: str) -> None:
    """Append a section to the report (never rewrites what is there)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text.rstrip() + "\n\n")


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "-"
        return f"{value:.{digits}f}"
    return str(value)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def depth_section(results: Sequence[Mapping[str, Any]]) -> str:
    """Markdown for depth results (one row per checkpoint)."""
    first = results[0]
    header = ["checkpoint", "hours seen", "train/test", "AbsRel", "RMSE", "log10", "d1", "d2", "d3"]
    rows = []
    for r in results:
        m = r["metrics"]
        rows.append([r["checkpoint_name"], r.get("hours_seen"), f"{r['train_images']}/{r['test_images']}",
                     m["abs_rel"], m["rmse"], m["log10"], m["d1"], m["d2"], m["d3"]])
    scaling = "median-scaled" if first["config"]["median_scaling"] else "metric"
    cap = first.get("max_depth")
    title = f"## Depth probe: {first['format']} `{first['data']}`"
    probe = first["config"].get("probe", "attentive")
    notes = (f"Frozen encoder + {probe} probe (SILog), {first['steps']} steps; {scaling} predictions, "
             f"depth cap {cap if cap else 'none'} m{', Eigen crop' if first['format'] == 'nyu' and first['config']['eigen_crop'] else ''}.")
    return f"{title}\n\n{notes}\n\n{table(header, rows)}"


def match_section(results: Sequence[Mapping[str, Any]]) -> str:
    """Markdown for correspondence results: model rows (one per checkpoint) then the SIFT baseline."""
    first = results[0]
    ts = first["config"]["thresholds"]
    pcks = [pck_key(t) for t in ts]
    header = ["method", "hours seen", "pairs", "AEPE"] + [f"PCK@{t:g}" for t in ts] + ["coverage", "note"]
    rows = []
    for r in results:
        if "model" not in r:
            continue
        m = r["model"]
        rows.append([r["checkpoint_name"], r.get("hours_seen"), r["pairs"], m["aepe"]] + [m[k] for k in pcks]
                    + [m["coverage"], "dense, crop"])
        if "rt_aepe" in m:
            rows.append([f"{r['checkpoint_name']} (round-trip ok)", r.get("hours_seen"), r["pairs"], m["rt_aepe"]]
                        + [m[f"rt_{k}"] for k in pcks] + [m["rt_fraction"], "fraction kept"])
        for g, gm in sorted(r.get("model_by_group", {}).items()):
            rows.append([f"{r['checkpoint_name']} [{g}]", r.get("hours_seen"), "", gm["aepe"]] + [gm[k] for k in pcks]
                        + [gm["coverage"], "dense, crop"])
    sift = next((r["sift"] for r in results if "sift" in r), None)
    if sift is not None:
        rows.append(["SIFT + ratio", "", first["pairs"], sift["aepe"]] + [sift[k] for k in pcks]
                    + [sift["coverage"], f"sparse, {sift['matches']:.0f} matches/pair"])
        if "dense_aepe" in sift:
            rows.append(["SIFT + RANSAC H", "", first["pairs"], sift["dense_aepe"]]
                        + [sift[f"dense_{k}"] for k in pcks] + [1.0, "dense, full image"])
        by_group = next((r["sift_by_group"] for r in results if "sift_by_group" in r), {})
        for g, gm in sorted(by_group.items()):
            rows.append([f"SIFT + ratio [{g}]", "", "", gm["aepe"]] + [gm[k] for k in pcks]
                        + [gm["coverage"], f"sparse, {gm['matches']:.0f} matches/pair"])
    title = f"## Zero-shot correspondence: {first['format']} `{first['data']}`"
    cfg = first["config"]
    notes = (f"Cross-attention averaged over layers and heads, soft-argmax (window {cfg['window']}), errors in "
             "original pixels; means over pairs.")
    return f"{title}\n\n{notes}\n\n{table(header, rows)}"


def plot_vs_hours(records: Sequence[Mapping[str, Any]], path: Path) -> None:
    """One panel per metric: value vs hours of video seen (records: hours_seen + flat metrics)."""
    from slife.plotting import pyplot, save_figure

    plt = pyplot()
    keys = [k for k in records[0] if k not in ("hours_seen", "checkpoint_name")] if records else []
    if not keys:
        return
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 3.0), squeeze=False)
    hours = [r["hours_seen"] for r in records]
    for ax, key in zip(axes[0], keys):
        values = [r.get(key) for r in records]
        ax.plot(hours, [v if v is not None else float("nan") for v in values], marker="o")
        ax.set_title(key)
        ax.set_xlabel("hours of video seen")
        ax.grid(alpha=0.3)
    save_figure(fig, path, dpi=100)
