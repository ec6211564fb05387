"""One driver per analysis: CAS of two models, the CAS matrix, emergence. Each builds the attention
matchers and the baselines (random init, identity), computes the report (slife.align.analysis) and
writes its JSON and plot; ``slife align``, the demo and ``slife study`` only parse and call these."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from slife.atomic import write_json_atomic


@dataclass
class AlignConfig:
    """Options shared by ``slife align score|matrix|emergence`` (and a study's ``analysis``)."""

    k: int = 5  # top-k source patches per target patch [ours: k unpublished]
    radii: tuple[int, ...] = (0, 1)  # GT alignment radii (Chebyshev, in patches)
    per_layer: bool = False  # also CAS per decoder layer (score, matrix)
    batch_size: int = 16
    device: str = "auto"  # auto = cuda if available
    seed: int = 0  # seed of the random-init baseline model (and of the masked protocol's masks)
    protocol: str = "masked"  # cross-attention reading: masked (hidden-patch rows, default) | unmasked (ZeroCo)
    read_masks: int = 8  # masks averaged by the masked protocol
    logits: str = "softmax"  # softmax maps (default) | pre-softmax q k^T / sqrt(d) (the paper's CAS)
    layers: tuple[int, ...] | None = None  # decoder blocks averaged (None = all)
    heads: tuple[int, ...] | None = None  # decoder heads averaged (None = all)
    direction: str = "target"  # target queries over source keys | source (the swapped pass) | both (their mean)
    metrics: bool = False  # also the representation-similarity metrics (mutual k-NN, CKA, CKNNA) beside CAS
    metric_k: int = 10  # neighbours of mutual k-NN and CKNNA
    metric_samples: int = 1024  # (pair, target patch) cells the metrics compare (seeded subset)
    metric_bootstrap: int = 200  # at most this many of the ``bootstrap`` resamples for the metrics' intervals
    bootstrap: int = 1000  # percentile-bootstrap resamples of the test pairs for intervals (0 = none)
    confidence: float = 0.95  # interval coverage

    def __post_init__(self) -> None:
        from slife.align.analysis import DIRECTIONS
        from slife.errors import SlifeError

        self.read_protocol()  # validates protocol, read_masks, logits, layers, heads
        if self.k < 1:
            raise SlifeError(f"align config: k must be >= 1, got {self.k}")
        if self.direction not in DIRECTIONS:
            raise SlifeError(f"align config: direction must be one of {list(DIRECTIONS)}, got {self.direction!r}")
        if self.metric_k < 1 or self.metric_samples <= self.metric_k:
            raise SlifeError(f"align config: need 1 <= metric_k < metric_samples, got {self.metric_k}, {self.metric_samples}")
        if self.bootstrap < 0 or self.metric_bootstrap < 0 or not 0.0 < self.confidence < 1.0:
            raise SlifeError(f"align config: bootstrap and metric_bootstrap must be >= 0 and confidence in (0, 1), "
                             f"got {self.bootstrap}, {self.metric_bootstrap}, {self.confidence}")  # fmt: skip

    def read_protocol(self) -> Any:
        from slife.align.matchers import ReadProtocol

        return ReadProtocol(self.protocol, self.read_masks, self.seed, self.logits, self.layers, self.heads)

    def recorded(self) -> dict[str, Any]:
        """The options every result file records: how CAS was read and scored."""
        return {"k": self.k, "protocol": self.protocol, "read_masks": self.read_masks, "logits": self.logits,
                "layers": None if self.layers is None else list(self.layers),
                "heads": None if self.heads is None else list(self.heads), "direction": self.direction,
                "seed": self.seed, "bootstrap": self.bootstrap, "confidence": self.confidence,
                "metrics": self.metrics, "metric_k": self.metric_k, "metric_samples": self.metric_samples,
                "metric_bootstrap": self.metric_bootstrap}  # fmt: skip


@dataclass
class Matrix:
    """A CAS matrix report, with the matchers and the attention cache it was computed from (reused by
    emergence and the source-use check, so each checkpoint is opened once)."""

    report: dict[str, Any]
    matchers: dict[str, Any]
    cache: Any
    baselines: tuple[str, ...]


def _baselines(first: Any, cfg: AlignConfig, seed_offset: int, testset: Any) -> dict[str, Any]:
    from slife.align.analysis import model_config_of, standard_baselines

    return standard_baselines(model_config_of(first), cfg.seed + seed_offset, cfg.batch_size, cfg.device,
                              cfg.read_protocol(), testset)  # fmt: skip


def similarity(matchers: Mapping[str, Any], testset: Any, cfg: AlignConfig,
               groups: Mapping[str, Sequence[tuple[str, str]]] | None = None,
               contrasts: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:  # fmt: skip
    """The similarity metrics (slife.align.similarity) between every model among ``matchers`` (those
    that are models; the random-init one included) and the raw-pixel baseline, each at its best layer
    pair, on the same seeded (pair, patch) cells: :func:`slife.align.features.similarity_report`, with
    intervals over test pairs (``min(bootstrap, metric_bootstrap)`` half-samples) of every cell and of
    the means of ``groups`` of model pairs and their ``contrasts``."""
    from slife.align.features import PIXELS, matcher_features, pixel_features, sample_cells, similarity_report
    from slife.align.similarity import METRICS

    cells = sample_cells(testset, cfg.metric_samples, cfg.seed)
    reps = {}
    for name, matcher in matchers.items():
        feats = matcher_features(matcher, testset, cells, cfg.batch_size, cfg.device)
        if feats is not None:
            reps[name] = feats
    reps[PIXELS] = pixel_features(testset, cells)
    return similarity_report(reps, METRICS, cfg.metric_k, baselines=("random-init", PIXELS),
                             units=cells // testset.num_patches, bootstrap=min(cfg.bootstrap, cfg.metric_bootstrap),
                             confidence=cfg.confidence, seed=cfg.seed, groups=groups, contrasts=contrasts)  # fmt: skip


def score(a: str | Path, b: str | Path, testset: Any, cfg: AlignConfig) -> dict[str, Any]:
    """CAS of two models (runs or checkpoints) and of each with the baselines; GT alignment when known."""
    from slife.align.analysis import (AttentionCache, cas_by_correctness, gt_chance, gt_scores, moving_patches, ranked_cas,
                                      ranked_cas_per_layer)  # fmt: skip
    from slife.align.cas import chance_cas
    from slife.align.intervals import cas_interval, gt_intervals
    from slife.align.matchers import checkpoint_matcher

    proto = cfg.read_protocol()
    sa = checkpoint_matcher(a, "A", cfg.batch_size, cfg.device, proto)
    sb = checkpoint_matcher(b, "B", cfg.batch_size, cfg.device, proto)
    cache = AttentionCache(testset, cfg.k, cfg.per_layer, cfg.direction)
    base = _baselines(sa, cfg, 0, testset)
    matchers = {"A": sa, "B": sb, **base}
    ranked = {n: cache.get(n, s) for n, s in matchers.items()}
    pairs = [("A", "B"), *[(x, n) for n in base for x in ("A", "B")]]
    result: dict[str, Any] = {
        "a": str(sa.path), "b": str(sb.path), "k": cfg.k, "num_patches": testset.num_patches,
        "chance": chance_cas(cfg.k, testset.num_patches), "testset": testset.summary(), "protocol": proto.label,
        "options": cfg.recorded(), "cas": {}, "cas_sem": {},
    }  # fmt: skip
    for x, y in pairs:
        result["cas"][f"{x} | {y}"], result["cas_sem"][f"{x} | {y}"] = ranked_cas(ranked[x], ranked[y])
    if cfg.bootstrap:
        result["cas_ci"] = {f"{x} | {y}": _ci(cas_interval(ranked[x], ranked[y], cfg.bootstrap, cfg.confidence, cfg.seed))
                            for x, y in pairs}  # fmt: skip
    if cfg.per_layer:
        result["cas_per_layer"] = ranked_cas_per_layer(ranked["A"], ranked["B"]).tolist()
    if testset.has_gt:
        moving = moving_patches(testset)
        for x, y in pairs:
            result.setdefault("cas_moving", {})[f"{x} | {y}"] = ranked_cas(ranked[x], ranked[y], moving)[0]
        result["cas_moving_by_correctness"] = cas_by_correctness(ranked["A"], ranked["B"], testset, 1, moving)
        result["gt_alignment"] = {n: gt_scores(ranked[n], testset, cfg.radii) for n in ranked}
        result["gt_alignment_chance"] = gt_chance(testset, cfg.radii)
        if cfg.bootstrap:
            result["gt_alignment_ci"] = {n: gt_intervals(ranked[n], testset, cfg.radii, cfg.bootstrap, cfg.confidence,
                                                         cfg.seed) for n in ranked}  # fmt: skip
    if cfg.metrics:
        result["similarity"] = similarity(matchers, testset, cfg)
    return result


def _ci(interval: Any) -> list[float]:
    return [interval.low, interval.high]


def matrix(models: Mapping[str, str | Path], testset: Any, cfg: AlignConfig, out: Path, seed_offset: int = 0,
           title: str | None = None, similarity_groups: Mapping[str, Sequence[tuple[str, str]]] | None = None,
           similarity_contrasts: Sequence[tuple[str, str]] = ()) -> Matrix:  # fmt: skip
    """CAS matrix over ``models`` (name -> run or checkpoint) plus the baselines; writes
    ``out/cas_matrix.json`` and ``out/cas_matrix.png``. With ``cfg.metrics`` the similarity metrics
    too, with the group means and contrasts named (:func:`similarity`)."""
    from slife.align.analysis import BASELINE_NAMES, AttentionCache, alignment_report
    from slife.align.intervals import gt_intervals, matrix_intervals
    from slife.align.plots import plot_matrix
    from slife.align.matchers import checkpoint_matcher
    from slife.errors import SlifeError

    reserved = set(BASELINE_NAMES) & set(models)
    if reserved:
        raise SlifeError(f"model names {sorted(reserved)} are reserved for the baselines")
    proto = cfg.read_protocol()
    matchers: dict[str, Any] = {n: checkpoint_matcher(m, n, cfg.batch_size, cfg.device, proto) for n, m in models.items()}
    baselines = _baselines(next(iter(matchers.values())), cfg, seed_offset, testset)
    matchers.update(baselines)
    cache = AttentionCache(testset, cfg.k, cfg.per_layer, cfg.direction)
    report = alignment_report(matchers, testset, cfg.k, cfg.radii, cfg.per_layer, tuple(baselines), cache)
    report["models"] = {n: str(s.path) for n, s in matchers.items() if hasattr(s, "path")}
    report["protocol"] = proto.label
    report["options"] = cfg.recorded()
    if cfg.bootstrap:
        ranked = {n: cache.get(n, matchers[n]) for n in report["names"]}
        report["cas_ci"] = matrix_intervals(ranked, cfg.bootstrap, cfg.confidence, cfg.seed)
        if testset.has_gt:
            report["gt_alignment_ci"] = {n: gt_intervals(r, testset, cfg.radii, cfg.bootstrap, cfg.confidence, cfg.seed)
                                         for n, r in ranked.items()}  # fmt: skip
    if cfg.metrics:
        report["similarity"] = similarity(matchers, testset, cfg, similarity_groups, similarity_contrasts)
    write_json_atomic(out / "cas_matrix.json", report)
    plot_matrix(report["names"], report["cas"], out / "cas_matrix.png", report["chance"], report["baselines"],
                title=title or f"CAS (k={cfg.k}, {len(testset)} pairs, {proto.label})")  # fmt: skip
    return Matrix(report, matchers, cache, tuple(baselines))


def emergence(runs: str | Path | list[str | Path], reference: Any, testset: Any, cfg: AlignConfig, out_json: Path,
              out_png: Path, include_last: bool = False, seed_offset: int = 0, cache: Any = None,
              title: str | None = None, extra_baselines: Mapping[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """CAS with ``reference`` (a run, checkpoint or matcher) over a run's milestones (or, with a list,
    the final milestones of nested-subset runs), with GT alignment when known and the CAS of
    ``extra_baselines`` (name -> matcher, e.g. null models) with the reference beside the baselines; JSON + plot."""
    from slife.align.analysis import AttentionCache, emergence_report
    from slife.align.plots import plot_emergence
    from slife.align.similarity import METRICS

    cache = cache or AttentionCache(testset, cfg.k, direction=cfg.direction)
    report = emergence_report(runs, reference, testset, cfg.k, cfg.radii, include_last, cfg.seed + seed_offset,
                              cfg.batch_size, cfg.device, cache=cache, protocol=cfg.read_protocol(),
                              extra_baselines=extra_baselines, bootstrap=cfg.bootstrap,
                              confidence=cfg.confidence, metrics=METRICS if cfg.metrics else (),
                              metric_k=cfg.metric_k, metric_samples=cfg.metric_samples,
                              metric_bootstrap=min(cfg.bootstrap, cfg.metric_bootstrap))  # fmt: skip
    report["options"] = cfg.recorded()
    write_json_atomic(out_json, report)
    pts = report["points"]
    gt = {r: [p["gt_alignment"][r] for p in pts] for r in report["gt_alignment_chance"]} if testset.has_gt else None
    ref_name = getattr(reference, "name", None) or Path(str(reference)).name
    plot_emergence([p["hours"] for p in pts], [p["cas"] for p in pts], out_png, report["baselines"], report["chance"],
                   gt, report.get("gt_alignment_chance"), title=title or f"CAS with {ref_name} (k={cfg.k})",
                   sem=[p["cas_sem"] for p in pts])  # fmt: skip
    return report
