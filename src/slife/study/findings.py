"""The paper's findings 2 and 3, each computed from a study's own numbers (finding 1, that models of
different lives align beyond the nulls, is :func:`slife.study.analysis.verdict`).

- Finding 2, *family structure*: models of lives of one family (kitchens, streets; one data set in the
  paper) align more with each other than with lives of another family, so the CAS matrix is block-
  diagonal when ordered by family; the diverse-data model aligns with every family (in between).
- Finding 3, *transfer*: single-life models transfer to depth and correspondence about as well as a
  diverse-data model of the same size, and models that align more transfer better (rank correlation of
  each model's mean CAS with the other lives against its downstream score).

Each finding is a dict of numbers plus one sentence that says reproduced / not reproduced / cannot be
told, and why; the noise scale is the study's seed spread (two seeds of one life) and, where the
report has them, bootstrap intervals over test pairs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from slife.align.bootstrap import established

DIVERSE_KINDS = ("diverse",)
# downstream keys of slife eval all (vs_hours rows) and whether higher is better
DOWNSTREAM_METRICS = {"depth AbsRel": False, "depth d1": True, "match AEPE (px)": False, "match PCK@5": True}


def _mean(values: Sequence[float]) -> float:
    vals = [float(v) for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(vals)) if vals else float("nan")


def family_order(names: Sequence[str], lives: Sequence[str], families: Mapping[str, str]) -> list[str]:
    """``names`` with the lives grouped by family (families in order of first appearance, lives in
    study order within each), then everything else in its own order: the CAS matrix's block order."""
    fams: list[str] = []
    for life in lives:
        if families[life] not in fams:
            fams.append(families[life])
    grouped = [life for fam in fams for life in lives if families[life] == fam and life in names]
    return grouped + [n for n in names if n not in grouped]


def family_clustering(matrix: np.ndarray, names: Sequence[str]) -> dict[str, Any]:
    """Average-linkage clustering of models on the distance 1 - CAS (symmetrised): the leaf order and
    the linkage (scipy's format), so a report can draw the dendrogram."""
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    m = np.asarray(matrix, dtype=float)
    d = 1.0 - (m + m.T) / 2.0
    np.fill_diagonal(d, 0.0)
    d = np.clip(np.nan_to_num(d, nan=1.0), 0.0, None)
    if len(names) < 2:
        return {"order": list(names), "linkage": []}
    z = linkage(squareform(d, checks=False), method="average")
    return {"order": [names[i] for i in leaves_list(z)], "linkage": z.tolist()}


def family_structure(report: Mapping[str, Any], lives: Sequence[str], families: Mapping[str, str],
                     controls: Mapping[str, str], seed_spread: float = float("nan")) -> dict[str, Any]:  # fmt: skip
    """Finding 2 from a CAS matrix report: within- and across-family CAS between life models (with the
    bootstrap interval of their difference when the report has ``margins``), the diverse-data
    controls' CAS with the lives, and a sentence."""
    names = list(report["names"])
    idx = {n: i for i, n in enumerate(names)}
    m = np.asarray(report["cas"], dtype=float)
    pairs = [(a, b) for i, a in enumerate(lives) for b in lives[i + 1 :]]
    within = [m[idx[a], idx[b]] for a, b in pairs if families[a] == families[b]]
    across = [m[idx[a], idx[b]] for a, b in pairs if families[a] != families[b]]
    diverse = [c for c, kind in controls.items() if kind in DIVERSE_KINDS and c in idx]
    out: dict[str, Any] = {
        "within_family": _mean(within), "across_family": _mean(across),
        "within_pairs": len(within), "across_pairs": len(across),
        "diverse": {c: _mean([m[idx[c], idx[a]] for a in lives]) for c in diverse},
        "seed_spread": seed_spread,
        "within_minus_across_ci": (report.get("margins") or {}).get("within_minus_across"),
        "order": family_order(names, lives, families),
        "families": {fam: [a for a in lives if families[a] == fam] for fam in dict.fromkeys(families[a] for a in lives)},
        "clustering": family_clustering(m[np.ix_([idx[n] for n in lives], [idx[n] for n in lives])], list(lives)),
    }  # fmt: skip
    sim = report.get("similarity") or {}
    out["metrics"] = {m: sim[m]["contrasts"]["within family - across families"] for m in sim.get("metrics", [])
                      if "within family - across families" in sim[m].get("contrasts", {})}  # fmt: skip
    out["sentence"] = _family_sentence(out) + _family_metrics_clause(out["metrics"])
    return out


def _family_metrics_clause(metrics: Mapping[str, Sequence[float]]) -> str:
    """The same within- minus across-family difference by the feature-similarity metrics (docs/align.md)."""
    if not metrics:
        return ""
    shown = ", ".join(f"{m} {v[0]:+.3f} [{v[1]:.3f}, {v[2]:.3f}]" for m, v in metrics.items())
    above = [m for m, v in metrics.items() if established(v)]
    verdict = ("established by every one of them" if len(above) == len(metrics) else
               f"established by {', '.join(above)}" if above else "established by none of them")  # fmt: skip
    return (f" By the feature-similarity metrics (best layer pair, intervals over test pairs and model pairs) "
            f"within minus across is {shown}: {verdict}.")


def _family_sentence(f: Mapping[str, Any]) -> str:
    w, a, spread = f["within_family"], f["across_family"], f["seed_spread"]
    if not (f["within_pairs"] and f["across_pairs"]):
        return ("Finding 2 (family structure) cannot be told: it needs two or more families with two or more "
                "lives each.")  # fmt: skip
    where = f"CAS within a family {w:.3f}, across families {a:.3f}"
    div = "; ".join(f"diverse `{c}` with the lives {v:.3f}" for c, v in f["diverse"].items())
    where += f"; {div}" if div else ""
    clusters = _clusters_follow_families(f["clustering"]["order"], f["families"])
    if not np.isfinite(spread):
        return f"Finding 2 (family structure) not established: one seed per life, so the noise is unknown ({where})."
    ci = f.get("within_minus_across_ci")
    if ci and np.isfinite(ci[1]):
        where += f"; interval of the difference over test pairs and model pairs [{ci[1]:.3f}, {ci[2]:.3f}]"
    if w - a > spread and ci and np.isfinite(ci[1]) and ci[1] <= 0:
        return (f"Finding 2 (family structure) not established: within minus across is {w - a:.3f}, more than the seed "
                f"spread {spread:.3f}, but its interval includes 0 ({where}).")  # fmt: skip
    if w - a > spread:
        tail = " and the clustering groups the lives by family" if clusters else ", though the clustering mixes the families"
        return (f"Finding 2 (family structure) reproduced: lives of one family align more with each other than "
                f"across families by {w - a:.3f}, more than the seed spread {spread:.3f}{tail} ({where}).")  # fmt: skip
    return (f"Finding 2 (family structure) not reproduced: within minus across is {w - a:.3f}, not more than the "
            f"seed spread {spread:.3f} ({where}).")  # fmt: skip


def _clusters_follow_families(order: Sequence[str], groups: Mapping[str, Sequence[str]]) -> bool:
    """True when the leaf order of the clustering keeps each family contiguous."""
    fam_of = {n: fam for fam, names in groups.items() for n in names}
    seq = [fam_of.get(n) for n in order]
    seen: list[Any] = []
    for x in seq:
        if not seen or seen[-1] != x:
            if x in seen:
                return False
            seen.append(x)
    return True


def transfer(downstream: Mapping[str, Mapping[str, Any]], report: Mapping[str, Any], lives: Sequence[str],
             controls: Mapping[str, str]) -> dict[str, Any]:  # fmt: skip
    """Finding 3 from the final-milestone downstream rows (``slife eval all``) and the CAS matrix:
    life models vs the diverse-data control on every downstream metric, and Spearman's rank
    correlation, over the life models and controls, of mean CAS with the lives against each metric
    (signed so that positive = models that align more transfer better)."""
    from scipy.stats import spearmanr

    names = list(report["names"])
    idx = {n: i for i, n in enumerate(names)}
    m = np.asarray(report["cas"], dtype=float)
    models = [n for n in [*lives, *controls] if n in downstream and n in idx]
    align = {n: _mean([m[idx[n], idx[a]] for a in lives if a != n]) for n in models}
    diverse = [c for c, kind in controls.items() if kind in DIVERSE_KINDS and c in downstream]
    out: dict[str, Any] = {"models": models, "alignment": align, "metrics": {}}
    for key, higher in DOWNSTREAM_METRICS.items():
        vals = {n: downstream[n].get(key) for n in models}
        vals = {n: float(v) for n, v in vals.items() if isinstance(v, (int, float)) and np.isfinite(v)}
        if not vals:
            continue
        row: dict[str, Any] = {"higher_is_better": higher, "values": vals,
                               "lives": _mean([vals[n] for n in lives if n in vals]),
                               "diverse": _mean([vals[n] for n in diverse if n in vals])}  # fmt: skip
        common = [n for n in vals if np.isfinite(align.get(n, float("nan")))]
        if len(common) >= 3:
            rho = spearmanr([align[n] for n in common], [vals[n] for n in common]).statistic
            row["spearman_alignment"] = float(rho) * (1.0 if higher else -1.0)
            row["spearman_models"] = len(common)
        out["metrics"][key] = row
    out["sentence"] = _transfer_sentence(out)
    return out


def _transfer_sentence(t: Mapping[str, Any]) -> str:
    if not t["metrics"]:
        return "Finding 3 (transfer) cannot be told: the study has no downstream evaluation (analysis.eval)."
    parts, like, better = [], [], []
    for key, row in t["metrics"].items():
        lv, dv = row["lives"], row["diverse"]
        text = f"{key}: lives {lv:.3f}" + (f" vs diverse {dv:.3f}" if np.isfinite(dv) else "")
        if "spearman_alignment" in row:
            text += f", rank correlation with alignment {row['spearman_alignment']:+.2f} (n={row['spearman_models']})"
            better.append(row["spearman_alignment"])
        parts.append(text)
        if np.isfinite(lv) and np.isfinite(dv) and dv != 0:
            gap = (lv - dv) / abs(dv) * (1.0 if row["higher_is_better"] else -1.0)
            like.append(gap)
    what = "; ".join(parts)
    if not like:
        return f"Finding 3 (transfer) cannot be compared with diverse data (no diverse control evaluated): {what}."
    close = all(g >= -0.1 for g in like)
    corr = _mean(better)
    first = ("life models transfer as well as the diverse model (within 10 % on every metric)" if close
             else "life models transfer worse than the diverse model on some metric")  # fmt: skip
    second = ("models that align more transfer better" if np.isfinite(corr) and corr > 0.5
              else "alignment does not predict transfer here" if np.isfinite(corr)
              else "too few models to relate alignment and transfer")  # fmt: skip
    verdict = "reproduced" if close and np.isfinite(corr) and corr > 0.5 else "not reproduced"
    return f"Finding 3 (transfer) {verdict}: {first}; {second} ({what})."


def plot_transfer(t: Mapping[str, Any], path: str | Path) -> Path | None:
    """Scatter of each model's mean CAS with the lives against each downstream metric."""
    from slife.plotting import pyplot, save_figure

    keys = [k for k in t["metrics"] if t["metrics"][k]["values"]]
    if not keys:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 3.4), squeeze=False)
    for ax, key in zip(axes[0], keys):
        row = t["metrics"][key]
        for n, v in row["values"].items():
            a = t["alignment"].get(n, float("nan"))
            ax.scatter([a], [v], s=18)
            ax.annotate(n, (a, v), fontsize=7, xytext=(3, 3), textcoords="offset points")
        rho = row.get("spearman_alignment")
        ax.set_title(key + (f" (rank corr. {rho:+.2f})" if rho is not None else ""), fontsize=9)
        ax.set_xlabel("mean CAS with the life models", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_dendrogram(clustering: Mapping[str, Any], names: Sequence[str], path: str | Path) -> Path | None:
    """The average-linkage dendrogram of the life models (distance 1 - CAS)."""
    from scipy.cluster.hierarchy import dendrogram

    from slife.plotting import pyplot, save_figure

    if not clustering.get("linkage"):
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(4.0, 0.8 * len(names) + 2), 3.2))
    dendrogram(np.asarray(clustering["linkage"]), labels=list(names), ax=ax, leaf_rotation=45)
    ax.set_ylabel("1 - CAS (average linkage)", fontsize=8)
    ax.set_title("Life models clustered by CAS", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)
