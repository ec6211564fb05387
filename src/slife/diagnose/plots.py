"""Figures of the shift mechanism test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from slife.plotting import pyplot, save_figure

PROTOCOL_STYLE = {"unmasked": "-", "masked": "--"}


def plot_shift_curve(result: Any, path: str | Path) -> Path:
    """Exact and within-1 GT alignment over pairs seen, for both readers, with identity, random init and
    chance as horizontal lines; and the masked loss with the real, a swapped and a noise source."""
    plt = pyplot()
    curve, base = result.curve, result.baselines
    pairs = [p["pairs"] for p in curve]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for ax, metric, title in ((axes[0], "exact", "exact patch"), (axes[1], "within1", "within 1 patch")):
        for proto, style in PROTOCOL_STYLE.items():
            ax.plot(pairs, [p["scores"][proto][metric] for p in curve], style, marker="o", ms=3, label=f"model, {proto}")
        ax.axhline(base["identity"][metric], color="red", lw=1, label="identity (position prior)")
        ax.axhline(base["random-init"]["unmasked"][metric], color="grey", lw=1, ls=":", label="random init")
        ax.axhline(base["chance"][metric], color="black", lw=1, ls="-.", label="chance")
        if "pixel-match" in base:
            ax.axhline(base["pixel-match"][metric], color="purple", lw=1, ls="--", label="pixel matching")
        if metric == "exact":
            ax.axhline(result.config["target_exact"], color="green", lw=0.8, ls=":", label="target")
        ax.set(xlabel="training pairs seen", ylabel="top-1 GT alignment", title=title, ylim=(0, 1))
        ax.legend(fontsize=7)
    ax = axes[2]
    for key, label in (("loss_real_source", "real source"), ("loss_swapped_source", "another pair's source"),
                       ("loss_noise_source", "noise source")):  # fmt: skip
        ax.plot(pairs, [p[key] for p in curve], marker="o", ms=3, label=label)
    ax.set(xlabel="training pairs seen", ylabel="masked loss (held-out pairs)", title="does the model use the source?")
    ax.legend(fontsize=7)
    return save_figure(fig, path)
