"""``slife align``: test sets, CAS between two models, CAS matrices, emergence curves, copy reward."""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slife.config import add_config_arguments


@dataclass
class TestSetConfig:
    """Options of ``slife align testset``."""

    __test__ = False

    pairs: int = 50  # pairs per life
    img_size: int | None = None  # None: the model's (--model), else the default model config's
    patch_size: int | None = None  # likewise
    seed: int = 0
    gap: tuple[float, float] = (0.5, 5.0)  # seconds between the two frames (same video)
    min_overlap: float = 0.3  # with GT: least fraction of target patches visible in the source
    ground_truth: bool | None = None  # None = when every life has depth + poses
    sampler: str = "temporal"  # temporal (gap seconds apart) | spatial (3D overlap, anywhere in the life)
    min_moving: float = 0.0  # with GT: least fraction of visible target patches moving >= 2 patches
    jaccard: tuple[float, float] = (0.3, 0.9)  # spatial sampler: visible-point overlap range
    rotate: float = 0.0  # source view rotated by |angle| in [rotate/2, rotate] degrees (random sign)
    zoom: float = 1.0  # source view zoomed by a factor log-uniform in [1/zoom, zoom]
    exposure: float = 0.0  # source view's brightness, contrast, saturation scaled in [1 - e, 1 + e]


def _overrides(args: argparse.Namespace, names: dict[str, str]) -> list[str]:
    """``--set`` items, then explicit flags (which win)."""
    out = list(args.overrides)
    for attr, key in names.items():
        value = getattr(args, attr, None)
        if value is not None and value is not False:
            out.append(f"{key}={json.dumps(value) if not isinstance(value, str) else value}")
    return out


def _align_config(args: argparse.Namespace) -> Any:
    from slife.align.drivers import AlignConfig
    from slife.config import load_config

    flags = {"k": "k", "per_layer": "per_layer", "batch_size": "batch_size", "device": "device", "seed": "seed",
             "protocol": "protocol", "logits": "logits", "layers": "layers", "heads": "heads",
             "direction": "direction", "metrics": "metrics", "bootstrap": "bootstrap"}  # fmt: skip
    cfg = load_config(AlignConfig, args.config, _overrides(args, flags))
    if args.radius is not None:
        cfg.radii = tuple(sorted({0, args.radius}))
    return cfg


def _fmt(v: float | None) -> str:
    return "   -  " if v is None or not math.isfinite(v) else f"{v:.4f}"


def _with_ci(v: float | None, ci: list[float] | None) -> str:
    """``0.412 [0.39, 0.43]`` with an interval, else the plain 4-digit value."""
    from slife.align.bootstrap import format_interval

    if ci is None or v is None or not math.isfinite(v):
        return _fmt(v)
    return format_interval(v, ci[0], ci[1])


def _print_similarity(sim: dict[str, Any], pairs: list[tuple[str, str]] | None = None) -> None:
    """Each metric's value at the best-aligned layer pair, for ``pairs`` (default: the whole matrix)."""
    names = sim["names"]
    print(f"similarity on {sim['samples']} (pair, patch) cells, best layer pair searched (k = {sim['k']}); "
          f"baselines {', '.join(sim['baselines'])}")  # fmt: skip
    for metric in sim["metrics"]:
        null = sim["null"][metric]
        head = f"{metric:<13}" + (f" (null {null:.3f})" if null is not None else "")
        if pairs is not None:
            print(head)
            for a, b in pairs:
                i, j = names.index(a), names.index(b)
                layers = sim[metric]["layers"][i][j]
                ci = sim[metric]["interval"][i][j] if "interval" in sim[metric] else None
                print(f"  {a + ' | ' + b:<26} {_with_ci(sim[metric]['value'][i][j], ci)}  ({' ~ '.join(map(str, layers))})")
            continue
        width = max(len(n) for n in names)
        print(head)
        print(" " * width + "  " + " ".join(f"{n[:8]:>8}" for n in names))
        for n, row in zip(names, sim[metric]["value"]):
            print(f"{n:<{width}}  " + " ".join(f"{v:8.4f}" for v in row))
        for group, entry in sim[metric].get("groups", {}).items():
            print(f"  mean of {group}: {_with_ci(entry[0], entry[1:])}")
        for contrast, entry in sim[metric].get("contrasts", {}).items():
            print(f"  {contrast}: {_with_ci(entry[0], entry[1:])}")


# ---- testset ------------------------------------------------------------------------------------
def _testset(args: argparse.Namespace) -> int:
    from slife.align.testset import make_testset, testset_grid
    from slife.config import load_config

    flags = {"pairs": "pairs", "img_size": "img_size", "patch_size": "patch_size", "seed": "seed",
             "gap": "gap", "min_overlap": "min_overlap", "sampler": "sampler", "min_moving": "min_moving",
             "jaccard": "jaccard", "rotate": "rotate", "zoom": "zoom", "exposure": "exposure"}  # fmt: skip
    overrides = _overrides(args, flags)
    if args.no_gt:
        overrides.append("ground_truth=false")
    cfg = load_config(TestSetConfig, args.config, overrides)
    img_size, patch_size = testset_grid(cfg.img_size, cfg.patch_size, args.model)
    ts = make_testset(args.lives, cfg.pairs, img_size, cfg.seed, cfg.gap, patch_size,
                      cfg.min_overlap, cfg.ground_truth, cfg.sampler, cfg.min_moving, cfg.jaccard, cfg.rotate,
                      cfg.zoom, cfg.exposure)  # fmt: skip
    ts.save(args.out)
    print(json.dumps(ts.summary(), indent=1))
    return 0


def _testset_info(args: argparse.Namespace) -> int:
    from slife.align.testset import TestSet

    ts = TestSet.load(args.testset)
    print(json.dumps({**ts.summary(), "meta": ts.meta}, indent=1))
    return 0


# ---- score --------------------------------------------------------------------------------------
def _score(args: argparse.Namespace) -> int:
    from slife.align.drivers import score
    from slife.align.testset import TestSet

    cfg = _align_config(args)
    ts = TestSet.load(args.testset)
    proto = cfg.read_protocol()
    result = score(args.a, args.b, ts, cfg)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"A = {result['a']}\nB = {result['b']}\ntest set {ts.path}: {len(ts)} pairs, {ts.num_patches} patches, k = {cfg.k}, "
          f"read {proto.label}")
    opts = result["options"]
    print(f"CAS options: logits {opts['logits']}, layers {opts['layers'] or 'all'}, heads {opts['heads'] or 'all'}, "
          f"direction {opts['direction']}" + (f"; [{opts['confidence']:.0%} bootstrap interval over pairs, "
                                              f"{opts['bootstrap']} resamples]" if opts["bootstrap"] else ""))  # fmt: skip
    for key, value in result["cas"].items():
        on_moving = f"   moving patches {_fmt(result['cas_moving'][key])}" if "cas_moving" in result else ""
        ci = result.get("cas_ci", {}).get(key)
        print(f"CAS {key:<22} {_with_ci(value, ci):<20} ± {result['cas_sem'][key]:.4f}{on_moving}")
    print(f"chance k/N              {_fmt(result['chance'])}")
    if cfg.per_layer:
        print("CAS A | B per layer     " + " ".join(_fmt(v) for v in result["cas_per_layer"]))
    if ts.has_gt:
        cis = result.get("gt_alignment_ci", {})
        for n, vals in result["gt_alignment"].items():
            print(f"GT alignment {n:<12} " + "  ".join(f"{r}={_with_ci(v, cis.get(n, {}).get(r))}" for r, v in vals.items()))
        for part, v in result["cas_moving_by_correctness"].items():
            print(f"CAS A | B on moving patches {part} right: {_fmt(v['cas'])} ({_fmt(v['share'])} of them)")
        chance = result["gt_alignment_chance"]
        print("GT alignment chance      " + "  ".join(f"{r}={_fmt(v)}" for r, v in chance.items()))
    if "similarity" in result:
        others = [n for n in result["similarity"]["names"] if n not in ("A", "B")]
        _print_similarity(result["similarity"], [("A", "B"), *[(x, n) for n in others for x in ("A", "B")]])
    return 0


# ---- matrix -------------------------------------------------------------------------------------
def _unique_names(names: list[str]) -> list[str]:
    out, seen = [], {}
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}#{seen[n]}")
    return out


def _matrix(args: argparse.Namespace) -> int:
    from slife.align.drivers import matrix
    from slife.align.matchers import matcher_name
    from slife.align.testset import TestSet
    from slife.errors import SlifeError

    cfg = _align_config(args)
    ts = TestSet.load(args.testset)
    if args.names and len(args.names) != len(args.models):
        raise SlifeError(f"--names: got {len(args.names)} names for {len(args.models)} models")
    names = _unique_names(args.names or [matcher_name(m) for m in args.models])
    from slife.align.analysis import BASELINE_NAMES

    if set(BASELINE_NAMES) & set(names):
        raise SlifeError(f"--names: {sorted(set(BASELINE_NAMES) & set(names))} is reserved for the baselines")
    out = Path(args.out)
    report = matrix(dict(zip(names, args.models)), ts, cfg, out).report
    width = max(len(n) for n in report["names"])
    print(" " * width + "  " + " ".join(f"{n[:8]:>8}" for n in report["names"]))
    for n, row in zip(report["names"], report["cas"]):
        print(f"{n:<{width}}  " + " ".join(f"{v:8.4f}" for v in row))
    print(f"chance k/N = {report['chance']:.4f}")
    if "cas_ci" in report:
        names = report["names"]
        print(f"CAS with {cfg.confidence:.0%} bootstrap intervals over pairs ({cfg.bootstrap} resamples):")
        for i, a in enumerate(names):
            for j in range(i + 1, len(names)):
                print(f"  {a + ' | ' + names[j]:<{2 * width + 3}} {_with_ci(report['cas'][i][j], report['cas_ci'][i][j])}")
    if "gt_alignment" in report:
        cis = report.get("gt_alignment_ci", {})
        for n, vals in report["gt_alignment"].items():
            print(f"GT alignment {n:<{width}} " + "  ".join(f"{r}={_with_ci(v, cis.get(n, {}).get(r))}"
                                                           for r, v in vals.items()))  # fmt: skip
    if "similarity" in report:
        _print_similarity(report["similarity"])
    print(f"wrote {out / 'cas_matrix.json'} and {out / 'cas_matrix.png'}")
    return 0


# ---- emergence ----------------------------------------------------------------------------------
def _emergence(args: argparse.Namespace) -> int:
    from slife.align.drivers import emergence
    from slife.align.testset import TestSet
    from slife.errors import SlifeError

    cfg = _align_config(args)
    ts = TestSet.load(args.testset)
    if len(args.run) > 1 and not args.nested:
        raise SlifeError("several runs given: add --nested (one run per prefix of the life), or give one run")
    runs = list(args.run) if args.nested else args.run[0]
    out = Path(args.out)
    report = emergence(runs, args.reference, ts, cfg, out / "emergence.json", out / "emergence.png", args.include_last)
    pts = report["points"]
    for p in pts:
        extra = ""
        if "gt_alignment" in p:
            extra = "  GT " + " ".join(f"{r}={_fmt(v)}" for r, v in p["gt_alignment"].items())
        print(f"{p['name']:<16} hours {p['hours']:8.3f}  CAS {_with_ci(p['cas'], p.get('cas_ci'))}{extra}")
    for name, value in report["baselines"].items():
        print(f"{name:<28} CAS {_fmt(value)}")
    print(f"chance k/N                   CAS {_fmt(report['chance'])}")
    print(f"wrote {out / 'emergence.json'} and {out / 'emergence.png'}")
    return 0


# ---- reward -------------------------------------------------------------------------------------
REWARD_KEYS = ("r2_nb", "r2_nb_grid", "grid_gain", "r2_nb_random", "r2_grid")


def _reward(args: argparse.Namespace) -> int:
    from slife.align.reward import reward_report
    from slife.align.testset import TestSet

    ts = TestSet.load(args.testset)
    result = reward_report(ts, args.shifted, args.seed)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"test set {ts.path}: {len(ts)} pairs, R² of the per-patch-normalised target (interior patches with GT)")
    print(f"{'':<24} " + " ".join(f"{k:>12}" for k in (*REWARD_KEYS, "patches")))
    for name, res in result.items():
        for part, r in ((name, res), (f"{name} moving", res["moving"])):
            print(f"{part:<24} " + " ".join(f"{_fmt(r[k]):>12}" for k in REWARD_KEYS) + f" {r['patches']:>12}")
    return 0


def _add_align_options(p: argparse.ArgumentParser, per_layer: bool = True) -> None:
    p.add_argument("--testset", required=True, type=Path, help="test-set file from `slife align testset`")
    p.add_argument("--k", type=int, default=None, help="top-k source patches per target patch (default 5)")
    p.add_argument("--radius", type=int, default=None, help="GT alignment radius in patches (default 1; r=0 always)")
    if per_layer:
        p.add_argument("--per-layer", action="store_true", default=None, help="also CAS per decoder layer")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:1, ...")
    p.add_argument("--seed", type=int, default=None, help="seed of the random-init baseline and the masks (default 0)")
    p.add_argument("--protocol", choices=["unmasked", "masked"], default=None,
                   help="read cross-attention from hidden target patches under training-ratio masks (masked, "
                        "default) or with the whole target visible (unmasked, ZeroCo's reading)")
    p.add_argument("--logits", choices=["softmax", "pre-softmax"], default=None,
                   help="rank softmax maps (default) or the pre-softmax query-key products (the paper's CAS)")
    p.add_argument("--layers", type=int, nargs="+", default=None, metavar="L",
                   help="decoder blocks to average (0-based; default all)")
    p.add_argument("--heads", type=int, nargs="+", default=None, metavar="H",
                   help="decoder heads to average (0-based; default all)")
    p.add_argument("--direction", choices=["target", "source", "both"], default=None,
                   help="CAS rows: target patches (default), source patches (the swapped pass), or both (mean)")
    p.add_argument("--metrics", action="store_true", default=None,
                   help="also mutual k-NN, linear/unbiased CKA and CKNNA on the models' patch features")
    p.add_argument("--bootstrap", type=int, default=None, metavar="N",
                   help="bootstrap resamples of the test pairs for the intervals (default 1000; 0 = none)")
    add_config_arguments(p)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``slife align`` and its subcommands."""
    align = sub.add_parser("align", help="Correspondence Alignment Score: test sets, scores, matrices, emergence")
    asub = align.add_subparsers(dest="align_command", required=True)

    p = asub.add_parser("testset", help="make a fixed test-pair set (one .npz) from lives")
    p.add_argument("lives", nargs="+", type=Path, help="life directories (ideally held out from training)")
    p.add_argument("--out", required=True, type=Path, help="output .npz file")
    p.add_argument("--pairs", type=int, default=None, help="pairs per life (default 50)")
    p.add_argument("--model", type=Path, default=None, metavar="RUN_OR_CHECKPOINT",
                   help="size the test set for this model (its img_size and patch_size)")  # fmt: skip
    p.add_argument("--img-size", type=int, default=None,
                   help="crop size; must equal the models' img_size (default: --model's, else the default model's, 128)")  # fmt: skip
    p.add_argument("--patch-size", type=int, default=None,
                   help="patch size of the GT grid (default: --model's, else the default model's, 16)")  # fmt: skip
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--gap", type=float, nargs=2, default=None, metavar=("MIN", "MAX"),
                   help="seconds between the frames of a pair (default 0.5 5)")  # fmt: skip
    p.add_argument("--min-overlap", type=float, default=None, help="with GT: least visible fraction (default 0.3)")
    p.add_argument("--sampler", choices=["temporal", "spatial"], default=None,
                   help="temporal: frames --gap seconds apart (default); spatial: frames whose 3D points overlap")
    p.add_argument("--min-moving", type=float, default=None,
                   help="with GT: least fraction of visible target patches that move >= 2 patches (default 0)")
    p.add_argument("--jaccard", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                   help="spatial sampler: overlap range of the visible 3D point sets (default 0.3 0.9)")
    p.add_argument("--rotate", type=float, default=None, metavar="DEG",
                   help="rotate each source view by DEG/2 to DEG degrees, either sign (default 0)")
    p.add_argument("--zoom", type=float, default=None, help="zoom each source view in [1/ZOOM, ZOOM] (default 1)")
    p.add_argument("--exposure", type=float, default=None,
                   help="scale each source view's brightness, contrast, saturation in [1-E, 1+E] (default 0)")
    p.add_argument("--no-gt", action="store_true", help="skip ground truth even if the lives have depth + poses")
    add_config_arguments(p)
    p.set_defaults(func=_testset)

    p = asub.add_parser("info", help="summarise a test-set file")
    p.add_argument("testset", type=Path)
    p.set_defaults(func=_testset_info)

    p = asub.add_parser("reward", help="how much copying the true source patch can lower the loss (R² gains)")
    p.add_argument("testset", type=Path, help="test-set file with ground truth")
    p.add_argument("--shifted", type=int, default=None, metavar="MAX_SHIFT",
                   help="also on as many whole-patch shifted pairs (up to MAX_SHIFT patches) cut from its frames")
    p.add_argument("--seed", type=int, default=0, help="seed of the random-patch null and the shifted pairs")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_reward)

    p = asub.add_parser("score", help="CAS of two models (runs or checkpoint files) with baselines")
    p.add_argument("a", type=Path, help="run directory (its last.pt) or checkpoint file")
    p.add_argument("b", type=Path)
    p.add_argument("--json", action="store_true", help="print JSON")
    _add_align_options(p)
    p.set_defaults(func=_score)

    p = asub.add_parser("matrix", help="CAS matrix over many models + random-init/identity baselines (JSON + PNG)")
    p.add_argument("models", nargs="+", type=Path, help="run directories or checkpoint files")
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument("--names", nargs="+", default=None, help="display names, one per model")
    _add_align_options(p)
    p.set_defaults(func=_matrix)

    p = asub.add_parser("emergence", help="CAS with a reference vs hours of video across a run's checkpoints")
    p.add_argument("run", type=Path, nargs="+",
                   help="run directory with checkpoints/hours_<h>.pt; with --nested, one run per life prefix")
    p.add_argument("--nested", action="store_true",
                   help="nested-subset protocol: each run trained on a longer prefix of the life (data.prefix_hours) "
                        "with the same schedule; one point per run (its final checkpoint)")
    p.add_argument("--reference", required=True, type=Path, help="run directory or checkpoint file")
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument("--include-last", action="store_true", help="also score checkpoints/last.pt")
    _add_align_options(p, per_layer=False)
    p.set_defaults(func=_emergence)
