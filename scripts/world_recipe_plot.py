"""Plot GT alignment on moving patches over pairs seen for world runs (docs/results/world).

    python scripts/world_recipe_plot.py --out curves.png NAME=RESULT.json ...

RESULT.json is a curve written by ``scripts/world_recipe_eval.py --train`` (or, for the exploratory
runs X1/X2, by docs/results/world/explore_shifted.py). Chance and random init are drawn from the
first file that has them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _points(data: dict) -> tuple[list[int], list[float]]:
    curve = data["curve"]
    if "pairs_seen" in curve[0]:  # world_recipe_eval.py --train
        return [p["pairs_seen"] for p in curve], [p["masked"]["moving_r1"] for p in curve]
    batch = 32  # explore_shifted.py: fixed batch
    return [p["step"] * batch for p in curve], [p["world_masked"]["within1_moving"] for p in curve]


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", help="NAME=RESULT.json")
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args()
    fig, ax = plt.subplots(figsize=(9.5, 4.2))
    refs = None
    for spec in args.runs:
        name, path = spec.split("=", 1)
        data = json.loads(Path(path).read_text())
        x, y = _points(data)
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
    ax.set_title("Held-out places (kitchen-9, street-9), cross-attention read masked")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)


if __name__ == "__main__":
    main()
