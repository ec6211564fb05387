"""``slife export RUN_OR_CKPT --out DIR``: a model folder people can share (slife.model.export)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from slife.errors import SlifeError


def _export(args: argparse.Namespace) -> int:
    from slife.model.export import export_model

    results = None
    if args.results is not None:
        try:
            results = json.loads(args.results.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SlifeError(f"{args.results}: cannot read the results JSON: {exc}") from exc
        if not isinstance(results, dict) or not all(isinstance(v, (int, float, str)) for v in results.values()):
            raise SlifeError(f"{args.results}: results must be a flat JSON object of numbers or strings")
    out = export_model(args.run, args.out, results=results, licence=args.licence, force=args.force)
    print(f"slife export: {out} (model.safetensors, config.json, README.md)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a trained model as safetensors + config.json + model card")
    p.add_argument("run", type=Path, help="run directory (its last.pt) or checkpoint file")
    p.add_argument("--out", type=Path, required=True, help="folder to write")
    p.add_argument("--results", type=Path, help="flat JSON object of numbers measured on the model, for the card")
    p.add_argument("--force", action="store_true", help="replace --out if it is a non-empty folder (its files are deleted)")
    p.add_argument("--licence", help="licence of the data the model was trained on, for the card")
    p.set_defaults(func=_export)
