"""``report.md`` and ``report.html`` of a study: the headline sentences, the CAS matrix with its
baselines, ground-truth alignment and source use, emergence curves, downstream results, training and
time; every number next to its baselines, all computed by the run (``results.json``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

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
    doc.heading(2, "Mechanism: can this CroCo learn correspondence here?")
    doc.para(f"The shift test (docs/diagnose.md): photos moved by whole patches, scored on held-out photos, "
             f"{last['pairs']} training pairs ({last['train_seconds']:.0f} s). Loss with the right source "
             f"{last['loss_real_source']:.3f}, with another pair's source {last['loss_swapped_source']:.3f}.")  # fmt: skip
    doc.image("mechanism", "mechanism/curve.png")
    doc.table(["reader", "exact", "within 1", "exact, moving"], rows)


def _setup_text(study: StudyConfig, results: dict[str, Any]) -> str:
    align = results["alignment"]
    t = results["train_summary"]
    ts = align["testset"]
    lives = ", ".join(s.name for s in study.lives)
    controls = ", ".join(f"{s.name} ({KIND_NAMES.get(s.kind or '', 'control')})" for s in study.controls) or "none"
    w = study.world
    return (f"Setup: lives {lives}; controls {controls}; rendered lives from world seed {w.seed} (surface detail "
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
             f"CAS of life models with a random-init model: {stats['life_vs_random_init']:.3f}"]  # fmt: skip
    for spec in study.controls:
        items.append(f"CAS of life models with the {KIND_NAMES.get(spec.kind or '', 'control')} `{spec.name}`: "
                     f"{_f(stats.get(f'life_vs_{spec.name}'))}")  # fmt: skip
    items += [f"CAS of life models with the identity map (attend to the same position): {stats['life_vs_identity']:.3f}",
              f"chance (random top-{align['k']} sets): {stats['chance']:.3f}"]  # fmt: skip
    doc.bullets(items)
    doc.para(_setup_text(study, results))
    _mechanism(doc, results.get("mechanism"))
    doc.heading(2, "Correspondence Alignment Score")
    doc.image("CAS matrix", "alignment/cas_matrix.png")
    doc.table(["", *names], [[a, *[f"{matrix[i, j]:.3f}" for j in range(len(names))]] for i, a in enumerate(names)])
    if "gt_alignment" in align:
        gt, chance = align["gt_alignment"], align["gt_alignment_chance"]
        keys = list(chance)
        use = results.get("source_use", {})
        doc.heading(2, "Ground-truth alignment and source use")
        doc.para("Fraction of target patches whose top-1 attended source patch lies within r patches of the true "
                 "correspondence (from depth + poses), on all patches and on moving ones (true displacement "
                 ">= 2 patches, where the identity map scores 0). Last column: masked loss with another pair's "
                 "source minus with the right one (about 0: the model does not use the second view).")  # fmt: skip
        doc.table(["model", *keys, "source use"],
                  [[n, *[_f(gt[n][r]) for r in keys], _f(use[n]["swapped_minus_real"]) if n in use else "-"] for n in names]
                  + [["chance", *[_f(chance[r]) for r in keys], "-"]])  # fmt: skip
    if results.get("emergence"):
        doc.heading(2, "Emergence over hours of video")
        for name, em in results["emergence"].items():
            doc.heading(3, f"{name} (reference: {em['reference_name']})")
            doc.image(f"emergence {name}", f"emergence/{name}.png")
            rows = [[f"{p['hours'] * 60:.1f}", str(p["step"]), f"{p['cas']:.3f}", _f(p.get("gt_alignment", {}).get("r1")),
                     _f(p.get("gt_alignment", {}).get("moving_r1"))] for p in em["points"]]  # fmt: skip
            doc.table(["minutes of video", "step", "CAS vs reference", "GT r1", "GT r1, moving"], rows)
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
