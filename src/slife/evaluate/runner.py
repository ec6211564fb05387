"""What ``slife eval`` does: build the data sets, evaluate checkpoints, write the report."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from slife.config import to_dict
from slife.evaluate.datasets import (
    EvalDataError,
    HPatchesPairs,
    LifeDepth,
    LifePairs,
    NYUDepthV2,
    ScanNetFrames,
    detect_format,
    life_pair_indices,
    life_split,
    scannet_split,
)
from slife.evaluate.depth import DepthEvalConfig
from slife.evaluate.match import MatchEvalConfig
from slife.evaluate.report import REPORT_MD, append_markdown, depth_section, match_section, plot_vs_hours, report_dir, write_json


@dataclass
class EvalAllConfig:
    """``slife eval all``: ``--set depth.epochs=5 --set match.window=3``."""

    depth: DepthEvalConfig = field(default_factory=DepthEvalConfig)
    match: MatchEvalConfig = field(default_factory=MatchEvalConfig)
    include_last: bool = False  # also evaluate checkpoints/last.pt


class Subset:
    """Lazy view of some items of a sequence."""

    def __init__(self, data: Sequence, indices: Sequence[int]):
        self.data, self.indices = data, [int(i) for i in indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        return self.data[self.indices[i]]


def _even(n: int, limit: int) -> np.ndarray:
    from slife.evaluate.datasets import _even_subset

    return _even_subset(n, limit)


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def depth_sets(data: Path, fmt: str, split_file: Path | None, cfg: DepthEvalConfig) -> tuple[Sequence, Sequence, str]:
    """(train, test, format) for the depth probe."""
    fmt = detect_format(data, "depth") if fmt == "auto" else fmt
    if fmt == "nyu":
        train: Sequence = NYUDepthV2(data, "train", split_file)
        test: Sequence = NYUDepthV2(data, "test", split_file)
    elif fmt == "scannet":
        train_scenes, test_scenes = scannet_split(data, split_file, cfg.test_fraction)
        if not train_scenes:  # one scene: split its frames by time
            frames = ScanNetFrames(test_scenes, cfg.scannet_stride)
            cut = int(round(len(frames) * (1.0 - cfg.test_fraction)))
            train, test = Subset(frames, range(cut)), Subset(frames, range(cut, len(frames)))
            _log(f"slife eval depth: {data} has one scene; split its frames by time ({cut} train / {len(frames) - cut} test)")
        else:
            train, test = ScanNetFrames(train_scenes, cfg.scannet_stride), ScanNetFrames(test_scenes, cfg.scannet_stride)
    elif fmt == "life":
        from slife.life import Life

        life = Life.open(data)
        tr, te = life_split(life, cfg.test_fraction)
        train, test = LifeDepth(life, tr), LifeDepth(life, te)
    else:
        raise EvalDataError(f"{data}: unknown depth format {fmt!r} (nyu, scannet, life)")
    train = Subset(train, _even(len(train), cfg.max_train))
    test = Subset(test, _even(len(test), cfg.max_test))
    if len(train) == 0 or len(test) == 0:
        raise EvalDataError(f"{data}: depth data has {len(train)} training and {len(test)} test images; need both")
    return train, test, fmt


def match_set(data: Path, fmt: str, cfg: MatchEvalConfig) -> tuple[Sequence, str]:
    """(pairs, format) for correspondence."""
    fmt = detect_format(data, "match") if fmt == "auto" else fmt
    if fmt == "hpatches":
        pairs: Sequence = HPatchesPairs(data, cfg.hpatches_subset, cfg.eval_stride, cfg.max_pairs)
    elif fmt == "life":
        from slife.life import Life

        life = Life.open(data)
        idx = life_pair_indices(life, cfg.life_pairs, cfg.life_gap_seconds, cfg.life_min_overlap)
        if cfg.max_pairs > 0:
            idx = [idx[i] for i in _even(len(idx), cfg.max_pairs)]
        pairs = LifePairs(life, idx, cfg.eval_stride)
    else:
        raise EvalDataError(f"{data}: unknown correspondence format {fmt!r} (hpatches, life)")
    if len(pairs) == 0:
        raise EvalDataError(f"{data}: no pairs to evaluate (for a life: lower match.life_min_overlap or change life_gap_seconds)")
    return pairs, fmt


def _header(ckpt: Path, meta: dict[str, Any], data: Path, fmt: str, cfg: Any) -> dict[str, Any]:
    from slife.model.checkpoint import CheckpointMeta

    info = CheckpointMeta.of(meta, ckpt)
    return {
        "checkpoint": str(ckpt),
        "checkpoint_name": ckpt.stem,
        "hours_seen": info.hours_seen,
        "step": info.step,
        "life": info.life,
        "data": str(data),
        "format": fmt,
        "config": to_dict(cfg),
    }


def eval_depth(ckpt: Path, data: Path, train: Sequence, test: Sequence, fmt: str, cfg: DepthEvalConfig) -> dict[str, Any]:
    """Depth results of one checkpoint."""
    from slife.evaluate.depth import run_depth_eval
    from slife.model.checkpoint import load_model

    model, meta = load_model(ckpt)
    _log(f"slife eval depth: {ckpt.name}: {len(train)} train / {len(test)} test images ({fmt})")
    res = run_depth_eval(model, train, test, cfg, fmt,
                         log=lambda r: _log(f"  step {r['step']}/{r['steps']} loss {r['loss']:.4f}"))
    m = res["metrics"]
    _log(f"  AbsRel {m['abs_rel']:.4f}  RMSE {m['rmse']:.4f}  d1 {m['d1']:.4f}")
    return {"task": "depth", **_header(ckpt, meta, data, fmt, cfg), **res}


def eval_match(ckpt: Path | None, data: Path, pairs: Sequence, fmt: str, cfg: MatchEvalConfig, sift: bool) -> dict[str, Any]:
    """Correspondence results of one checkpoint (None: SIFT only)."""
    from slife.evaluate.match import run_match_eval

    model, meta = None, {}
    if ckpt is not None:
        from slife.model.checkpoint import load_model

        model, meta = load_model(ckpt)
    res = run_match_eval(model, pairs, cfg, sift)
    header = _header(ckpt, meta, data, fmt, cfg) if ckpt is not None else {
        "checkpoint": None, "checkpoint_name": "sift", "hours_seen": None, "data": str(data), "format": fmt,
        "config": to_dict(cfg)}
    if "model" in res:
        _log(f"slife eval match: {header['checkpoint_name']}: AEPE {res['model']['aepe']:.2f} px "
             f"PCK@5 {res['model'].get('pck@5', float('nan')):.3f} on {res['pairs']} pairs")
    if "sift" in res:
        _log(f"slife eval match: SIFT: AEPE {res['sift']['aepe']:.2f} px at {res['sift']['matches']:.0f} matches/pair")
    return {"task": "match", **header, **res}


def run_depth(target: Path, data: Path, fmt: str, split_file: Path | None, cfg: DepthEvalConfig, out: Path | None) -> Path:
    from slife.model.checkpoint import resolve_checkpoint

    ckpt = resolve_checkpoint(target)
    train, test, fmt = depth_sets(data, fmt, split_file, cfg)
    res = eval_depth(ckpt, data, train, test, fmt, cfg)
    rdir = report_dir(ckpt, out)
    path = rdir / f"depth_{fmt}_{ckpt.stem}.json"
    write_json(path, res)
    append_markdown(rdir / REPORT_MD, depth_section([res]))
    return path


def run_match(target: Path, data: Path, fmt: str, cfg: MatchEvalConfig, out: Path | None) -> Path:
    from slife.model.checkpoint import resolve_checkpoint

    ckpt = resolve_checkpoint(target)
    pairs, fmt = match_set(data, fmt, cfg)
    res = eval_match(ckpt, data, pairs, fmt, cfg, cfg.sift)
    rdir = report_dir(ckpt, out)
    path = rdir / f"match_{fmt}_{ckpt.stem}.json"
    write_json(path, res)
    append_markdown(rdir / REPORT_MD, match_section([res]))
    return path


def run_all(run: Path, depth_data: Path | None, depth_format: str, split_file: Path | None, match_data: Path | None,
            match_format: str, cfg: EvalAllConfig, out: Path | None) -> Path:
    """Every milestone checkpoint of a run on both tasks; JSON, report tables, metric-vs-hours plot."""
    from slife.model.checkpoint import CHECKPOINT_DIR, list_checkpoints
    from slife.run import RunDir

    if depth_data is None and match_data is None:
        raise EvalDataError(f"{run}: give --depth-data and/or --match-data")
    ckpts = list_checkpoints(run, include_last=cfg.include_last)
    if not ckpts:
        raise EvalDataError(f"{run}: no milestone checkpoints in {CHECKPOINT_DIR}/ (hours_<h>.pt)")
    rdir = Path(out) if out is not None else RunDir(run).report_dir
    results: dict[str, Any] = {"run": str(run), "checkpoints": [c.name for c in ckpts], "depth": [], "match": []}
    if depth_data is not None:
        train, test, dfmt = depth_sets(depth_data, depth_format, split_file, cfg.depth)
        results["depth"] = [eval_depth(c.path, depth_data, train, test, dfmt, cfg.depth) for c in ckpts]
        for r in results["depth"]:
            r.pop("per_image", None)
        append_markdown(rdir / REPORT_MD, depth_section(results["depth"]))
    if match_data is not None:
        pairs, mfmt = match_set(match_data, match_format, cfg.match)
        rows = [eval_match(c.path, match_data, pairs, mfmt, cfg.match, sift=False) for c in ckpts]
        if cfg.match.sift:
            base = eval_match(None, match_data, pairs, mfmt, cfg.match, sift=True)
            results["sift"] = {k: base[k] for k in base if k.startswith("sift")}
            rows[0] = {**rows[0], **results["sift"]}
        for r in rows:
            r.pop("per_pair", None)
        results["match"] = rows
        append_markdown(rdir / REPORT_MD, match_section(rows))
    records = []
    for i, c in enumerate(ckpts):
        rec: dict[str, Any] = {"hours_seen": c.hours_seen, "checkpoint_name": c.name}
        if results["depth"]:
            m = results["depth"][i]["metrics"]
            rec.update({"depth AbsRel": m["abs_rel"], "depth d1": m["d1"]})
        if results["match"]:
            m = results["match"][i]["model"]
            rec.update({"match AEPE (px)": m["aepe"], "match PCK@5": m.get("pck@5")})
        records.append(rec)
    results["vs_hours"] = records
    path = rdir / "eval_all.json"
    write_json(path, results)
    plot_vs_hours(records, rdir / "eval_vs_hours.png")
    append_markdown(rdir / REPORT_MD, f"![metrics vs hours of video seen](eval_vs_hours.png)")
    return path
