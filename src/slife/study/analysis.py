"""A study's analysis: the CAS matrix with its baselines, ground-truth alignment, source use,
emergence over hours of video, the shift mechanism test and downstream evaluation; and the honest
headline sentences computed from them. Every driver here is a call into slife.align / slife.evaluate
/ slife.diagnose; this module only decides what to compare with what.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from slife.config import to_dict

NONLIFE_KINDS = ("static", "screen")
BASELINE_SEED = 12345  # the random-init baseline's seed is the study's seed + this (not any run's init)


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def _life_pairs(lives: list[str]) -> list[tuple[str, str]]:
    return [(a, b) for i, a in enumerate(lives) for b in lives[i + 1 :]]


def null_label(name: str, nulls: dict[str, str]) -> str:
    """How a report names a null: the baselines by what they are, the null runs by kind and name."""
    fixed = {"random-init": "a random-init model", "identity": "the identity map (the position prior)",
             "pixel-match": "pixel matching (no learning)",
             "pixel-ncc": "pixel correlation (no learning)"}  # fmt: skip
    if name in fixed:
        return fixed[name]
    return f"the {nulls.get(name, 'null')} `{name}`"


def headline(report: dict[str, Any], lives: list[str], families: dict[str, str], controls: dict[str, str],
             nulls: dict[str, str] | None = None, replicates: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    """Summary statistics of the CAS matrix (and GT alignment): life models with each other, with each
    control (``controls``: name -> kind), with every null (the baselines random init, identity and
    pixel matching, and the null runs ``nulls``: name -> description) and the strongest of them; the
    seed spread from ``replicates`` (replicate run -> its life); CAS on moving patches split by
    whether the two life models are right."""
    nulls, replicates = nulls or {}, replicates or {}
    names = report["names"]
    m = np.asarray(report["cas"])
    mm = np.asarray(report["cas_moving"], dtype=float) if "cas_moving" in report else None
    idx = {n: i for i, n in enumerate(names)}
    pairs = _life_pairs(lives)
    within = [m[idx[a], idx[b]] for a, b in pairs if families[a] == families[b]]
    across = [m[idx[a], idx[b]] for a, b in pairs if families[a] != families[b]]
    stats: dict[str, Any] = {
        "life_vs_life": _mean(within + across),
        "within_family": _mean(within),
        "across_family": _mean(across),
        "chance": report["chance"],
    }
    from slife.align.names import NULL_BASELINES

    null_names = [n for n in (*NULL_BASELINES, *nulls) if n in idx]
    for other in [*null_names, *controls, *(["ground-truth"] if "ground-truth" in idx else [])]:
        stats[f"life_vs_{other}"] = _mean([m[idx[a], idx[other]] for a in lives if a != other])
        if mm is not None:
            stats[f"life_vs_{other}_moving"] = _mean([mm[idx[a], idx[other]] for a in lives if a != other])
    strongest = max(null_names, key=lambda n: stats[f"life_vs_{n}"])
    stats.update(strongest_null=strongest, strongest_null_label=null_label(strongest, nulls),
                 strongest_null_cas=stats[f"life_vs_{strongest}"])  # fmt: skip
    if mm is not None:
        stats["life_vs_life_moving"] = _mean([mm[idx[a], idx[b]] for a, b in pairs])
        strongest_m = max(null_names, key=lambda n: stats[f"life_vs_{n}_moving"])
        stats.update(strongest_null_moving=strongest_m, strongest_null_moving_label=null_label(strongest_m, nulls),
                     strongest_null_moving_cas=stats[f"life_vs_{strongest_m}_moving"])  # fmt: skip
    spreads, spreads_m, seed_cas = [], [], []
    for rep, life in replicates.items():
        others = [b for b in lives if b != life]
        seed_cas.append(m[idx[life], idx[rep]])
        if others:
            spreads.append(abs(_mean([m[idx[life], idx[b]] for b in others]) - _mean([m[idx[rep], idx[b]] for b in others])))
            if mm is not None:
                spreads_m.append(abs(_mean([mm[idx[life], idx[b]] for b in others])
                                     - _mean([mm[idx[rep], idx[b]] for b in others])))  # fmt: skip
    stats["seed_spread"] = max(spreads) if spreads else float("nan")
    stats["seed_spread_moving"] = max(spreads_m) if spreads_m else float("nan")
    stats["seed_vs_seed"] = _mean(seed_cas)  # two seeds of one life: how far CAS can go at this budget
    split = report.get("cas_moving_by_correctness", {})
    for part in ("both", "one", "neither"):
        rows = [split.get(f"{a} | {b}") or split.get(f"{b} | {a}") or {} for a, b in pairs]
        rows = [r[part] for r in rows if part in r]
        stats[f"life_vs_life_moving_{part}_right"] = _mean([r["cas"] for r in rows if np.isfinite(r["cas"])])
        stats[f"life_vs_life_moving_{part}_right_share"] = _mean([r["share"] for r in rows])
    gt = report.get("gt_alignment")
    if gt:
        stats["gt_moving_r1"] = _mean([gt[a]["moving_r1"] for a in lives])
        stats["gt_moving_r1_chance"] = report["gt_alignment_chance"]["moving_r1"]
        for other in [*null_names, *controls, *replicates]:
            stats[f"gt_moving_r1_{other}"] = gt[other]["moving_r1"]
        gt_nulls = [n for n in null_names if n != "identity"]  # identity scores 0 on moving patches by definition
        best = max(gt_nulls, key=lambda n: gt[n]["moving_r1"])
        stats.update(gt_strongest_null=best, gt_strongest_null_label=null_label(best, nulls),
                     gt_strongest_null_moving_r1=gt[best]["moving_r1"])  # fmt: skip
        gaps = [abs(gt[life]["moving_r1"] - gt[rep]["moving_r1"]) for rep, life in replicates.items()]
        stats["gt_seed_spread"] = max(gaps) if gaps else float("nan")
    marg = report.get("margins") or {}
    if marg:  # bootstrap intervals of the margins the verdicts read ([value, low, high])
        stats["margin_confidence"] = marg["confidence"]
        stats["strongest_null_margin_ci"] = marg.get("cas", {}).get(stats["strongest_null"])
        if "strongest_null_moving" in stats:
            stats["strongest_null_moving_margin_ci"] = marg.get("cas_moving", {}).get(stats["strongest_null_moving"])
        stats["within_minus_across_ci"] = marg.get("within_minus_across")
        if "gt_strongest_null" in stats:
            stats["gt_strongest_null_margin_ci"] = marg.get("gt_moving_r1", {}).get(stats["gt_strongest_null"])
        stats["gt_moving_r1_random_init"] = gt["random-init"]["moving_r1"]
    return stats


def controls_verdict(stats: dict[str, Any], controls: dict[str, str]) -> str | None:
    """One sentence on the paper's controls: a diverse-data model should align like the life models
    (or better), a non-life one (static cameras, screen recordings) should not. Only meaningful once
    the life models beat the nulls, which the sentence says."""
    from slife.study.config import KIND_NAMES

    have = [c for c in controls if f"gt_moving_r1_{c}" in stats]
    if not have or "gt_moving_r1" not in stats:
        return None
    life, chance = stats["gt_moving_r1"], stats["gt_moving_r1_chance"]
    parts = [f"{KIND_NAMES.get(controls[c], c)} `{c}` {stats[f'gt_moving_r1_{c}']:.3f}" for c in have]
    text = (f"Controls (GT within 1 on moving patches; life models {life:.3f}, chance {chance:.3f}): "
            + ", ".join(parts))  # fmt: skip
    if life <= 1.5 * chance:
        return text + "; the life models themselves are not above chance at this size, so the controls say nothing yet."
    best_null = stats.get("gt_strongest_null_moving_r1", float("nan"))
    if np.isfinite(best_null) and life <= best_null:
        return text + (f"; the life models do not beat {stats['gt_strongest_null_label']} ({best_null:.3f}), so the "
                       "controls cannot show what the lives add.")  # fmt: skip
    nonlife = [c for c in have if controls[c] in NONLIFE_KINDS]
    if nonlife:
        best = max(stats[f"gt_moving_r1_{c}"] for c in nonlife)
        if life - best > 0.5 * (life - chance):
            text += "; the non-life models align clearly less than the life models, as in the paper."
        else:
            text += ("; a non-life model aligns about as well as the life models, so at this scale the "
                     "correspondence does not come from the lives' own motion.")  # fmt: skip
    return text


def verdict(stats: dict[str, Any]) -> str:
    """One sentence on the CAS finding. "Aligned" needs CAS between models of different lives above
    CAS of the lives with the strongest null (random init, identity, pixel matching, the shift-only and
    real-only runs), on all and on moving patches, by more than the spread of two training seeds and
    with the margin's bootstrap interval above 0; otherwise the sentence names the null that explains
    it, or what is missing to tell."""
    ll = stats["life_vs_life"]
    if not np.isfinite(ll):
        return "One life: CAS between models of different lives needs a study with two or more lives."
    nv, label = stats["strongest_null_cas"], stats["strongest_null_label"]
    margin = ll - nv
    moving = "life_vs_life_moving" in stats
    llm = stats.get("life_vs_life_moving", float("nan"))
    mnv, mlabel = stats.get("strongest_null_moving_cas", float("nan")), stats.get("strongest_null_moving_label", "")
    mmargin = llm - mnv
    if margin <= 0:
        return (f"Not reproduced: {label} explains the alignment: life models align with it (CAS {nv:.3f}) as much as "
                f"with each other (CAS {ll:.3f}).")  # fmt: skip
    if moving and not mmargin > 0:
        return (f"Not reproduced: on moving patches {mlabel} explains the alignment: life models align with it "
                f"(CAS {mnv:.3f}) as much as with each other (CAS {llm:.3f}).")  # fmt: skip
    spread, spread_m = stats.get("seed_spread", float("nan")), stats.get("seed_spread_moving", float("nan"))
    where = f"CAS {ll:.3f} vs {nv:.3f} with {label}" + (f"; moving patches {llm:.3f} vs {mnv:.3f} with {mlabel}" if moving else "")
    if not np.isfinite(spread):
        return (f"Not established: life models align more with each other than with the strongest null ({where}), but "
                "with one training seed per life the seed spread is unknown (add replicates).")  # fmt: skip
    moving_ok = not moving or not np.isfinite(spread_m) or mmargin > spread_m
    if margin > spread and moving_ok:
        unsure = _interval_spans_zero(stats, "strongest_null_margin_ci", "strongest_null_moving_margin_ci")
        if unsure:
            return (f"Not established: life models align more with each other than with the strongest null by {margin:.3f} "
                    f"({where}), more than the seed spread {spread:.3f}, but {unsure}.")  # fmt: skip
        return (f"Aligned beyond every null: models of different lives agree more with each other than with any null "
                f"by {margin:.3f} ({where}), more than the seed spread {spread:.3f}{_interval_text(stats, 'strongest_null_margin_ci')}.")  # fmt: skip
    return (f"Not established: life models align more with each other than with the strongest null ({where}), but by "
            f"{margin:.3f}, within the seed spread {spread:.3f}.")  # fmt: skip


def _interval_spans_zero(stats: dict[str, Any], *keys: str) -> str:
    """What an interval says against a margin (empty when every interval given lies above 0)."""
    for key in keys:
        ci = stats.get(key)
        if ci and np.isfinite(ci[1]) and ci[1] <= 0:
            what = "on moving patches " if "moving" in key else ""
            return (f"the {100 * stats.get('margin_confidence', 0.95):.0f} % interval of that margin {what}over test pairs "
                    f"and models is [{ci[1]:.3f}, {ci[2]:.3f}], which includes 0")  # fmt: skip
    return ""


def _interval_text(stats: dict[str, Any], key: str) -> str:
    ci = stats.get(key)
    if not ci or not np.isfinite(ci[1]):
        return ""
    return f" (the margin's {100 * stats.get('margin_confidence', 0.95):.0f} % interval [{ci[1]:.3f}, {ci[2]:.3f}])"


def correspondence_verdict(stats: dict[str, Any], source_use: dict[str, dict[str, float]], lives: list[str]) -> str:
    """One sentence on ground truth: do the life models find moved patches? "Found" needs >= 3x chance
    and more than every null (random init, pixel matching, the null runs) by more than the seed spread,
    with the margin's bootstrap interval (test pairs and models) above 0."""
    if "gt_moving_r1" not in stats:
        return "No ground truth on this test set."
    gt, chance, rnd = stats["gt_moving_r1"], stats["gt_moving_r1_chance"], stats["gt_moving_r1_random_init"]
    best, label = stats["gt_strongest_null_moving_r1"], stats["gt_strongest_null_label"]
    spread = stats.get("gt_seed_spread", float("nan"))
    use = _mean([source_use[n]["swapped_minus_real"] for n in lives if n in source_use])
    pix = max((stats[k] for k in ("gt_moving_r1_pixel-match", "gt_moving_r1_pixel-ncc") if k in stats), default=float("nan"))
    where = (f"GT alignment within 1 patch on moving patches {gt:.3f} (chance {chance:.3f}, random init {rnd:.3f}, "
             f"pixel matching {pix:.3f}; strongest null: {label} {best:.3f})")  # fmt: skip
    uses = f"loss with another pair's source {'+' if use >= 0 else ''}{use:.3f} vs the right one" if np.isfinite(use) else ""
    end = f"; {uses}." if uses else "."
    if gt >= 3 * chance and gt > best:
        if not np.isfinite(spread):
            return f"World models found moved patches above every null, with one seed (spread unknown): {where}" + end
        if gt - best > spread:
            unsure = _interval_spans_zero(stats, "gt_strongest_null_margin_ci")
            if unsure:
                return (f"World models found moved patches above every null by {gt - best:.3f}, more than the seed spread "
                        f"({spread:.3f}), but {unsure}: {where}" + end)  # fmt: skip
            return (f"World models found moved patches beyond every null and the seed spread ({spread:.3f})"
                    f"{_interval_text(stats, 'gt_strongest_null_margin_ci')}: {where}" + end)  # fmt: skip
        return f"World models found moved patches, but their margin over the strongest null is within the seed spread ({spread:.3f}): {where}" + end
    beaten = "and above every null" if gt > best else f"but not beyond {label}"
    if gt >= 2 * chance:
        return f"World models find moved patches above chance ({gt / chance:.1f}x chance) {beaten}: {where}" + end
    if gt >= 1.5 * chance:
        return f"World models find moved patches only weakly ({gt / chance:.1f}x chance) {beaten}: {where}" + end
    return f"World models did not learn correspondence: {where}" + end


def mechanism_line(mechanism: dict[str, Any]) -> str:
    """The mechanism test in one sentence, on moving patches, with pixel matching beside it."""
    last, base = mechanism["curve"][-1], mechanism["baselines"]
    m = last["scores"]["masked"]
    pix = base.get("pixel-match")
    pixel = f", pixel matching {pix['exact_moving']:.2f}" if pix else ""
    return (f"Mechanism (one-step copy detection, not yet correspondence): on held-out photos shifted by whole patches "
            f"the model finds the exact patch for {m['exact_moving']:.2f} of the moving patches after {last['pairs']} "
            f"pairs (identity {base['identity']['exact_moving']:.2f}, chance {base['chance']['exact_moving']:.3f}"
            f"{pixel})" + (": pixel matching solves this test, so it shows only that the machinery can learn to copy."
                           if pix and pix["exact_moving"] >= 0.95 else "."))  # fmt: skip


def run_mechanism(steps: int, seed: int, out: Path, progress: bool = True) -> dict[str, Any]:
    """The shift mechanism test with the recipe, shortened to ``steps``; reused when done."""
    from slife.config import ConfigError
    from slife.diagnose.report import progress_line, write_outputs
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

    write_outputs(run_shift(shift_cfg, progress=report if progress else None), path.parent)
    return json.loads(path.read_text())


def align_config(analysis: Any, seed: int) -> Any:
    """The AlignConfig of a study's ``analysis`` section (every matrix of the study reads the same way)."""
    from slife.align.drivers import AlignConfig

    return AlignConfig(k=analysis.k, seed=seed, protocol=analysis.protocol, read_masks=analysis.read_masks,
                       logits=analysis.logits, layers=None if analysis.layers is None else tuple(analysis.layers),
                       heads=None if analysis.heads is None else tuple(analysis.heads), direction=analysis.direction,
                       metrics=analysis.metrics, bootstrap=analysis.bootstrap, metric_bootstrap=analysis.metric_bootstrap,
                       confidence=analysis.confidence)  # fmt: skip


def margins(m: Any, testset: Any, lives: list[str], families: dict[str, str], null_runs: Sequence[str], cfg: Any
            ) -> dict[str, Any]:  # fmt: skip
    """Bootstrap intervals of the differences every verdict reads, over test pairs and models
    (slife.align.bootstrap.contrast_interval: the pairs drawn once for both sides, the model pairs of
    each side drawn on their own): CAS between different lives minus CAS of the lives with each null
    (all and moving patches), within- minus across-family CAS, and the life models' GT alignment
    within 1 on moving patches minus each null's. Each entry is [value, low, high]."""
    from slife.align.analysis import moving_patches, ranked_cas_per_pair
    from slife.align.bootstrap import bootstrap, contrast_interval
    from slife.align.intervals import gt_counts
    from slife.align.names import NULL_BASELINES

    if cfg.bootstrap <= 0:
        return {}
    ranked = {n: m.cache.get(n, s) for n, s in m.matchers.items()}
    nulls = [n for n in (*NULL_BASELINES, *null_runs) if n in ranked]
    pairs = [(a, b) for i, a in enumerate(lives) for b in lives[i + 1 :]]
    def ci(a: np.ndarray, b: np.ndarray, seed: int) -> list[float]:
        iv = contrast_interval(a, b, cfg.bootstrap, cfg.confidence, seed)
        return [iv.value, iv.low, iv.high]

    out: dict[str, Any] = {"confidence": cfg.confidence, "resamples": cfg.bootstrap, "cas": {}, "cas_moving": {}}
    moving = moving_patches(testset) if testset.has_gt else None
    for key, where in (("cas", None), ("cas_moving", moving)):
        if key == "cas_moving" and where is None or not pairs:
            continue
        ll = np.stack([ranked_cas_per_pair(ranked[a], ranked[b], where) for a, b in pairs])
        for k, n in enumerate(nulls):
            ln = np.stack([ranked_cas_per_pair(ranked[a], ranked[n], where) for a in lives])
            out[key][n] = ci(ll, ln, cfg.seed + k)
        if key == "cas":
            within = [i for i, (a, b) in enumerate(pairs) if families[a] == families[b]]
            across = [i for i, (a, b) in enumerate(pairs) if families[a] != families[b]]
            if within and across:
                out["within_minus_across"] = ci(ll[within], ll[across], cfg.seed)
    if testset.has_gt and moving is not None:
        counts = {n: gt_counts(ranked[n], testset, 1, moving) for n in [*lives, *nulls]}
        den = counts[lives[0]][1]  # patches with GT on moving patches: the same for every source
        hits = {n: c[0] for n, c in counts.items()}

        def gap(null: str) -> Any:
            def statistic(idx: np.ndarray) -> float:
                d = den[idx].sum()
                return float(np.mean([hits[a][idx].sum() for a in lives]) / d - hits[null][idx].sum() / d) if d else float("nan")
            return statistic

        out["gt_moving_r1"] = {}
        for k, n in enumerate(nulls):
            if n == "identity":
                continue
            iv = bootstrap(gap(n), len(testset), cfg.bootstrap, cfg.confidence, cfg.seed + k)
            out["gt_moving_r1"][n] = [iv.value, iv.low, iv.high]
    return out


def similarity_groups(names: Sequence[str], lives: list[str], families: dict[str, str]
                      ) -> tuple[dict[str, list[tuple[str, str]]], list[tuple[str, str]]]:  # fmt: skip
    """The model pairs whose mean similarity the study reports with an interval, and the contrasts of
    those means: the lives with each other vs the lives with every other model, the random-init model
    and raw pixels (``lives - lives | X``), and within- vs across-family pairs of lives."""
    pairs = [(a, b) for i, a in enumerate(lives) for b in lives[i + 1 :]]
    groups: dict[str, list[tuple[str, str]]] = {"lives": pairs}
    contrasts = []
    for other in [n for n in (*names, "random-init", "pixels") if n not in lives]:
        groups[f"lives | {other}"] = [(a, other) for a in lives]
        contrasts.append(("lives", f"lives | {other}"))
    within = [(a, b) for a, b in pairs if families.get(a) == families.get(b)]
    across = [(a, b) for a, b in pairs if families.get(a) != families.get(b)]
    if within and across:
        groups["within family"], groups["across families"] = within, across
        contrasts.append(("within family", "across families"))
    return groups, contrasts


def _similarity_options(run_dirs: Mapping[str, Path], lives: list[str], families: dict[str, str]) -> dict[str, Any]:
    groups, contrasts = similarity_groups(list(run_dirs), lives, families)
    return {"similarity_groups": groups, "similarity_contrasts": contrasts}


def alignment(run_dirs: dict[str, Path], testset: Any, analysis: Any, seed: int, out: Path, lives: list[str],
              families: dict[str, str], curves: list[str] | None = None, null_runs: list[str] = ()) -> dict[str, Any]:  # fmt: skip
    """CAS matrix + GT alignment of every final model with the baselines, source use, and emergence of
    the runs in ``curves`` (default all) against a reference life (same family if there is one), with
    the null runs ``null_runs`` as lines beside the baselines, through slife.align.drivers; JSON and
    plots under ``out/alignment`` and ``out/emergence``."""
    from slife.align.checks import source_use
    from slife.align.drivers import emergence, matrix

    cfg = align_config(analysis, seed)
    m = matrix(run_dirs, testset, cfg, out / "alignment", seed_offset=BASELINE_SEED,
               title=f"CAS (k={cfg.k}, read {cfg.read_protocol().label})",
               **_similarity_options(run_dirs, lives, families))  # fmt: skip
    m.report["margins"] = margins(m, testset, lives, families, null_runs, cfg)
    uses: dict[str, dict[str, float]] = {}
    if analysis.source_use and len(testset) > 1:  # the check swaps the source views between pairs
        uses = {name: source_use(m.matchers[name].load()[0], testset, seed) for name in run_dirs}
        uses["random-init"] = source_use(m.matchers["random-init"].model, testset, seed)
    emerged: dict[str, Any] = {}
    if analysis.emergence:
        for name in curves if curves is not None else list(run_dirs):
            others = [n for n in lives if n != name]
            if not others:
                continue
            ref = next((n for n in others if families.get(n) == families.get(name)), others[0])
            extra = {n: m.matchers[n] for n in null_runs if n != name}
            em = emergence(run_dirs[name], m.matchers[ref], testset, cfg, out / "emergence" / f"{name}.json",
                           out / "emergence" / f"{name}.png", seed_offset=BASELINE_SEED, cache=m.cache,
                           title=f"{name}: CAS with {ref} vs minutes of video seen (streaming)",
                           extra_baselines=extra)  # fmt: skip
            em["reference_name"] = ref
            emerged[name] = em
    return {"alignment": m.report, "source_use": uses, "emergence": emerged}


def nested_emergence(series: dict[str, list[Path]], measured: dict[str, Any], testset: Any, analysis: Any, seed: int,
                     out: Path, lives: list[str], families: dict[str, str], controls: dict[str, str]) -> dict[str, Any]:  # fmt: skip
    """The nested-subset emergence of each life in ``series`` (life -> its runs on growing prefixes,
    one schedule): CAS of each prefix's final model with a reference life (same family first), with
    the controls' CAS with that reference as floor (non-life) and ceiling (diverse data) beside the
    baselines; JSON and plot ``out/emergence/nested-<life>``."""
    from slife.align.drivers import emergence

    from slife.align.matchers import checkpoint_matcher

    if not series:
        return {}
    cfg = align_config(analysis, seed)
    report = measured["alignment"]
    out_of: dict[str, Any] = {}
    for life, runs in series.items():
        others = [n for n in lives if n != life]
        if not others:
            continue
        ref = next((n for n in others if families.get(n) == families.get(life)), others[0])
        models = report.get("models", {})
        ref_matcher = checkpoint_matcher(models[ref], ref, cfg.batch_size, cfg.device, cfg.read_protocol())
        extra = {c: checkpoint_matcher(models[c], c, cfg.batch_size, cfg.device, cfg.read_protocol())
                 for c in controls if c in models}  # fmt: skip
        em = emergence(list(runs), ref_matcher, testset, cfg, out / "emergence" / f"nested-{life}.json",
                       out / "emergence" / f"nested-{life}.png", seed_offset=BASELINE_SEED,
                       title=f"{life}: nested prefixes, CAS with {ref} vs minutes of video (same schedule)",
                       extra_baselines=extra)  # fmt: skip
        em["reference_name"] = ref
        em["controls"] = {c: controls[c] for c in extra}
        out_of[life] = em
    return out_of


def copy_reward_of(testset: Any, seed: int) -> dict[str, Any] | None:
    """How much copying the right source patch can lower the loss on the test pairs, and on shifted
    pairs of the same frames (slife.align.reward); None without ground truth or on a grid under 3x3."""
    from slife.align.reward import reward_report
    from slife.align.testset import TestSetError

    try:
        return reward_report(testset, max_shift=min(3, testset.grid // 2), seed=seed)
    except TestSetError:
        return None


def hard_alignment(run_dirs: dict[str, Path], testset: Any, analysis: Any, seed: int, out: Path, lives: list[str],
                   families: dict[str, str], null_runs: Sequence[str] = ()) -> dict[str, Any]:  # fmt: skip
    """The CAS matrix, GT alignment and margin intervals of every final model and the nulls on the
    second ("hard") test set, under ``out/alignment_hard``."""
    from slife.align.drivers import matrix

    cfg = align_config(analysis, seed)
    m = matrix(run_dirs, testset, cfg, out / "alignment_hard", seed_offset=BASELINE_SEED,
               title=f"CAS on spatial pairs (k={cfg.k}, read {cfg.read_protocol().label})",
               **_similarity_options(run_dirs, lives, families))  # fmt: skip
    m.report["margins"] = margins(m, testset, lives, families, null_runs, cfg)
    return m.report


def downstream(run_dirs: dict[str, Path], ev: Any, root: Path, out: Path,
               test_lives: dict[str, Path] | None = None) -> dict[str, Any]:  # fmt: skip
    """``slife eval all`` on every run's milestones; the rows of the final checkpoint per run. A data
    path that names a held-out world place (``test_lives``: name -> its rendered life) evaluates on
    that life: depth probes on its GT depth, correspondence on its GT-posed frame pairs."""
    from slife.config import load_config
    from slife.evaluate.runner import EvalAllConfig, run_all
    from slife.study.plan import study_path

    def where(p: str | None) -> Path | None:
        if p and test_lives and p in test_lives:
            return test_lives[p]
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
