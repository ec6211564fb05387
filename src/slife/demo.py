"""``slife demo``: the whole pipeline on the embedded synthetic world, with an honest report.

First the shift mechanism test (slife.diagnose.shift: can this CroCo learn correspondence here at
all?), then a small shared world (lives in two families plus the diverse-data control, and held-out
places for test pairs): one CroCo per life with the CPU recipe, alignment between the models (CAS
matrix with random-init and identity baselines, read with the masked protocol), its emergence over
hours of video, ground-truth alignment from rendered depth + poses on all and on *moving* patches,
and whether each model uses the second view at all. Everything lands in ``OUT/report.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from slife.config import add_config_arguments, load_config, save_config, to_dict
from slife.diagnose.shift import RECIPE_MODEL  # the CPU recipe (configs/train_cpu.yaml, docs/diagnose.md)

CONTROLS = ("diverse", "static")  # the paper's controls, by their names in the demo's lives
CONTROL_NAMES = {"diverse": "diverse-data control", "static": "static-camera (non-life) control"}

QUICK = {
    "minutes": 1.0,
    "steps": 30,
    "test_minutes": 0.5,
    "test_pairs_per_life": 6,
    "milestone_fractions": [0.5, 1.0],
    "mechanism_steps": 20,
}



@dataclass
class DemoConfig:
    seed: int = 0  # the world seed
    lives: list[str] = field(default_factory=lambda: ["kitchen-1", "kitchen-2", "street-1", "street-2"])
    diverse: bool = True  # also train on the diverse-data control (unrelated short clips with hard cuts)
    static: bool = True  # and on the non-life control: fixed cameras, only the light changes (world static)
    minutes: float = 6.0  # video per life
    fps: float = 2.0
    frame_size: int = 256
    surface_detail: float = 0.5  # world surfaces with non-repeating detail (WorldConfig.surface_detail)
    test_lives: list[str] = field(default_factory=lambda: ["kitchen-9", "street-9"])  # held-out places
    test_minutes: float = 1.0
    test_pairs_per_life: int = 32
    model_size: str = "tiny"
    model_overrides: dict[str, Any] = field(default_factory=lambda: dict(RECIPE_MODEL))
    steps: int = 300  # optimiser steps per life
    batch_size: int = 32
    lr: float = 4e-3  # absolute peak learning rate (the recipe's)
    # shifted crops of the life's own frames (data.shifted): only them for the first `shifted_warmup` of
    # the steps, then this share of every batch
    shifted_warmup: float = 0.0
    shifted_share: float = 0.5
    milestone_fractions: list[float] = field(default_factory=lambda: [0.125, 0.25, 0.5, 1.0])
    train_overrides: list[str] = field(default_factory=list)  # extra `--set` lines for the TrainConfig
    k: int = 5  # top-k of the CAS
    protocol: str = "masked"  # how cross-attention is read (slife.align.sources.ReadProtocol)
    read_masks: int = 8
    mechanism: bool = True  # run the shift mechanism test first (configs/diagnose_shift.yaml, shortened)
    mechanism_steps: int = 600  # 19k pairs: ~3 min on 2 cores
    jobs: int = 0  # trainings at once, the cores split between them (0 = one per core)


@dataclass
class Phase:
    name: str
    seconds: float


def _timed(phases: list[Phase], name: str, start: float) -> None:
    phases.append(Phase(name, time.perf_counter() - start))
    print(f"[demo] {name}: {phases[-1].seconds:.0f} s", flush=True)


def build_world(cfg: DemoConfig, out: Path, progress: bool) -> tuple[dict[str, Path], list[Path]]:
    """Render the training lives (+ the diverse-data control) and the held-out test places."""
    from slife.world import WorldConfig, make_diverse, make_life, make_static

    world = WorldConfig(surface_detail=cfg.surface_detail)
    lives_dir = out / "lives"
    train_lives = {
        name: make_life(lives_dir / name, name, cfg.minutes, cfg.fps, cfg.seed, cfg.frame_size, progress, world)
        for name in cfg.lives
    }
    if cfg.diverse:
        train_lives["diverse"] = make_diverse(
            lives_dir / "diverse", cfg.minutes, cfg.fps, cfg.seed, cfg.frame_size, progress=progress, config=world
        )
    if cfg.static:
        train_lives["static"] = make_static(
            lives_dir / "static", cfg.minutes, cfg.fps, cfg.seed, cfg.frame_size, progress=progress, config=world
        )
    test_lives = [
        make_life(lives_dir / "test" / name, name, cfg.test_minutes, cfg.fps, cfg.seed, cfg.frame_size, progress, world)
        for name in cfg.test_lives
    ]
    return train_lives, test_lives


def train_config(cfg: DemoConfig, life_hours: float) -> Any:
    """The TrainConfig of one life: demo size, milestones at fractions of the life's length."""
    from slife.train.config import TrainConfig

    # the life's full length is always the final milestone; the fractions add the earlier ones
    milestones = sorted({f * life_hours for f in cfg.milestone_fractions if 0 < f < 1})
    base = {
        "model": {"size": cfg.model_size, "overrides": dict(cfg.model_overrides)},
        "steps": cfg.steps,
        "batch_size": cfg.batch_size,
        "milestones": milestones,
        "seed": cfg.seed,
        "save_every_minutes": 2.0,
        "tensorboard": False,
        # small models on minutes of video need a larger step than CroCo's 1.5e-4 * 32 / 256 [ours]
        "optim": {"lr": cfg.lr},
        "data": {"shifted": {"warmup": cfg.shifted_warmup, "share": cfg.shifted_share}},
    }
    return load_config(TrainConfig, None, cfg.train_overrides, base=base)


def train_all(cfg: DemoConfig, lives: dict[str, Path], out: Path, progress: bool) -> dict[str, dict[str, Any]]:
    """One model per life, ``cfg.jobs`` at once (slife.train.parallel); returns a summary per life."""
    from slife.life import Life
    from slife.train.parallel import TrainJob, train_many

    jobs = [TrainJob(d, out / "runs" / n, train_config(cfg, Life.open(d).hours)) for n, d in lives.items()]
    names = {job.run_dir: name for job, name in zip(jobs, lives)}

    def done(job: TrainJob, result: Any) -> None:
        print(f"[demo] trained {names[job.run_dir]}: loss {result.final_loss:.3f}, {result.pairs_per_s:.1f} pairs/s",
              flush=True)  # fmt: skip

    results = train_many(jobs, cfg.jobs, done, progress=progress)
    return {
        names[job.run_dir]: {"steps": r.steps, "pairs_seen": r.pairs_seen, "hours_seen": r.hours_seen,
                             "final_loss": r.final_loss, "pairs_per_s": r.pairs_per_s, "train_seconds": r.elapsed_s}
        for job, r in zip(jobs, results)
    }  # fmt: skip


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def headline(report: dict[str, Any], lives: list[str], families: dict[str, str]) -> dict[str, float]:
    """Summary statistics of the CAS matrix (and GT alignment): life models with each other vs the baselines."""
    names = report["names"]
    m = np.asarray(report["cas"])
    idx = {n: i for i, n in enumerate(names)}
    pairs = [(a, b) for i, a in enumerate(lives) for b in lives[i + 1 :]]
    within = [m[idx[a], idx[b]] for a, b in pairs if families[a] == families[b]]
    across = [m[idx[a], idx[b]] for a, b in pairs if families[a] != families[b]]
    stats = {
        "life_vs_life": _mean(within + across),
        "within_family": _mean(within),
        "across_family": _mean(across),
        "life_vs_random_init": _mean([m[idx[a], idx["random-init"]] for a in lives]),
        "life_vs_identity": _mean([m[idx[a], idx["identity"]] for a in lives]),
        "chance": report["chance"],
    }
    for control in CONTROLS:
        if control in idx:
            stats[f"life_vs_{control}"] = _mean([m[idx[a], idx[control]] for a in lives])
    if "cas_moving" in report:
        mm = np.asarray(report["cas_moving"], dtype=float)
        stats["life_vs_life_moving"] = _mean([mm[idx[a], idx[b]] for a, b in pairs])
        stats["life_vs_random_init_moving"] = _mean([mm[idx[a], idx["random-init"]] for a in lives])
    gt = report.get("gt_alignment")
    if gt:
        stats["gt_moving_r1"] = _mean([gt[a]["moving_r1"] for a in lives])
        stats["gt_moving_r1_random_init"] = gt["random-init"]["moving_r1"]
        stats["gt_moving_r1_chance"] = report["gt_alignment_chance"]["moving_r1"]
        for control in CONTROLS:
            if control in gt:
                stats[f"gt_moving_r1_{control}"] = gt[control]["moving_r1"]
    return stats


def controls_verdict(stats: dict[str, float]) -> str | None:
    """One sentence on the paper's controls: the diverse-data model should align like the life models
    (or better), the non-life (static-camera) model should not."""
    have = [c for c in CONTROLS if f"gt_moving_r1_{c}" in stats]
    if not have or "gt_moving_r1" not in stats:
        return None
    life, chance = stats["gt_moving_r1"], stats["gt_moving_r1_chance"]
    parts = [f"{CONTROL_NAMES[c]} {stats[f'gt_moving_r1_{c}']:.3f}" for c in have]
    text = (f"Controls (GT within 1 on moving patches; life models {life:.3f}, chance {chance:.3f}): "
            + ", ".join(parts))  # fmt: skip
    if life <= 1.5 * chance:
        return text + "; the life models themselves are not above chance at this size, so the controls say nothing yet."
    if "static" in have:
        static = stats["gt_moving_r1_static"]
        if life - static > 0.5 * (life - chance):
            text += "; the non-life model aligns clearly less than the life models, as in the paper."
        else:
            text += ("; the non-life model aligns about as well as the life models, so at this scale the "
                     "correspondence does not come from the lives' own motion.")  # fmt: skip
    return text


def verdict(stats: dict[str, float]) -> str:
    """One honest sentence on the CAS finding: do life models align more with each other than with random
    init (the negative control), and is that alignment on moving patches too (not the position prior)?"""
    ratio = stats["life_vs_life"] / max(stats["life_vs_random_init"], 1e-9)
    moving = stats.get("life_vs_life_moving")
    moving_ratio = None if moving is None else moving / max(stats.get("life_vs_random_init_moving", 0.0), 1e-9)
    prior = stats["life_vs_identity"] >= 0.8 * stats["life_vs_life"]
    if ratio >= 1.5 and (moving_ratio is None or moving_ratio >= 1.5) and not prior:
        return (
            f"Reproduced on this world: models from different lives align {ratio:.1f}x more with each other "
            f"(CAS {stats['life_vs_life']:.3f}) than with random init (CAS {stats['life_vs_random_init']:.3f}), "
            "also on moving patches."
        )
    if ratio > 1.0:
        why = (
            f"the models share the position prior (CAS with the identity map {stats['life_vs_identity']:.3f})"
            if prior
            else f"on moving patches life models align {moving_ratio:.2f}x random init"
            if moving_ratio is not None
            else "the margin is small"
        )
        return (
            f"Not reproduced as correspondence: life models align more with each other (CAS "
            f"{stats['life_vs_life']:.3f}) than with random init ({stats['life_vs_random_init']:.3f}), but {why}."
        )
    return (
        f"Not reproduced at this scale: life models align no more with each other (CAS {stats['life_vs_life']:.3f}) "
        f"than with random init (CAS {stats['life_vs_random_init']:.3f})."
    )


def correspondence_verdict(stats: dict[str, float], source_use: dict[str, dict[str, float]], lives: list[str]) -> str:
    """One sentence on ground truth: do the life models find moved patches, and do they use the source?"""
    if "gt_moving_r1" not in stats:
        return "No ground truth on this test set."
    gt, chance, rnd = stats["gt_moving_r1"], stats["gt_moving_r1_chance"], stats["gt_moving_r1_random_init"]
    use = _mean([source_use[n]["swapped_minus_real"] for n in lives if n in source_use])
    where = f"GT alignment within 1 patch on moving patches {gt:.3f} (chance {chance:.3f}, random init {rnd:.3f})"
    uses = f"loss with another pair's source {'+' if use >= 0 else ''}{use:.3f} vs the right one"
    if gt >= 3 * chance and gt > rnd + 0.05:
        return f"World models found moved patches: {where}; {uses}."
    return f"World models did not learn correspondence: {where}; {uses}."


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _f(v: Any) -> str:
    return "-" if v is None or not np.isfinite(v) else f"{v:.3f}"


def _mechanism_section(mech: dict[str, Any] | None) -> list[str]:
    if mech is None:
        return []
    last, base = mech["curve"][-1], mech["baselines"]
    rows = [[f"model, {p}", *[_f(last["scores"][p][k]) for k in ("exact", "within1", "exact_moving")]]
            for p in ("masked", "unmasked")]  # fmt: skip
    rows += [["random init, masked", *[_f(base["random-init"]["masked"][k]) for k in ("exact", "within1", "exact_moving")]],
             ["identity", *[_f(base["identity"][k]) for k in ("exact", "within1", "exact_moving")]],
             ["chance", *[_f(base["chance"][k]) for k in ("exact", "within1", "exact_moving")]]]  # fmt: skip
    return [
        "## Mechanism: can this CroCo learn correspondence here?",
        "",
        f"The shift test (docs/diagnose.md): photos moved by whole patches, scored on held-out photos, "
        f"{last['pairs']} training pairs ({last['train_seconds']:.0f} s). Loss with the right source "
        f"{last['loss_real_source']:.3f}, with another pair's source {last['loss_swapped_source']:.3f}.",
        "",
        "![mechanism](mechanism/curve.png)",
        "",
        _table(["reader", "exact", "within 1", "exact, moving"], rows),
        "",
    ]


def _shifted_text(cfg: DemoConfig) -> str:
    if cfg.shifted_warmup <= 0 and cfg.shifted_share <= 0:
        return "temporal + spatial pairs only"
    parts = []
    if cfg.shifted_warmup > 0:
        parts.append(f"the first {cfg.shifted_warmup:.0%} of the steps only")
    if cfg.shifted_share > 0:
        parts.append(f"{cfg.shifted_share:.0%} of every batch{' after that' if parts else ''}")
    return ("shifted crops of the life's own frames (data.shifted, docs/training.md): " + ", ".join(parts)
            + "; the rest temporal + spatial pairs")  # fmt: skip


def write_report(out: Path, cfg: DemoConfig, results: dict[str, Any]) -> Path:
    """Markdown report with the headline, tables and plots."""
    stats, align = results["headline"], results["alignment"]
    names = align["names"]
    matrix = np.asarray(align["cas"])
    parts = [
        "# slife demo: single-life models on a synthetic shared world",
        "",
        *[f"**{line}**" for line in results["headlines"]],
        "",
        f"- CAS between models of different lives: **{stats['life_vs_life']:.3f}** "
        f"(same family {_f(stats['within_family'])}, across families {_f(stats['across_family'])}; "
        f"on moving patches {_f(stats.get('life_vs_life_moving'))})",
        f"- CAS of life models with a random-init model: {stats['life_vs_random_init']:.3f}",
    ]
    if "life_vs_diverse" in stats:
        parts.append(f"- CAS of life models with the diverse-data control (short clips of many places): "
                     f"{stats['life_vs_diverse']:.3f}")  # fmt: skip
    if "life_vs_static" in stats:
        parts.append(f"- CAS of life models with the non-life control (static cameras): {stats['life_vs_static']:.3f}")
    parts += [
        f"- CAS of life models with the identity map (attend to the same position): {stats['life_vs_identity']:.3f}",
        f"- chance (random top-{align['k']} sets): {stats['chance']:.3f}",
        "",
        f"Setup: world seed {cfg.seed} (surface detail {cfg.surface_detail:g}); lives {', '.join(cfg.lives)}"
        + (" + diverse-data control" if cfg.diverse else "")
        + (" + static-camera control" if cfg.static else "")
        + f", {cfg.minutes:g} min each at {cfg.fps:g} fps; CroCo {cfg.model_size} with "
        f"{', '.join(f'{k}={v}' for k, v in cfg.model_overrides.items()) or 'no overrides'}, {cfg.steps} steps of batch "
        f"{cfg.batch_size} per life ({_shifted_text(cfg)}); test pairs: {align['testset'].get('pairs', '?')} temporal pairs from held-out "
        f"places ({', '.join(cfg.test_lives)}), {_f(align['testset'].get('displacement', {}).get('moving_fraction'))} "
        f"of their patches move >= 2 patches; k = {align['k']}, {align['num_patches']} patches per image; "
        f"cross-attention read {align.get('protocol', cfg.protocol)}.",
        "",
        *_mechanism_section(results.get("mechanism")),
        "## Correspondence Alignment Score",
        "",
        "![CAS matrix](alignment/cas_matrix.png)",
        "",
        _table(["", *names], [[a, *[f"{matrix[i, j]:.3f}" for j in range(len(names))]] for i, a in enumerate(names)]),
        "",
    ]
    if "gt_alignment" in align:
        gt = align["gt_alignment"]
        keys = list(align["gt_alignment_chance"])
        use = results.get("source_use", {})
        parts += [
            "## Ground-truth alignment and source use",
            "",
            "Fraction of target patches whose top-1 attended source patch lies within r patches of the true "
            "correspondence (from rendered depth + poses), on all patches and on moving ones (true displacement "
            ">= 2 patches, where the identity map scores 0). Last column: masked loss with another pair's "
            "source minus with the right one (about 0: the model does not use the second view).",
            "",
            _table(
                ["model", *keys, "source use"],
                [[n, *[_f(gt[n][r]) for r in keys], _f(use[n]["swapped_minus_real"]) if n in use else "-"] for n in names]
                + [["chance", *[_f(align["gt_alignment_chance"][r]) for r in keys], "-"]],
            ),
            "",
        ]
    parts += ["## Emergence over hours of video", ""]
    for name, em in results["emergence"].items():
        parts += [f"### {name} (reference: {em['reference_name']})", "", f"![emergence {name}](emergence/{name}.png)", ""]
        rows = []
        for p in em["points"]:
            gt = p.get("gt_alignment", {})
            rows.append([f"{p['hours'] * 60:.1f}", str(p["step"]), f"{p['cas']:.3f}", _f(gt.get("r1")), _f(gt.get("moving_r1"))])
        parts += [_table(["minutes of video", "step", "CAS vs reference", "GT r1", "GT r1, moving"], rows), ""]
    parts += ["## Training", ""]
    parts.append(
        _table(
            ["life", "steps", "pairs", "final loss", "pairs/s", "seconds"],
            [
                [n, str(s["steps"]), str(s["pairs_seen"]), f"{s['final_loss']:.3f}", f"{s['pairs_per_s']:.1f}", f"{s['train_seconds']:.0f}"]
                for n, s in results["training"].items()
            ],
        )
    )
    parts += [
        "",
        "## Time",
        "",
        _table(["phase", "seconds"], [[p["name"], f"{p['seconds']:.0f}"] for p in results["phases"]]),
        "",
        "All numbers are computed by this run (`results.json` beside this file); nothing is hand-entered.",
        "",
        f"Scale: the paper trains ViT-B CroCo models on hours of video per life with GPU-days of compute; this "
        f"demo trains a small model for {cfg.steps} steps of {cfg.batch_size} pairs per life on a CPU, so read "
        "the numbers as a check of the pipeline and its baselines, not as a replication. The diverse-data "
        "control is the paper's Kinetics analogue, which the paper finds aligns *well*; the static-camera "
        "control is one of its non-life controls (near-zero alignment in the paper); the other, screen "
        "recordings (`slife world screen`), is not in the demo yet.",
        "",
    ]
    path = out / "report.md"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def run_mechanism(cfg: DemoConfig, out: Path, progress: bool = True) -> dict[str, Any]:
    """The shift mechanism test with the recipe, shortened to ``cfg.mechanism_steps``; reused when done."""
    from slife.diagnose.cli import progress_line, summary_markdown
    from slife.diagnose.plots import plot_shift_curve
    from slife.diagnose.shift import ShiftConfig, load_shift_config, run_shift

    path = out / "mechanism" / "results.json"
    # a cosine over a few hundred steps decays before correspondence emerges: hold the peak lr (docs/diagnose.md)
    overrides = [f"steps={cfg.mechanism_steps}", f"eval_every={max(1, cfg.mechanism_steps // 4)}", "eval_pairs=32",
                 "read_masks=4", f"seed={cfg.seed}", f"optim.min_lr={ShiftConfig().optim.lr}"]  # fmt: skip
    shift_cfg = load_shift_config(None, overrides)
    if path.is_file():
        done = json.loads(path.read_text())
        if done.get("config") == to_dict(shift_cfg):
            return done

    def report(point: dict[str, Any]) -> None:
        print(f"[demo] mechanism {progress_line(point)}", flush=True)

    result = run_shift(shift_cfg, progress=report if progress else None)
    path.parent.mkdir(parents=True, exist_ok=True)
    plot_shift_curve(result, out / "mechanism" / "curve.png")
    (out / "mechanism" / "summary.md").write_text(summary_markdown(result), encoding="utf-8")
    data = result.to_json()
    path.write_text(json.dumps(data, indent=1))
    return json.loads(path.read_text())


def run_demo(cfg: DemoConfig, out: str | Path, progress: bool = True) -> dict[str, Any]:
    """The whole demo; returns the results dict that is also written to ``OUT/results.json``."""
    from slife.align.analysis import AttentionCache, alignment_report, emergence_report, standard_baselines
    from slife.align.controls import source_use
    from slife.align.plots import plot_emergence, plot_matrix
    from slife.align.sources import ReadProtocol, checkpoint_source
    from slife.align.testset import make_testset
    from slife.model.config import model_config
    from slife.world import parse_life_name

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "demo_config.yaml")
    phases: list[Phase] = []
    proto = ReadProtocol(cfg.protocol, cfg.read_masks, cfg.seed)

    mechanism = None
    if cfg.mechanism:
        t0 = time.perf_counter()
        mechanism = run_mechanism(cfg, out, progress)
        _timed(phases, "mechanism test", t0)

    t0 = time.perf_counter()
    lives, test_lives = build_world(cfg, out, progress)
    _timed(phases, "render world", t0)

    t0 = time.perf_counter()
    training = train_all(cfg, lives, out, progress)
    _timed(phases, "train", t0)

    t0 = time.perf_counter()
    mcfg = model_config(cfg.model_size, **cfg.model_overrides)
    testset = make_testset(test_lives, cfg.test_pairs_per_life, mcfg.img_size, cfg.seed, patch_size=mcfg.patch_size)
    testset.save(out / "testset.npz")
    cache = AttentionCache(testset, cfg.k)
    sources = {name: checkpoint_source(out / "runs" / name, name, protocol=proto) for name in lives}
    baselines = standard_baselines(mcfg, seed=cfg.seed + 12345, protocol=proto)
    sources.update(baselines)
    align = alignment_report(sources, testset, cfg.k, baselines=tuple(baselines), cache=cache)
    align["protocol"] = proto.label
    (out / "alignment").mkdir(exist_ok=True)
    (out / "alignment" / "cas_matrix.json").write_text(json.dumps(align, indent=1))
    plot_matrix(align["names"], np.asarray(align["cas"]), out / "alignment" / "cas_matrix.png", align["chance"],
                tuple(baselines), title=f"CAS (k={cfg.k}, read {proto.label})")  # fmt: skip
    uses: dict[str, dict[str, float]] = {}
    if len(testset) > 1:  # the control swaps sources between pairs
        uses = {name: source_use(sources[name].load()[0], testset, cfg.seed) for name in lives}
        uses["random-init"] = source_use(baselines["random-init"].model, testset, cfg.seed)

    life_names = [n for n in cfg.lives if n in lives]
    families = {n: parse_life_name(n)[0] for n in life_names}
    emergence = {}
    (out / "emergence").mkdir(exist_ok=True)
    for name in lives:
        others = [n for n in life_names if n != name]
        if not others:
            continue
        ref = next((n for n in others if families.get(n) == families.get(name)), others[0])
        em = emergence_report(out / "runs" / name, sources[ref], testset, cfg.k, seed=cfg.seed + 12345, cache=cache,
                              protocol=proto)  # fmt: skip
        em["reference_name"] = ref
        emergence[name] = em
        pts = em["points"]
        gt = {r: [p["gt_alignment"][r] for p in pts] for r in ("r1", "moving_r1")} if testset.has_gt else None
        plot_emergence(
            [p["hours"] for p in pts],
            [p["cas"] for p in pts],
            out / "emergence" / f"{name}.png",
            baselines=em["baselines"],
            chance=em["chance"],
            gt=gt,
            gt_chance={r: em["gt_alignment_chance"][r] for r in ("r1", "moving_r1")} if testset.has_gt else None,
            title=f"{name}: CAS with {ref} vs hours of video",
            sem=[p["cas_sem"] for p in pts],
        )
    _timed(phases, "alignment", t0)

    stats = headline(align, life_names, families)
    lines = []
    if mechanism is not None:
        last, ident = mechanism["curve"][-1], mechanism["baselines"]["identity"]
        m = last["scores"]["masked"]
        lines.append(f"Mechanism: on held-out photos shifted by whole patches the model finds the exact patch for "
                     f"{m['exact']:.2f} of them (identity {ident['exact']:.2f}, chance "
                     f"{mechanism['baselines']['chance']['exact']:.3f}) after {last['pairs']} pairs.")  # fmt: skip
    lines.append(correspondence_verdict(stats, uses, life_names))
    controls_line = controls_verdict(stats)
    if controls_line is not None:
        lines.append(controls_line)
    lines.append(verdict(stats))
    results = {
        "config": to_dict(cfg),
        "headline": stats,
        "verdict": lines[-1],
        "headlines": lines,
        "mechanism": mechanism,
        "alignment": align,
        "source_use": uses,
        "emergence": emergence,
        "training": training,
        "phases": [{"name": p.name, "seconds": p.seconds} for p in phases],
    }
    (out / "results.json").write_text(json.dumps(results, indent=1))
    report = write_report(out, cfg, results)
    for line in lines:
        print(f"[demo] {line}")
    print(f"[demo] report: {report}")
    return results


def _run(args: argparse.Namespace) -> int:
    base = QUICK if args.quick else None
    cfg = load_config(DemoConfig, args.config, args.overrides, base=base)
    run_demo(cfg, args.out, progress=not args.quiet)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the demo subcommand."""
    p = sub.add_parser("demo", help="end-to-end demo on the synthetic world (render, train, align, report)")
    p.add_argument("--out", type=Path, default=Path("demo_out"), help="output directory (default demo_out)")
    p.add_argument("--quick", action="store_true", help="a ~1-minute smoke run (tiny lives, few steps)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_config_arguments(p)
    p.set_defaults(func=_run)
