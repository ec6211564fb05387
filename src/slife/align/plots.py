"""Figures for alignment reports (matplotlib, Agg backend, written to PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from slife.plotting import pyplot, save_figure


def plot_matrix(
    names: Sequence[str],
    matrix: np.ndarray,
    path: str | Path,
    chance: float | None = None,
    baselines: Sequence[str] = (),
    title: str = "Correspondence Alignment Score",
) -> Path:
    """Annotated CAS heatmap (colour scale 0..1); baseline rows/columns are set off by a line."""
    plt = pyplot()
    matrix = np.asarray(matrix, dtype=float)
    n = len(names)
    size = max(4.0, 0.7 * n + 2.5)
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    im = ax.imshow(matrix, vmin=0.0, vmax=1.0, cmap="viridis")
    cbar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if chance is not None:
        cbar.ax.axhline(chance, color="white", linewidth=2)
        cbar.ax.text(1.05, chance, " chance", transform=cbar.ax.get_yaxis_transform(), va="center", fontsize=8)
    ax.set_xticks(range(n), labels=list(names), rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), labels=list(names), fontsize=8)
    for i in range(n):
        for j in range(n):
            v = matrix[i, j]
            ax.text(j, i, "-" if not np.isfinite(v) else f"{v:.2f}", ha="center", va="center",
                    fontsize=7 if n > 8 else 9, color="black" if v > 0.6 else "white")  # fmt: skip
    first_baseline = next((i for i, nm in enumerate(names) if nm in set(baselines)), None)
    if first_baseline is not None and first_baseline > 0:
        for line in (ax.axhline, ax.axvline):
            line(first_baseline - 0.5, color="red", linewidth=1.5)
    sub = f" (chance k/N = {chance:.3f})" if chance is not None else ""
    ax.set_title(title + sub, fontsize=10)
    return save_figure(fig, path)


def plot_emergence(
    hours: Sequence[float],
    values: Sequence[float],
    path: str | Path,
    baselines: Mapping[str, float] | None = None,
    chance: float | None = None,
    gt: Mapping[str, Sequence[float]] | None = None,
    gt_chance: Mapping[str, float] | None = None,
    title: str = "CAS with the reference vs hours of video",
    sem: Sequence[float] | None = None,
) -> Path:
    """CAS against hours of video seen (log-x when all hours are positive and span >= 10x), with
    horizontal baseline and chance lines; a second panel shows GT alignment when given."""
    plt = pyplot()
    hours_a = np.asarray(hours, dtype=float)
    log_x = len(hours_a) > 1 and (hours_a > 0).all() and hours_a.max() / hours_a.min() >= 10
    panels = 2 if gt else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.0 * panels, 4.2), squeeze=False)
    minutes = len(hours_a) > 0 and hours_a.max() < 2.0  # short lives read in minutes, not fractions of an hour
    unit = "minutes" if minutes else "hours"
    hours_a = hours_a * 60.0 if minutes else hours_a
    ax = axes[0, 0]
    ax.errorbar(hours_a, values, yerr=None if sem is None else np.asarray(sem), marker="o", label="CAS(run, reference)")
    styles = ["--", "-.", ":", (0, (5, 1))]
    colours = plt.get_cmap("tab10").colors
    for i, (name, value) in enumerate((baselines or {}).items()):
        ax.axhline(value, linestyle=styles[i % len(styles)], color=colours[(i + 1) % len(colours)], lw=1,
                   label=f"{name} ({value:.3f})")  # fmt: skip
    if chance is not None:
        ax.axhline(chance, linestyle=":", color="black", label=f"chance k/N ({chance:.3f})")
    ax.set_xlabel(f"{unit} of video seen")
    ax.set_ylabel("CAS")
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    if gt:
        ax2 = axes[0, 1]
        for name, vals in gt.items():
            line = ax2.plot(hours_a, vals, marker="o", label=f"GT alignment {name}")[0]
            if gt_chance and name in gt_chance:
                ax2.axhline(gt_chance[name], linestyle=":", color=line.get_color(), label=f"chance {name}")
        ax2.set_xlabel(f"{unit} of video seen")
        ax2.set_ylabel("fraction of target patches")
        ax2.set_ylim(0, 1)
        ax2.set_title("top-1 attention within r patches of the true match", fontsize=10)
        ax2.legend(fontsize=8)
    for a in axes[0]:
        if log_x:
            a.set_xscale("log")
        a.grid(alpha=0.3)
    return save_figure(fig, path)


def curve_points(data: Mapping) -> tuple[list[int], list[float]]:
    """(pairs seen, GT within 1 on moving patches, masked reading) of a training curve written by
    slife.align.scorecard.training_curve (``scripts/world_recipe_eval.py --train``); the exploratory
    runs X1/X2 of docs/results/world stored ``step`` (batch 32) and ``world_masked`` instead."""
    curve = data["curve"]
    if "pairs_seen" in curve[0]:
        return [p["pairs_seen"] for p in curve], [p["masked"]["moving_r1"] for p in curve]
    return [p["step"] * 32 for p in curve], [p["world_masked"]["within1_moving"] for p in curve]


def plot_training_curves(results: Mapping[str, Mapping], path: str | Path,
                         title: str = "Held-out places, cross-attention read masked") -> Path:  # fmt: skip
    """GT alignment within 1 patch on moving patches over pairs seen, one line per named curve, with
    chance, 3x chance, random init and pixel matching from the first result that has them."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9.5, 4.2))
    refs = None
    for name, data in results.items():
        x, y = curve_points(data)
        ax.plot(x, y, marker="o", ms=3, label=name)
        if refs is None and "chance" in data:
            refs = data
    if refs is not None:
        ax.axhline(refs["chance"]["moving_r1"], color="grey", ls="--", lw=1, label="chance")
        ax.axhline(3 * refs["chance"]["moving_r1"], color="grey", ls=":", lw=1, label="3x chance")
        ax.axhline(refs["random-init"]["masked"]["moving_r1"], color="black", ls="-.", lw=1, label="random init")
        ax.axhline(refs["pixel-match"]["moving_r1"], color="tab:brown", ls="--", lw=1, label="pixel matching")
    ax.set_xlabel("training pairs seen")
    ax.set_ylabel("GT alignment within 1 patch, moving patches")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(alpha=0.3)
    return save_figure(fig, path)
