"""The study file (``slife study STUDY.yaml``): lives, controls, training, test set, analyses, resources.

A study is declarative: it names what to train and what to measure; ``slife study`` works out what
is missing. Relative paths in the file (lives, training config, evaluation data) are relative to the file's
folder; ``out`` is relative to the current directory. Unknown keys are errors.
A life or control may be given by name only (``kitchen-1``, ``diverse``); see :class:`LifeSpec`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from slife.align.names import BASELINE_NAMES
from slife.config import ConfigError, from_dict, merge, parse_overrides, read_config_file
from slife.errors import SlifeError
from slife.names import name_problem

CONTROL_KINDS = ("diverse", "static", "screen")  # the paper's controls, as the world renders them
NULL_KINDS = ("deadleaves",)  # lives that are no life: the shift-only null trains on them
KIND_NAMES = {
    "place": "life",
    "diverse": "diverse-data control",
    "static": "static-camera (non-life) control",
    "screen": "screen-recording (non-life) control",
    "deadleaves": "shift-only null (dead leaves, no world)",
    "ingested": "life",
}
SHIFT_ONLY = "shift-only"  # shorthand in ``nulls``: shifted crops of dead-leaves images only, same recipe and budget
REAL_ONLY = "real-only"  # shorthand in ``nulls``: the first life's real pairs only (no shifted crops), same budget
RESERVED_NAMES = BASELINE_NAMES  # the report's baselines
EXECUTORS = ("local", "slurm", "debug")


@dataclass
class LifeSpec:
    """One life (or control) to train a model on.

    ``path``: an ingested life directory. Without it the life is rendered from the synthetic world on
    demand: ``kind: place`` renders the place ``name`` (``<family>-<place>``, e.g. ``kitchen-1``);
    ``diverse`` / ``static`` / ``screen`` render that control, ``deadleaves`` the shift-only null's
    images. ``kind`` defaults from the name (a control's name, else a place). ``of``: train on the
    life of another entry (another seed or recipe of the same life; nothing is rendered twice).
    ``set``: extra training overrides for this entry only (after those of the entry in ``of``).
    ``prefix``: train on the first ``prefix`` (a fraction) of the life only, with the whole-life
    schedule and no streaming: one point of the nested-subset emergence protocol (``nested``).
    ``videos``: ingest these videos (in life order, at the world's fps and frame size) into ``path``
    (default: the study's lives folder) before training, skipping those already in; ``aria_mps`` /
    ``aria_time``: their Aria MPS folder and time-sync files (``slife ingest --aria-mps``, docs/real_lives.md).
    """

    name: str
    path: str | None = None
    kind: Literal["place", "diverse", "static", "screen", "deadleaves"] | None = None
    family: str | None = None  # the family the report groups it in (world places: from the name)
    minutes: float | None = None  # rendered length (default: world.minutes)
    set: list[str] = field(default_factory=list)
    of: str | None = None
    prefix: float | None = None
    videos: list[str] = field(default_factory=list)
    aria_mps: str | None = None
    aria_time: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        problem = name_problem(self.name)
        if problem or self.name in RESERVED_NAMES:
            raise SlifeError(f"life name {self.name!r} must be a plain folder name (not one of {list(RESERVED_NAMES)})"
                             + (f": it {problem}" if problem else ""))
        if self.of is not None and (self.path is not None or self.kind is not None or self.minutes is not None):
            raise SlifeError(f"life {self.name}: an entry with 'of' trains on that entry's life; give no path, kind or minutes")
        if self.videos and (self.of is not None or self.kind is not None or self.minutes is not None):
            raise SlifeError(f"life {self.name}: an entry with videos is ingested from them; give no of, kind or minutes")
        if (self.aria_mps is not None or self.aria_time) and not self.videos:
            raise SlifeError(f"life {self.name}: aria_mps and aria_time need the entry's videos")
        if self.aria_time and self.aria_mps is None:
            raise SlifeError(f"life {self.name}: aria_time needs aria_mps (the MPS folder the device times refer to)")
        if self.kind is None and self.path is None and self.of is None and not self.videos:
            self.kind = self.name if self.name in (*CONTROL_KINDS, *NULL_KINDS) else "place"
        if self.minutes is not None and not (0 < self.minutes <= 6000 and math.isfinite(self.minutes)):
            raise SlifeError(f"life {self.name}: minutes must be in (0, 6000], got {self.minutes}")
        if self.prefix is not None and not 0 < self.prefix <= 1:  # False for NaN too
            raise SlifeError(f"life {self.name}: prefix must be a fraction of the life in (0, 1], got {self.prefix}")

    @property
    def rendered(self) -> bool:
        return self.path is None and self.of is None and not self.videos


@dataclass
class WorldSection:
    """Defaults for lives rendered from the synthetic world."""

    seed: int = 0
    minutes: float = 6.0
    fps: float = 2.0
    frame_size: int = 256
    surface_detail: float = 0.5

    def __post_init__(self) -> None:
        if not (0 < self.minutes <= 6000 and math.isfinite(self.minutes)) or not self.fps > 0 or self.frame_size < 32:
            raise SlifeError("world: minutes in (0, 6000], fps > 0 and frame_size >= 32 are required")


@dataclass
class TrainSection:
    """The training config of every run: ``config`` (a ``slife train`` config file), then
    ``overrides`` (a mapping in the same layout), then ``set`` lines, then each life's own ``set``.
    ``milestones``: checkpoints at these fractions of each life's length (the emergence curve; the
    whole life is always one); empty = the training config's own milestones, in hours of video."""

    config: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    set: list[str] = field(default_factory=list)
    milestones: list[float] = field(default_factory=lambda: [0.125, 0.25, 0.5, 1.0])

    def __post_init__(self) -> None:
        if any(not 0 < f <= 1 for f in self.milestones):
            raise SlifeError(f"train.milestones are fractions of a life in (0, 1], got {self.milestones}")


@dataclass
class TestSetSection:
    """Test pairs from held-out lives (names of world places, or ingested life folders in ``paths``)."""

    lives: list[str] = field(default_factory=lambda: ["kitchen-9", "street-9"])
    paths: list[str] = field(default_factory=list)
    minutes: float = 1.0
    pairs_per_life: int = 32
    sampler: Literal["temporal", "spatial"] = "temporal"
    min_moving: float = 0.0
    # > 0: a second test set of this many spatial pairs per life (frames anywhere in the life whose 3D
    # points overlap) with at least ``hard_min_moving`` of the patches moving >= 2 patches (parallax),
    # the source view rotated, zoomed and re-exposed (``hard_rotate``, ``hard_zoom``,
    # ``hard_exposure``): where translation matching (the shift trick, pixel matching) fails; scored
    # against the same nulls (needs depth + poses). Options as in ``slife align testset``.
    hard_pairs_per_life: int = 0
    hard_min_moving: float = 0.5
    hard_jaccard: tuple[float, float] = (0.1, 0.9)  # overlap range of the spatial pairs (lower: larger viewpoint change)
    hard_rotate: float = 30.0  # degrees: source views rotated by 15-30 degrees
    hard_zoom: float = 1.4  # source views zoomed by 1/1.4 to 1.4
    hard_exposure: float = 0.4  # source views' brightness, contrast, saturation scaled by 0.6-1.4

    def __post_init__(self) -> None:
        if not self.lives and not self.paths:
            raise SlifeError("testset: name at least one held-out life (lives or paths)")
        if self.pairs_per_life < 1 or self.hard_pairs_per_life < 0:
            raise SlifeError(f"testset.pairs_per_life must be >= 1 and hard_pairs_per_life >= 0, got "
                             f"{self.pairs_per_life}, {self.hard_pairs_per_life}")  # fmt: skip
        lo, hi = self.hard_jaccard
        if not 0.0 <= lo <= hi <= 1.0:
            raise SlifeError(f"testset.hard_jaccard must be (lo, hi) with 0 <= lo <= hi <= 1, got {self.hard_jaccard}")
        for name in ("min_moving", "hard_min_moving"):
            if not 0.0 <= getattr(self, name) <= 1.0:  # False for NaN too
                raise SlifeError(f"testset.{name} must be in [0, 1], got {getattr(self, name)}")
        for name, lo, hi in (("hard_rotate", 0.0, 180.0), ("hard_zoom", 1.0, 4.0), ("hard_exposure", 0.0, 0.99)):
            if not lo <= getattr(self, name) <= hi:  # False for NaN too
                raise SlifeError(f"testset.{name} must be in [{lo:g}, {hi:g}], got {getattr(self, name)}")


@dataclass
class EvalSection:
    """Downstream evaluation of every final model (``slife eval all``); a data path left empty skips it."""

    depth_data: str | None = None
    depth_format: str = "auto"
    split_file: str | None = None
    match_data: str | None = None
    match_format: str = "auto"
    set: list[str] = field(default_factory=list)  # EvalAllConfig overrides, e.g. depth.epochs=5


@dataclass
class AnalysisSection:
    k: int = 5  # top-k of the CAS
    protocol: Literal["masked", "unmasked"] = "masked"  # how cross-attention is read (ReadProtocol)
    read_masks: int = 8
    # the reading of CAS (docs/align.md): softmax maps or the paper's pre-softmax logits, which decoder
    # blocks and heads are averaged (None = all), target queries, the swapped pass or both
    logits: Literal["softmax", "pre-softmax"] = "softmax"
    layers: list[int] | None = None
    heads: list[int] | None = None
    direction: Literal["target", "source", "both"] = "target"
    metrics: bool = False  # also mutual k-NN, CKA, unbiased CKA and CKNNA beside CAS (slife align --metrics)
    bootstrap: int = 1000  # resamples of the test pairs (and of the models) behind every interval; 0 = none
    metric_bootstrap: int = 200  # at most this many of them for the similarity metrics (each re-scores every model pair)
    confidence: float = 0.95
    emergence: bool = True  # CAS and GT alignment at every milestone of every life, against a reference
    source_use: bool = True  # masked loss with another pair's source vs the right one
    mechanism_steps: int = 0  # > 0: run the shift mechanism test (slife diagnose shift) for this many steps
    eval: EvalSection = field(default_factory=EvalSection)

    def __post_init__(self) -> None:
        if self.k < 1 or self.read_masks < 1 or self.mechanism_steps < 0:
            raise SlifeError("analysis: k and read_masks must be >= 1, mechanism_steps >= 0")
        if self.bootstrap < 0 or self.metric_bootstrap < 0 or not 0.0 < self.confidence < 1.0:  # False for NaN too
            raise SlifeError(f"analysis: bootstrap and metric_bootstrap must be >= 0 and confidence in (0, 1), got "
                             f"{self.bootstrap}, {self.metric_bootstrap}, {self.confidence}")  # fmt: skip
        for name in ("layers", "heads"):
            chosen = getattr(self, name)
            if chosen is not None and (not chosen or min(chosen) < 0 or len(set(chosen)) != len(chosen)):
                raise SlifeError(f"analysis.{name} must be distinct indices >= 0 (or null = all), got {chosen}")


@dataclass
class SlurmSection:
    """Resources of the SLURM jobs (``--executor slurm``, submitit): one array for the trainings, then
    the analysis as a job that depends on it."""

    partition: str | None = None
    account: str | None = None
    gpus_per_node: int = 1
    tasks_per_node: int = 0  # DDP ranks per node of a training job (0 = one per GPU; torchrun's environment is set)
    nodes: int = 1  # nodes per training job (DDP across them)
    cpus_per_task: int = 10  # per rank
    mem_gb: int = 64
    timeout_min: int = 24 * 60
    array_parallelism: int = 32
    analysis_gpus: int = 1
    analysis_timeout_min: int = 6 * 60
    extra: dict[str, Any] = field(default_factory=dict)  # more submitit slurm_* parameters, e.g. {constraint: h100}

    def __post_init__(self) -> None:
        if self.tasks_per_node < 0 or self.nodes < 1 or self.gpus_per_node < 0:
            raise SlifeError("slurm: tasks_per_node must be >= 0, nodes >= 1, gpus_per_node >= 0")

    @property
    def train_tasks_per_node(self) -> int:
        """DDP ranks per node of a training job: tasks_per_node, else one per GPU (at least one)."""
        return self.tasks_per_node or max(1, self.gpus_per_node)


@dataclass
class StudyConfig:
    name: str = "study"
    out: str = "study_out"  # output folder (relative to the current directory; --out overrides)
    seed: int = 0
    world: WorldSection = field(default_factory=WorldSection)
    lives: list[LifeSpec | str] = field(default_factory=list)
    controls: list[LifeSpec | str] = field(default_factory=list)
    # The strong nulls of the same budget every verdict must beat: "shift-only" (shifted crops of
    # dead-leaves images, no world), "real-only" (the first life's real pairs only: the position prior),
    # or entries like lives (e.g. {name: street-1-real, of: street-1, set: [data.shifted.share=0]}).
    nulls: list[LifeSpec | str] = field(default_factory=list)
    # Lives trained again with seed + 1 (entries <name>-seed1): the seed spread a margin must exceed.
    replicates: list[str] = field(default_factory=list)
    # Lives trained again on nested prefixes (entries <name>-first<fraction>), every one with the same
    # schedule: the paper's emergence over hours of video, not confounded with compute as the
    # streaming checkpoints are; scored against a reference life with the controls as floor/ceiling.
    nested: list[str] = field(default_factory=list)
    nested_fractions: list[float] = field(default_factory=lambda: [0.125, 0.25, 0.5, 1.0])
    train: TrainSection = field(default_factory=TrainSection)
    testset: TestSetSection = field(default_factory=TestSetSection)
    analysis: AnalysisSection = field(default_factory=AnalysisSection)
    jobs: int = 0  # local executor: trainings at once, the cores split between them (0 = one per core)
    slurm: SlurmSection = field(default_factory=SlurmSection)
    note: str = ""  # a paragraph for the end of the report (e.g. what the scale of the study means)

    def __post_init__(self) -> None:
        if name_problem(self.name):
            raise SlifeError(f"name {self.name!r} {name_problem(self.name)}")
        self.lives = [LifeSpec(x) if isinstance(x, str) else x for x in self.lives]
        self.controls = [LifeSpec(x) if isinstance(x, str) else x for x in self.controls]
        if not self.lives:
            raise SlifeError("a study needs at least one life")
        self.nulls = [self._null(x) if isinstance(x, str) else x for x in self.nulls]
        primary = [s.name for s in self.lives]  # type: ignore[union-attr]
        unknown = sorted(set(self.replicates) - set(primary))
        if unknown:
            raise SlifeError(f"replicates must name lives of the study, unknown: {unknown}")
        unknown = sorted(set(self.nested) - set(primary))
        if unknown:
            raise SlifeError(f"nested must name lives of the study, unknown: {unknown}")
        fr = self.nested_fractions
        if self.nested and (not fr or any(not 0 < f <= 1 for f in fr) or len(set(fr)) != len(fr)):
            raise SlifeError(f"nested_fractions must be distinct fractions in (0, 1], got {fr}")
        names = [s.name for s in self.all_lives]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise SlifeError(f"life names must be unique, repeated: {dup}")
        for spec in self.all_lives:
            if spec.of is not None and spec.of not in names:
                raise SlifeError(f"life {spec.name}: 'of: {spec.of}' names no entry of the study")
            if spec.of is not None and self.entry(spec.of).of is not None:
                raise SlifeError(f"life {spec.name}: 'of: {spec.of}' must name an entry with a life of its own")
        held = set(self.testset.lives) & set(names)
        if held:
            raise SlifeError(f"testset.lives must be held out, but {sorted(held)} are also trained on")
        if self.jobs < 0:
            raise SlifeError(f"jobs must be >= 0 (0 = one per core), got {self.jobs}")

    def _null(self, shorthand: str) -> LifeSpec:
        if shorthand == SHIFT_ONLY:
            return LifeSpec(SHIFT_ONLY, kind="deadleaves", family="null", set=["data.shifted.warmup=0", "data.shifted.share=1.0"])
        if shorthand == REAL_ONLY:
            first = self.lives[0]
            name = first if isinstance(first, str) else first.name
            return LifeSpec(f"{name}-{REAL_ONLY}", of=name, family="null",
                            set=["data.shifted.warmup=0", "data.shifted.share=0"])  # fmt: skip
        raise SlifeError(f"nulls: {shorthand!r} is not {SHIFT_ONLY!r} or {REAL_ONLY!r}; give an entry like a life instead")

    @property
    def replicate_specs(self) -> list[LifeSpec]:
        """One entry per replicated life: the same life and recipe, the next seed."""
        return [LifeSpec(f"{n}-seed{self.seed + 1}", of=n, set=[f"seed={self.seed + 1}"]) for n in self.replicates]

    @property
    def nested_specs(self) -> list[LifeSpec]:
        """The nested-subset entries: each life of ``nested`` on each prefix of ``nested_fractions``."""
        return [LifeSpec(f"{n}-first{f:g}", of=n, prefix=float(f)) for n in self.nested for f in sorted(self.nested_fractions)]

    @property
    def all_lives(self) -> list[LifeSpec]:
        """Every entry that is trained: lives, controls, nulls, seed replicates and nested subsets."""
        return [*self.lives, *self.controls, *self.nulls, *self.replicate_specs, *self.nested_specs]  # type: ignore[list-item]

    def entry(self, name: str) -> LifeSpec:
        return next(s for s in self.all_lives if s.name == name)

    def life_of(self, spec: LifeSpec) -> LifeSpec:
        """The entry whose life ``spec`` trains on (itself unless it has ``of``)."""
        return self.entry(spec.of) if spec.of is not None else spec


def load_study(path: str | Path | None, overrides: list[str] = (), base: dict[str, Any] | None = None) -> tuple[StudyConfig, Path]:
    """The study in ``path`` (defaults, then ``base``, then the file, then ``overrides``) and the
    folder its relative paths are relative to."""
    data: dict[str, Any] = dict(base or {})
    where = "study"
    root = Path.cwd()
    if path is not None:
        data = merge(data, read_config_file(path))
        where, root = str(path), Path(path).resolve().parent
    if overrides:
        data = merge(data, parse_overrides(list(overrides)))
    try:
        cfg = from_dict(StudyConfig, data, where)
    except ConfigError:
        raise
    except SlifeError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    _refuse_trained_test_paths(cfg, root, where)
    return cfg, root


def _refuse_trained_test_paths(cfg: StudyConfig, root: Path, where: str) -> None:
    """A life given by path must not also be a held-out test life (testset.paths)."""
    from slife.study.plan import study_path

    held = {study_path(root, p).resolve(): p for p in cfg.testset.paths}
    for spec in cfg.all_lives:
        if spec.path is not None and study_path(root, spec.path).resolve() in held:
            raise ConfigError(f"{where}: life {spec.name}: its path {spec.path} is also in testset.paths; "
                              "test lives must be held out")  # fmt: skip
