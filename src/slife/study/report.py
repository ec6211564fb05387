"""``report.md`` and ``report.html`` of a study: the headline sentences, the CAS matrix with its
baselines, ground-truth alignment and source use, emergence curves, downstream results, training and
time; every number next to its baselines, all computed by the run (``results.json``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from slife.align.bootstrap import established
from slife.atomic import write_text_atomic
from slife.study.config import KIND_NAMES, StudyConfig
from slife.study.document import Document


def _f(v: Any) -> str:
    return "-" if v is None or not np.isfinite(v) else f"{v:.3f}"


def _mechanism(doc: Document, mech: dict[str, Any] | None) -> None:
    if mech is None:
        return
    last, base = mech["curve"][-1], mech["baselines"]
    keys = ("exact", "within1", "exact_moving")
    rows = [[f"model, {p}", *[_f(last["scores"][p][k]) for k in keys]] for p in ("masked", "unmasked")]
    rows += [["random init, masked", *[_f(base["random-init"]["masked"][k]) for k in keys]],
             ["identity", *[_f(base["identity"][k]) for k in keys]],
             ["chance", *[_f(base["chance"][k]) for k in keys]]]  # fmt: skip
    if "pixel-match" in base:
        rows.append(["pixel matching (no learning)", *[_f(base["pixel-match"][k]) for k in keys]])
    doc.heading(2, "Mechanism: can this CroCo learn to copy a moved patch?")
    doc.para(f"The shift test (docs/diagnose.md): photos moved by whole patches, scored on held-out photos, "
             f"{last['pairs']} training pairs ({last['train_seconds']:.0f} s). Loss with the right source "
             f"{last['loss_real_source']:.3f}, with another pair's source {last['loss_swapped_source']:.3f}.")  # fmt: skip
    doc.image("mechanism", "mechanism/curve.png")
    doc.table(["reader", "exact", "within 1", "exact, moving"], rows)


def _confidence(align: dict[str, Any]) -> str:
    return f"{100 * float((align.get('options') or {}).get('confidence', 0.95)):.0f} %"


def _ci(entry: Any) -> str:
    """``0.123 [0.05, 0.19]`` from a margin's [value, low, high] (slife.align.bootstrap.format_interval)."""
    from slife.align.bootstrap import format_interval

    return format_interval(*entry) if entry else "-"


def _nulls(doc: Document, stats: dict[str, Any], results: dict[str, Any], title: str = "Life models against the nulls",
           where: str = "", margins: dict[str, Any] | None = None) -> None:  # fmt: skip
    """The life models' agreement next to every null, and the moving-patch CAS split by correctness."""
    from slife.study.analysis import null_label

    nulls = results.get("nulls", {})
    from slife.align.names import NULL_BASELINES

    names = [n for n in (*NULL_BASELINES, *nulls, "ground-truth") if f"life_vs_{n}" in stats]
    label = {n: ("the ground-truth oracle (not a null: the truth)" if n == "ground-truth" else null_label(n, nulls))
             for n in names}  # fmt: skip
    doc.heading(2, title)
    doc.para(where + "A claim that models of different lives align must beat what every null shares with them: a "
             "random-init model, the identity map (the position prior), pixel matching, a shift-only model that never "
             "saw the world and a model of the same budget trained on real pairs only; by more than the seed spread. "
             f"GT: within 1 patch on moving patches (chance {_f(stats.get('gt_moving_r1_chance'))}).")  # fmt: skip
    rows = [["models of different lives (each other)", _f(stats["life_vs_life"]), _f(stats.get("life_vs_life_moving")),
             _f(stats.get("gt_moving_r1"))]]  # fmt: skip
    rows += [[label[n], _f(stats[f"life_vs_{n}"]), _f(stats.get(f"life_vs_{n}_moving")),
              _f(stats.get(f"gt_moving_r1_{n}"))] for n in names]  # fmt: skip
    for rep, life in results.get("replicates", {}).items():
        rows.append([f"{life}, second seed (`{rep}`): CAS of the two seeds", _f(stats.get("seed_vs_seed")), "-",
                     _f(stats.get(f"gt_moving_r1_{rep}"))])  # fmt: skip
    rows.append(["seed spread (life-vs-life CAS of one life's two seeds)", _f(stats.get("seed_spread")),
                 _f(stats.get("seed_spread_moving")), _f(stats.get("gt_seed_spread"))])  # fmt: skip
    doc.table(["CAS of the life models with", "all patches", "moving patches", "GT of that model"], rows)
    if margins:
        doc.para(f"Margins of the life models over each null with their {100 * margins['confidence']:.0f} % bootstrap "
                 f"intervals ({margins['resamples']} resamples of the test pairs and of the models): CAS between lives "
                 "minus CAS of the lives with the null, and the lives' GT alignment minus the null's (within 1, moving "
                 "patches). A verdict needs the strongest null's interval above 0.")  # fmt: skip
        doc.table(["margin over", "CAS, all patches", "CAS, moving patches", "GT, moving patches"],
                  [[label[n], _ci(margins["cas"].get(n)), _ci(margins.get("cas_moving", {}).get(n)),
                    _ci(margins.get("gt_moving_r1", {}).get(n))] for n in names if n in margins["cas"]])  # fmt: skip
    share = stats.get("life_vs_life_moving_both_right_share")
    if share is not None and np.isfinite(share):
        doc.para("CAS between life models on moving patches, split by whether their top-1 is right (within 1 patch): "
                 "agreement where neither is right is agreement on errors, not on the world.")  # fmt: skip
        doc.table(["both models", "share of moving patches", "CAS"],
                  [[f"{part} right", _f(stats[f"life_vs_life_moving_{part}_right_share"]),
                    _f(stats[f"life_vs_life_moving_{part}_right"])] for part in ("both", "one", "neither")])  # fmt: skip


def _emergence(doc: Document, curves: dict[str, Any], title: str, what: str, nested: bool = False) -> None:
    """One emergence section: per run (or nested series) its plot and a table of the points and lines."""
    doc.heading(2, title)
    doc.para(what)
    for name, em in curves.items():
        doc.heading(3, f"{name} (reference: {em['reference_name']})")
        doc.image(f"emergence {name}", f"emergence/{'nested-' if nested else ''}{name}.png")
        metrics = (em.get("similarity") or {}).get("metrics", [])
        sims = (em.get("similarity") or {}).get("baselines", {})

        def sim(entry: dict[str, Any] | None) -> list[str]:
            cells = [(entry or {}).get(m, {}) for m in metrics]
            return [_ci([c["value"], *c["interval"]]) if "interval" in c else _f(c.get("value")) for c in cells]

        def gt(p: dict[str, Any], key: str) -> str:
            value, ci = p.get("gt_alignment", {}).get(key), p.get("gt_alignment_ci", {}).get(key)
            return _ci([value, *ci]) if ci and value is not None else _f(value)

        rows = [[f"{p['hours'] * 60:.1f}", "-" if nested else str(p["step"]),
                 _ci([p["cas"], *p["cas_ci"]]) if p.get("cas_ci") else f"{p['cas']:.3f}", gt(p, "r1"),
                 gt(p, "moving_r1"), *sim(p.get("similarity"))] for p in em["points"]]  # fmt: skip
        rows += [[n.replace(" vs reference", ""), "-", f"{v:.3f}", "-", "-", *sim(sims.get(n))]
                 for n, v in em.get("baselines", {}).items()]  # fmt: skip
        rows += [[n.replace(" vs reference", ""), "-", "-", "-", "-", *sim(v)] for n, v in sims.items()
                 if n not in em.get("baselines", {})]  # fmt: skip
        doc.table(["minutes of video", "step", "CAS vs reference", "GT r1", "GT r1, moving",
                   *[f"{m} vs reference" for m in metrics]], rows)  # fmt: skip


def _similarity(doc: Document, sim: dict[str, Any] | None, lives: list[str], stats: dict[str, Any]) -> None:
    """The representation-similarity metrics (``analysis.metrics``) beside CAS: the life models with
    each other and with every other model and baseline, each metric at its best layer pair, with the
    half-sample intervals of the group means and of their contrasts where computed."""
    if not sim:
        return
    names, metrics = sim["names"], sim["metrics"]
    idx = {n: i for i, n in enumerate(names)}
    have = [n for n in lives if n in idx]
    if len(have) < 2:
        return

    def mean(metric: str, others: list[str] | None) -> float:
        v = np.asarray(sim[metric]["value"], dtype=float)
        if others is None:  # the lives with each other
            cells = [v[idx[a], idx[b]] for i, a in enumerate(have) for b in have[i + 1 :]]
        else:
            cells = [v[idx[a], idx[o]] for a in have for o in others if o != a]
        return float(np.mean(cells)) if cells else float("nan")

    def cell(metric: str, group: str, others: list[str] | None) -> str:
        entry = sim[metric].get("groups", {}).get(group)
        return _ci(entry) if entry else _f(mean(metric, others))

    rows = [["each other", *[cell(m, "lives", None) for m in metrics], _f(stats.get("life_vs_life"))]]
    for other in [n for n in names if n not in have]:
        rows.append([other, *[cell(m, f"lives | {other}", [other]) for m in metrics], _f(stats.get(f"life_vs_{other}"))])
    boot = sim.get("bootstrap")
    doc.heading(2, "Representation similarity beside CAS")
    doc.para(f"Mutual k-NN (k={sim['k']}), linear and unbiased CKA and CKNNA between the life models' patch features "
             f"on {sim['samples']} test cells, each at the best-aligned pair of encoder/decoder layers (docs/align.md); "
             "`pixels` is raw patch pixels, a null for every metric. Null levels: "
             + ", ".join(f"{m} {_f(sim['null'][m]) if sim['null'].get(m) is not None else '-'}" for m in metrics) + "."
             + (f" Intervals: {100 * boot['confidence']:.0f} % from {boot['resamples']} half-samples of the "
                f"{boot['units']} test pairs (not the bootstrap: repeated pairs would be their own neighbours), at the "
                "layer pair chosen on all pairs." if boot and boot.get("resamples") else ""))  # fmt: skip
    doc.table(["life models with", *metrics, "CAS"], rows)
    contrasts = list(dict.fromkeys(c for m in metrics for c in sim[m].get("contrasts", {})))
    if not contrasts:
        return

    def label(c: str) -> str:
        a, b = c.split(" - ", 1)
        if a == "lives":
            return f"each other minus with {b.removeprefix('lives | ')}"
        return f"{a} minus {b}"

    doc.para("The same metrics as differences of means with their intervals: the life models with each other minus "
             "with each other model or null, and pairs of lives within a family minus across families. A difference "
             "is established when its interval lies above 0.")  # fmt: skip
    doc.table(["difference", *metrics], [[label(c), *[_ci(sim[m].get("contrasts", {}).get(c)) for m in metrics]]
                                         for c in contrasts])  # fmt: skip
    for m in metrics:
        unclear = [label(c).removeprefix("each other minus with ") for c in contrasts if c.startswith("lives - ")
                   and not established(sim[m].get("contrasts", {}).get(c))]  # fmt: skip
        if unclear:
            doc.para(f"{m}: the lives are not established as more alike with each other than with "
                     f"{', '.join(unclear)}.")  # fmt: skip


def _findings(doc: Document, findings: dict[str, Any] | None) -> None:
    """The paper's findings 2 and 3: the CAS matrix by family, the dendrogram, CAS against transfer."""
    if not findings:
        return
    fam, tra = findings["family"], findings["transfer"]
    doc.heading(2, "The paper's findings 2 and 3")
    doc.para(fam["sentence"])
    doc.image("CAS by family", fam["figures"]["matrix"])
    if "dendrogram" in fam["figures"]:
        doc.image("dendrogram", fam["figures"]["dendrogram"])
    rows = [["within a family", _f(fam["within_family"]), str(fam["within_pairs"])],
            ["across families", _f(fam["across_family"]), str(fam["across_pairs"])]]  # fmt: skip
    rows += [[f"diverse `{c}` with the lives", _f(v), "-"] for c, v in fam["diverse"].items()]
    rows.append(["seed spread", _f(fam["seed_spread"]), "-"])
    doc.table(["CAS between life models", "mean", "pairs"], rows)
    doc.para(tra["sentence"])
    if tra.get("figure"):
        doc.image("CAS against transfer", tra["figure"])
    if tra["metrics"]:
        keys = list(tra["metrics"])
        doc.table(["model", "mean CAS with the lives", *keys],
                  [[n, _f(tra["alignment"].get(n)), *[_f(tra["metrics"][k]["values"].get(n)) for k in keys]]
                   for n in tra["models"]]
                  + [["rank correlation with alignment (+ = aligns more, transfers better)", "-",
                      *[_f(tra["metrics"][k].get("spearman_alignment")) for k in keys]]])  # fmt: skip


def _reward(doc: Document, reward: dict[str, Any]) -> None:
    """What copying the right source patch is worth on the test pairs vs on shifted pairs (R²)."""
    rows = []
    for which, res in reward.items():
        if not res:
            continue
        for name, r in res.items():
            what = f"{which} test pairs" if name == "testset" else f"shifted pairs ({name.split('_')[-1]} patches) of the same frames"
            rows.append([what, _f(r["r2_nb"]), _f(r["r2_nb_grid"]), f"**{_f(r['grid_gain'])}**", _f(r["r2_nb_random"])])
    if not rows:
        return
    doc.heading(2, "How much can copying the right source patch lower the loss?")
    doc.para("R² of the per-patch-normalised target (the training loss's target) from its own 4 neighbours (in-view "
             "completion), and with the ground-truth source patch on the grid added: the gain is what attending to the "
             "right patch can buy a decoder that copies one patch (slife align reward, docs/align.md). A random source "
             "patch is the control.")  # fmt: skip
    doc.table(["pairs", "neighbours", "+ right source patch", "gain", "+ random patch"], rows)


def _setup_text(study: StudyConfig, results: dict[str, Any]) -> str:
    align = results["alignment"]
    t = results["train_summary"]
    ts = align["testset"]
    lives = ", ".join(s.name for s in study.lives)
    controls = ", ".join(f"{s.name} ({KIND_NAMES.get(study.life_of(s).kind or '', 'control')})"
                         for s in study.controls) or "none"  # type: ignore[arg-type]
    nulls = ", ".join(f"{n} ({what})" for n, what in results.get("nulls", {}).items()) or "none"
    seeds = ", ".join(f"{life} ({rep})" for rep, life in results.get("replicates", {}).items()) or "none"
    w = study.world
    return (f"Setup: lives {lives}; controls {controls}; null runs {nulls}; second seeds {seeds}; rendered lives from world seed {w.seed} (surface detail "
            f"{w.surface_detail:g}), {w.minutes:g} min each at {w.fps:g} fps. Training: CroCo {t['model']}, "
            f"{t['steps']} steps of batch {t['batch_size']} per life ({t['pairs']}). Test pairs: "
            f"{ts.get('pairs', '?')} {study.testset.sampler} pairs from held-out lives ({', '.join(study.testset.lives + study.testset.paths)}), "
            f"{_f(ts.get('displacement', {}).get('moving_fraction'))} of their patches move >= 2 patches; k = {align['k']}, "
            f"{align['num_patches']} patches per image; cross-attention read {align.get('protocol')}.")  # fmt: skip


def build_document(study: StudyConfig, results: dict[str, Any]) -> Document:
    stats, align = results["headline"], results["alignment"]
    names = align["names"]
    matrix = np.asarray(align["cas"])
    doc = Document()
    doc.heading(1, f"slife study {study.name}: single-life models and their alignment")
    for line in results["headlines"]:
        doc.para(f"**{line}**")
    items = [f"CAS between models of different lives: **{_f(stats['life_vs_life'])}** "
             f"(same family {_f(stats['within_family'])}, across families {_f(stats['across_family'])}; "
             f"on moving patches {_f(stats.get('life_vs_life_moving'))})",
             f"strongest null: {stats['strongest_null_label']}, CAS with the life models "
             f"**{_f(stats['strongest_null_cas'])}**; seed spread {_f(stats.get('seed_spread'))}"]  # fmt: skip
    for spec in study.controls:
        kind = study.life_of(spec).kind  # type: ignore[arg-type]
        items.append(f"CAS of life models with the {KIND_NAMES.get(kind or '', 'control')} `{spec.name}`: "
                     f"{_f(stats.get(f'life_vs_{spec.name}'))}")  # fmt: skip
    items.append(f"chance (random top-{align['k']} sets): {stats['chance']:.3f}")
    doc.bullets(items)
    doc.para(_setup_text(study, results))
    _nulls(doc, stats, results, margins=results["alignment"].get("margins"))
    if results.get("headline_hard"):
        ts = results["alignment_hard"]["testset"]
        warp = ts.get("source_warp") or {}
        warped = (f"; each source view also rotated by {warp['rotate'] / 2:g}-{warp['rotate']:g} degrees, zoomed by up to "
                  f"{warp['zoom']:g}x either way and re-exposed by up to {100 * warp['exposure']:.0f} %, so that "
                  "matching by translation or raw pixels fails" if warp else "")  # fmt: skip
        _nulls(doc, results["headline_hard"], results, "On spatial test pairs (large viewpoint change)",
               f"A second test set: {ts.get('pairs', '?')} spatial pairs of the held-out places (frames anywhere in a "
               f"life whose 3D points overlap: parallax and viewpoint change{warped}), "
               f"{_f(ts.get('displacement', {}).get('moving_fraction'))} of their patches moving >= 2 patches. ",
               results["alignment_hard"].get("margins"))  # fmt: skip
    _mechanism(doc, results.get("mechanism"))
    doc.heading(2, "Correspondence Alignment Score")
    doc.image("CAS matrix", "alignment/cas_matrix.png")
    cas_ci = align.get("cas_ci")
    doc.table(["", *names], [[a, *[_ci([matrix[i, j], *cas_ci[i][j]]) if cas_ci and i != j else f"{matrix[i, j]:.3f}"
                                   for j in range(len(names))]] for i, a in enumerate(names)])  # fmt: skip
    if cas_ci:
        doc.para(f"Off the diagonal: CAS with its {_confidence(align)} bootstrap interval over the test pairs.")
    _reward(doc, results.get("copy_reward") or {})
    _similarity(doc, align.get("similarity"), [s.name for s in study.lives], stats)  # type: ignore[union-attr]
    _findings(doc, results.get("findings"))
    if "gt_alignment" in align:
        gt, chance = align["gt_alignment"], align["gt_alignment_chance"]
        keys = list(chance)
        use = results.get("source_use", {})
        doc.heading(2, "Ground-truth alignment and source use")
        doc.para("Fraction of target patches (with its 95 % bootstrap interval over test pairs where computed) whose "
                 "top-1 attended source patch lies within r patches of the true "
                 "correspondence (from depth + poses), on all patches and on moving ones (true displacement "
                 ">= 2 patches, where the identity map scores 0). Last column: masked loss with another pair's "
                 "source minus with the right one (about 0: the model does not use the second view).")  # fmt: skip
        ci = align.get("gt_alignment_ci") or {}
        cell = lambda n, r: _ci([gt[n][r], *ci[n][r]]) if r in ci.get(n, {}) else _f(gt[n][r])  # noqa: E731
        doc.table(["model", *keys, "source use"],
                  [[n, *[cell(n, r) for r in keys], _f(use[n]["swapped_minus_real"]) if n in use else "-"] for n in names]
                  + [["chance", *[_f(chance[r]) for r in keys], "-"]])  # fmt: skip
    if results.get("emergence"):
        _emergence(doc, results["emergence"], "CAS over minutes of video seen (streaming checkpoints)",
                   "Each point is a checkpoint of one run as it streams through its life: video seen, training steps and "
                   "the learning-rate schedule grow together, so this is not the paper's nested-subset emergence "
                   "(below, or `slife align emergence --nested`). The lines are the nulls' CAS with the same reference.")  # fmt: skip
    if results.get("emergence_nested"):
        _emergence(doc, results["emergence_nested"], "Emergence over nested subsets (the paper's protocol)",
                   "Each point is a separate model trained on the first part of the life only, every one with the same "
                   "schedule (steps, learning rate, no streaming), so more video is not more compute. Floor: random "
                   "init and the non-life control; ceiling: the diverse-data control; each as CAS with the same "
                   "reference.", nested=True)  # fmt: skip
    if results.get("downstream"):
        rows = results["downstream"]
        keys = sorted({k for r in rows.values() for k in r if k not in ("checkpoint_name",)})
        doc.heading(2, "Downstream (frozen encoder / zero-shot matching, final milestone)")
        doc.table(["model", *keys], [[n, *[_f(r.get(k)) if isinstance(r.get(k), float) else str(r.get(k, "-")) for k in keys]]
                                     for n, r in rows.items()])  # fmt: skip
    doc.heading(2, "Training")
    doc.table(["life", "state", "steps", "final loss", "pairs/s"],
              [[n, s["state"], f"{s['step']}/{s['total']}", _f(s.get("final_loss")), _f(s.get("pairs_per_s"))]
               for n, s in results["training"].items()])  # fmt: skip
    doc.heading(2, "Time")
    doc.table(["phase", "seconds"], [[p["name"], f"{p['seconds']:.0f}"] for p in results["phases"]])
    doc.para("All numbers are computed by this run (`results.json` beside this file); nothing is hand-entered.")
    if results.get("scale_note"):
        doc.para(results["scale_note"])
    return doc


def write_reports(out: Path, study: StudyConfig, results: dict[str, Any]) -> Path:
    """``out/report.md`` and ``out/report.html`` (figures embedded); returns the markdown path."""
    doc = build_document(study, results)
    write_text_atomic(out / "report.md", doc.markdown())
    write_text_atomic(out / "report.html", doc.html(out, f"slife study {study.name}"))
    return out / "report.md"
