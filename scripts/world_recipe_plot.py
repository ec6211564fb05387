"""Plot GT alignment on moving patches over pairs seen for world runs (docs/results/world;
slife.align.plots.plot_training_curves).

    python scripts/world_recipe_plot.py --out curves.png NAME=RESULT.json ...

RESULT.json is a curve written by ``scripts/world_recipe_eval.py --train``. Chance and random init are
drawn from the first file that has them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    from slife.align.plots import plot_training_curves

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", help="NAME=RESULT.json")
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args()
    results = {}
    for spec in args.runs:
        name, path = spec.split("=", 1)
        results[name] = json.loads(Path(path).read_text())
    plot_training_curves(results, args.out, "Held-out places (kitchen-9, street-9), cross-attention read masked")


if __name__ == "__main__":
    main()
