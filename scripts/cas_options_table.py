"""How each CAS reading option moves CAS: one CAS matrix per option on a study's models, as a table.

    python scripts/cas_options_table.py --runs RUN... --testset T.npz --out DIR [--names N...]

Prints a markdown table (and writes DIR/cas_options.md, DIR/<variant>/cas_matrix.json): for every
variant of AlignConfig (default; pre-softmax; direction source/both; each single decoder layer; one
head; k = 1, 10; unmasked), CAS between the first two runs with its 95 % bootstrap interval over test
pairs, CAS of the first run with every other run and with the random-init and identity baselines, and
the first run's GT alignment within 1 patch on moving patches.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from slife.align.bootstrap import format_interval
from slife.align.drivers import AlignConfig, matrix
from slife.align.testset import TestSet
from slife.model.checkpoint import read_meta, resolve_checkpoint


def variants(dec_depth: int) -> dict[str, dict]:
    out: dict[str, dict] = {"default (softmax, all layers and heads, target, k=5, masked)": {},
                            "pre-softmax": {"logits": "pre-softmax"},
                            "pre-softmax, both directions": {"logits": "pre-softmax", "direction": "both"},
                            "direction source (swapped pass)": {"direction": "source"},
                            "direction both": {"direction": "both"}}  # fmt: skip
    for layer in range(dec_depth):
        out[f"layer {layer} only"] = {"layers": (layer,)}
    out["head 0 only"] = {"heads": (0,)}
    out["k = 1"] = {"k": 1}
    out["k = 10"] = {"k": 10}
    out["unmasked"] = {"protocol": "unmasked"}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", nargs="+", type=Path, required=True)
    ap.add_argument("--names", nargs="+", default=None)
    ap.add_argument("--testset", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    names = args.names or [r.name for r in args.runs]
    ts = TestSet.load(args.testset)
    depth = read_meta(resolve_checkpoint(args.runs[0])).model().dec_depth
    a, b, others = names[0], names[1], names[1:]
    header = ["reading", f"{a} \\| {b} [95 % CI]", *[f"{a} \\| {o}" for o in others[1:]], f"{a} \\| random-init",
              f"{a} \\| identity", "chance", f"GT {a} moving r1"]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, change in variants(depth).items():
        cfg = AlignConfig(device="cpu", **change)
        rep = matrix(dict(zip(names, map(str, args.runs))), ts, cfg, args.out / label.split(" (")[0].replace(" ", "_")).report
        idx = {n: i for i, n in enumerate(rep["names"])}
        cas = lambda x, y: rep["cas"][idx[x]][idx[y]]  # noqa: E731
        lo, hi = rep["cas_ci"][idx[a]][idx[b]]
        gt = rep.get("gt_alignment", {}).get(a, {}).get("moving_r1")
        row = [label, format_interval(cas(a, b), lo, hi), *[f"{cas(a, o):.3f}" for o in others[1:]],
               f"{cas(a, 'random-init'):.3f}", f"{cas(a, 'identity'):.3f}", f"{rep['chance']:.3f}",
               "-" if gt is None else f"{gt:.3f}"]  # fmt: skip
        lines.append("| " + " | ".join(row) + " |")
        print(lines[-1], flush=True)
    (args.out / "cas_options.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
