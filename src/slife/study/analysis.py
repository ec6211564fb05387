"""A study's analysis: the CAS matrix with its baselines, ground-truth alignment, source use,
emergence over hours of video, the shift mechanism test and downstream evaluation; and the honest
headline sentences computed from them. Every driver here is a call into slife.align / slife.evaluate
/ slife.diagnose; this module only decides what to compare with what.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from slife.atomic import write_json_atomic, write_text_atomic as write_text
from slife.config import to_dict

NONLIFE_KINDS = ("static", "screen")
BASELINE_SEED = 12345  # the random-init baseline's seed is the study's seed + this (not any run's init)


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def headline(report: dict[str, Any], lives: list[str], families: dict[str, str], controls: dict[str, str]) -> dict[str, float]:
    """Summary statistics of the CAS matrix (and GT alignment): life models with each other, with each
    control (``controls``: name -> kind) and with the baselines."""
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
    for control in controls:
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
        for control in controls:
            stats[f"gt_moving_r1_{control}"] = gt[control]["moving_r1"]
    return stats


def controls_verdict(stats: dict[str, float], controls: dict[str, str]) -> str | None:
    """One sentence on the paper's controls: a diverse-data model should align like the life models
    (or better), a non-life one (static cameras, screen recordings) should not."""
    from slife.study.config import KIND_NAMES

    have = [c for c in controls if f"gt_moving_r1_{c}" in stats]
    if not have or "gt_moving_r1" not in stats:
        return None
    life, chance = stats["gt_moving_r1"], stats["gt_moving_r1_chance"]
    parts = [f"{KIND_NAMES.get(controls[c], c)} {stats[f'gt_moving_r1_{c}']:.3f}" for c in have]
    text = (f"Controls (GT within 1 on moving patches; life models {life:.3f}, chance {chance:.3f}): "
            + ", ".join(parts))  # fmt: skip
    if life <= 1.5 * chance:
        return text + "; the life models themselves are not above chance at this size, so the controls say nothing yet."
    nonlife = [c for c in have if controls[c] in NONLIFE_KINDS]
    if nonlife:
        best = max(stats[f"gt_moving_r1_{c}"] for c in nonlife)
        if life - best > 0.5 * (life - chance):
            text += "; the non-life models align clearly less than the life models, as in the paper."
        else:
            text += ("; a non-life model aligns about as well as the life models, so at this scale the "
                     "correspondence does not come from the lives' own motion.")  # fmt: skip
    return text


def verdict(stats: dict[str, float]) -> str:
    """One honest sentence on the CAS finding: do life models align more with each other than with random
    init (the negative control), and is that alignment on moving patches too (not the position prior)?"""
    if not np.isfinite(stats["life_vs_life"]):
        return "One life: CAS between models of different lives needs a study with two or more lives."
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
    """One sentence on ground truth: do the life models find moved patches (>= 3x chance and above random
    init; >= 2x: partly), and do they use the source?"""
    if "gt_moving_r1" not in stats:
        return "No ground truth on this test set."
    gt, chance, rnd = stats["gt_moving_r1"], stats["gt_moving_r1_chance"], stats["gt_moving_r1_random_init"]
    use = _mean([source_use[n]["swapped_minus_real"] for n in lives if n in source_use])
    where = f"GT alignment within 1 patch on moving patches {gt:.3f} (chance {chance:.3f}, random init {rnd:.3f})"
    uses = f"loss with another pair's source {'+' if use >= 0 else ''}{use:.3f} vs the right one" if np.isfinite(use) else ""
    end = f"; {uses}." if uses else "."
    if gt >= 3 * chance and gt > rnd + 0.05:
        return f"World models found moved patches: {where}" + end
    if gt >= 2 * chance and gt > rnd + 0.1:
        return f"World models found moved patches above chance ({gt / chance:.1f}x chance, short of 3x): {where}" + end
    return f"World models did not learn correspondence: {where}" + end


def run_mechanism(steps: int, seed: int, out: Path, progress: bool = True) -> dict[str, Any]:
    """The shift mechanism test with the recipe, shortened to ``steps``; reused when done."""
    from slife.config import ConfigError
    from slife.diagnose.cli import progress_line, summary_markdown
    from slife.diagnose.plots import plot_shift_curve
    from slife.diagnose.shift import ShiftConfig, load_shift_config, run_shift

    path = out / "mechanism" / "results.json"
    # a cosine over a few hundred steps decays before correspondence emerges: hold the peak lr (docs/diagnose.md)
    overrides = [f"steps={steps}", f"eval_every={max(1, steps // 4)}", "eval_pairs=32",
                 "read_masks=4", f"seed={seed}", f"optim.min_lr={ShiftConfig().optim.lr}"]  # fmt: skip
    shift_cfg = load_shift_config(None, overrides)
    if path.is_file():
        try:
            done = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid JSON ({exc}); remove it to run the mechanism test again") from exc
        if isinstance(done, dict) and done.get("config") == to_dict(shift_cfg):
            return done

    def report(point: dict[str, Any]) -> None:
        print(f"[study] mechanism {progress_line(point)}", flush=True)

    result = run_shift(shift_cfg, progress=report if progress else None)
    path.parent.mkdir(parents=True, exist_ok=True)
    plot_shift_curve(result, out / "mechanism" / "curve.png")
    write_text(out / "mechanism" / "summary.md", summary_markdown(result))
    write_json_atomic(path, result.to_json())
    return json.loads(path.read_text())


def alignment(run_dirs: dict[str, Path], testset: Any, analysis: Any, seed: int, out: Path, lives: list[str],
              families: dict[str, str]) -> dict[str, Any]:  # fmt: skip
    """CAS matrix + GT alignment of every final model with the baselines, source use, and emergence of
    every run against a reference life (same family if there is one), through slife.align.drivers;
    JSON and plots under ``out/alignment`` and ``out/emergence``."""
    from slife.align.controls import source_use
    from slife.align.drivers import AlignConfig, emergence, matrix

    cfg = AlignConfig(k=analysis.k, seed=seed, protocol=analysis.protocol, read_masks=analysis.read_masks)
    m = matrix(run_dirs, testset, cfg, out / "alignment", seed_offset=BASELINE_SEED,
               title=f"CAS (k={cfg.k}, read {cfg.read_protocol().label})")  # fmt: skip
    uses: dict[str, dict[str, float]] = {}
    if analysis.source_use and len(testset) > 1:  # the control swaps sources between pairs
        uses = {name: source_use(m.sources[name].load()[0], testset, seed) for name in run_dirs}
        uses["random-init"] = source_use(m.sources["random-init"].model, testset, seed)
    emerged: dict[str, Any] = {}
    if analysis.emergence:
        for name, run in run_dirs.items():
            others = [n for n in lives if n != name]
            if not others:
                continue
            ref = next((n for n in others if families.get(n) == families.get(name)), others[0])
            em = emergence(run, m.sources[ref], testset, cfg, out / "emergence" / f"{name}.json",
                           out / "emergence" / f"{name}.png", seed_offset=BASELINE_SEED, cache=m.cache,
                           title=f"{name}: CAS with {ref} vs hours of video")  # fmt: skip
            em["reference_name"] = ref
            emerged[name] = em
    return {"alignment": m.report, "source_use": uses, "emergence": emerged}


def downstream(run_dirs: dict[str, Path], ev: Any, root: Path, out: Path) -> dict[str, Any]:
    """``slife eval all`` on every run's milestones; the rows of the final checkpoint per run."""
    from slife.config import load_config
    from slife.evaluate.runner import EvalAllConfig, run_all
    from slife.study.plan import study_path

    def where(p: str | None) -> Path | None:
        return study_path(root, p) if p else None

    if not ev.depth_data and not ev.match_data:
        return {}
    cfg = load_config(EvalAllConfig, None, ev.set)
    rows = {}
    for name, run in run_dirs.items():
        path = run_all(run, where(ev.depth_data), ev.depth_format, where(ev.split_file), where(ev.match_data),
                       ev.match_format, cfg, out / "eval" / name)  # fmt: skip
        rows[name] = json.loads(Path(path).read_text())["vs_hours"][-1]
    return rows
