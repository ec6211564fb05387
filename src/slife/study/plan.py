"""What a study consists of on disk, and where it stands: the lives (rendered on demand), one run per
life with its training config, the test set; and the state of each run (missing, partial, done,
conflicting) read from its files without opening a checkpoint.

Layout of a study folder: ``lives/<name>`` (rendered lives), ``lives/test/<name>`` (held-out places),
``runs/<name>`` (one ``slife train`` run each), ``testset.npz``, ``mechanism/``, ``alignment/``,
``emergence/``, ``eval/``, ``report.md``, ``report.html``, ``results.json``, ``study.yaml`` (the
study as it was run), ``slurm/`` (submitit's logs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slife.config import ConfigError, from_dict, merge, parse_overrides, read_config_file, to_dict
from slife.errors import SlifeError
from slife.study.config import LifeSpec, StudyConfig


@dataclass(frozen=True)
class StudyPaths:
    out: Path

    @property
    def lives(self) -> Path:
        return self.out / "lives"

    def life(self, spec: LifeSpec, root: Path) -> Path:
        """The life folder of an entry that has a life of its own (resolve ``of`` first: StudyConfig.life_of)."""
        return study_path(root, spec.path) if spec.path else self.lives / spec.name

    def test_life(self, name: str) -> Path:
        return self.lives / "test" / name

    def run(self, name: str) -> Path:
        return self.out / "runs" / name

    @property
    def testset(self) -> Path:
        return self.out / "testset.npz"

    @property
    def hard_testset(self) -> Path:
        return self.out / "testset_hard.npz"


def study_path(root: Path, path: str) -> Path:
    """A path from the study file: absolute as given, else relative to the file's folder ``root``."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else root / p


def render_life(spec: LifeSpec, study: StudyConfig, out_dir: Path, progress: bool) -> Path:
    """Render one world life or control into ``out_dir`` (a no-op when it is already there)."""
    from slife.world import WorldConfig, make_deadleaves, make_diverse, make_life, make_screen, make_static

    w = study.world
    minutes = spec.minutes if spec.minutes is not None else w.minutes
    world = WorldConfig(surface_detail=w.surface_detail)
    if spec.kind == "place":
        return make_life(out_dir, spec.name, minutes, w.fps, w.seed, w.frame_size, progress, world)
    if spec.kind == "diverse":
        return make_diverse(out_dir, minutes, w.fps, w.seed, w.frame_size, progress=progress, config=world)
    if spec.kind == "static":
        return make_static(out_dir, minutes, w.fps, w.seed, w.frame_size, progress=progress, config=world)
    if spec.kind == "screen":
        # the world's own textures, so the control differs from the lives only in having no 3D motion
        return make_screen(out_dir, minutes, w.fps, w.seed, w.frame_size, progress=progress, content="world")
    if spec.kind == "deadleaves":
        return make_deadleaves(out_dir, minutes, w.fps, w.seed, w.frame_size, progress=progress)
    raise SlifeError(f"life {spec.name}: kind {spec.kind!r} cannot be rendered; give an ingested life as path")


def ingest_entry(spec: LifeSpec, study: StudyConfig, out_dir: Path, root: Path, progress: bool) -> Path:
    """Ingest an entry's ``videos`` (with its Aria MPS inputs, if any) into ``out_dir`` at the world's fps and
    frame size; videos already in the life are skipped, so a re-run costs nothing."""
    from slife.ingest import IngestConfig
    from slife.ingest.aria.frames import AriaConfig
    from slife.ingest.pipeline import ingest_life

    aria = AriaConfig(mps=str(study_path(root, spec.aria_mps)) if spec.aria_mps else None,
                      time_sync=[str(study_path(root, t)) for t in spec.aria_time])  # fmt: skip
    cfg = IngestConfig(fps=study.world.fps, short_side=study.world.frame_size, aria=aria)
    report = ingest_life(out_dir, [study_path(root, v) for v in spec.videos], cfg, progress=progress)
    if report.failed:
        raise SlifeError(f"life {spec.name}: " + "; ".join(str(v.message) for v in report.failed))
    return out_dir


def prepare_lives(study: StudyConfig, root: Path, paths: StudyPaths, progress: bool) -> dict[str, Path]:
    """The life directory of every life and control, rendering the world ones that are missing."""
    from slife.life import Life

    dirs: dict[str, Path] = {}
    for spec in study.all_lives:
        if spec.of is not None:
            continue
        if spec.videos:
            d = ingest_entry(spec, study, paths.life(spec, root), root, progress)
        else:
            d = render_life(spec, study, paths.life(spec, root), progress) if spec.rendered else paths.life(spec, root)
        Life.open(d)  # an ingested life must exist and be readable now, not when its training starts
        dirs[spec.name] = Path(d)
    return {s.name: dirs[study.life_of(s).name] for s in study.all_lives}


def prepare_test_lives(study: StudyConfig, root: Path, paths: StudyPaths, progress: bool) -> list[Path]:
    t = study.testset
    rendered = [render_life(LifeSpec(n, minutes=t.minutes), study, paths.test_life(n), progress) for n in t.lives]
    return [Path(p) for p in rendered] + [study_path(root, p) for p in t.paths]


def family_of(spec: LifeSpec, study: StudyConfig | None = None) -> str:
    """The report's group of a life: its ``family``, else the world family of a place, else its kind
    (an entry with ``of``: that of its life)."""
    if spec.family:
        return spec.family
    if spec.of is not None and study is not None:
        return family_of(study.life_of(spec), study)
    if spec.kind == "place":
        from slife.world import parse_life_name

        return parse_life_name(spec.name)[0]
    return spec.kind or "life"


def train_config(study: StudyConfig, root: Path, spec: LifeSpec, life_hours: float) -> Any:
    """The TrainConfig of one life: the file, then the inline overrides, then the study's seed and
    milestones (fractions of this life's length), then the ``set`` lines, then the life's own."""
    from slife.train.config import TrainConfig

    t = study.train
    data: dict[str, Any] = {}
    if t.config:
        data = read_config_file(study_path(root, t.config))
    data = merge(data, t.overrides)
    data = merge(data, {"seed": study.seed})
    if t.milestones:  # else the training config's own milestones (hours of video)
        data["milestones"] = sorted({round(f * life_hours, 9) for f in t.milestones if f < 1}) or [life_hours]
    data = merge(data, parse_overrides(t.set, "study train.set"))
    if spec.of is not None:
        source = study.life_of(spec)
        data = merge(data, parse_overrides(source.set, f"study life {source.name} set"))
    data = merge(data, parse_overrides(spec.set, f"study life {spec.name} set"))
    if spec.prefix is not None:  # nested subset: the first part of the life, the same schedule, no streaming
        hours = round(spec.prefix * life_hours, 9)
        data = merge(data, {"data": {"prefix_hours": hours if spec.prefix < 1 else 0.0, "stream_fraction": 0.0},
                            "milestones": [hours]})  # fmt: skip
    where = f"training config of {spec.name}"
    try:
        return from_dict(TrainConfig, data, where)
    except ConfigError:
        raise
    except SlifeError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def refuse_null_equal_to_life(study: StudyConfig, configs: dict[str, Any]) -> None:
    """A null run trained on another entry's life must differ from it in its training config (``configs``:
    entry name -> TrainConfig; e.g. ``real-only`` under a recipe without shifted crops would be the life
    model itself)."""
    for spec in study.nulls:
        if isinstance(spec, LifeSpec) and spec.of is not None and to_dict(configs[spec.name]) == to_dict(configs[spec.of]):
            raise SlifeError(f"null {spec.name}: its training config is that of {spec.of} itself (the recipe has no "
                             "shifted crops?), so it is no null; give it a recipe change in its set, or drop it")


def testset_model(configs: dict[str, Any], where: str) -> Any:
    """The ModelConfig whose ``img_size`` and ``patch_size`` the study's test sets take (``configs``: entry
    name -> TrainConfig): every entry's model must read the same size, else one line naming ``where``
    (the study file) and the lives that differ."""
    from slife.model.config import model_config

    sizes = {name: model_config(c.model.size, **c.model.overrides) for name, c in configs.items()}
    first = next(iter(sizes))
    ref = sizes[first]
    for name, m in sizes.items():
        if (m.img_size, m.patch_size) != (ref.img_size, ref.patch_size):
            raise SlifeError(f"{where}: life {name}: its model reads {m.img_size} px images in {m.patch_size} px "
                             f"patches, {first}'s {ref.img_size} px in {ref.patch_size} px; the test set has one size "
                             "for all")  # fmt: skip
    return ref


def refuse_unanalysable(study: StudyConfig, configs: dict[str, Any], test_dirs: list[Path], where: str = "study") -> None:
    """What the analysis would refuse after all training, refused before it (``configs``: entry name
    -> TrainConfig; ``where``: the study file): every model reads the test set at one size, ``analysis.k``
    fits its patches, and the held-out lives have the ground truth that ``testset``'s options need."""
    from slife.life import Life

    ref = testset_model(configs, where)
    if not 1 <= study.analysis.k <= ref.num_patches:
        raise SlifeError(f"analysis.k must be in [1, {ref.num_patches}] (patches per image), got {study.analysis.k}")
    t = study.testset
    needs = [f for f, on in (("testset.min_moving", t.min_moving > 0), ("testset.hard_pairs_per_life", t.hard_pairs_per_life > 0),
                             ("testset.sampler: spatial", t.sampler == "spatial")) if on]  # fmt: skip
    for d in test_dirs if needs else []:
        life = Life.open(d)
        if not (life.has_depth and life.has_poses):
            raise SlifeError(f"{d}: {needs[0]} needs ground truth, but this held-out life has no depth + poses")


@dataclass
class RunState:
    name: str
    state: str  # missing | partial | done | conflict
    step: int = 0
    total: int = 0
    eta_s: float | None = None
    detail: str = ""

    def line(self) -> str:
        steps = f"{self.step}/{self.total} steps" if self.total else "-"
        eta = f", ETA {_duration(self.eta_s)}" if self.eta_s is not None and self.state == "partial" else ""
        return f"{self.name:<14} {self.state:<8} {steps}{eta}{'  ' + self.detail if self.detail else ''}"


def _duration(s: float) -> str:
    s = max(0, int(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def run_state(name: str, run_dir: Path, cfg: Any) -> RunState:
    """Where one run stands, from its config.yaml, log.jsonl and last.pt (not opened)."""
    from slife.run import RunDir
    from slife.train.config import stored_differences

    run = RunDir(run_dir)
    cfg_file = run.config_file
    if not cfg_file.is_file():
        return RunState(name, "missing")
    diffs = stored_differences(read_config_file(cfg_file), to_dict(cfg))
    if diffs:
        return RunState(name, "conflict", detail=f"{cfg_file} differs from the study in: {', '.join(diffs)}")
    records = run.read_log()
    total = next((int(r["total_steps"]) for r in reversed(records) if r.get("event") in ("start", "resume")), 0)
    steps = [r for r in records if "loss" in r and isinstance(r.get("step"), int)]
    step = steps[-1]["step"] if steps else 0
    has_last = run.last.is_file()
    if has_last and total and step >= total:
        return RunState(name, "done", step, total)
    eta = None
    if len(steps) >= 2 and steps[-1].get("elapsed_s", 0) > steps[-2].get("elapsed_s", 0):
        rate = (steps[-1]["step"] - steps[-2]["step"]) / (steps[-1]["elapsed_s"] - steps[-2]["elapsed_s"])
        eta = (total - step) / rate if rate > 0 and math.isfinite(rate) else None
    return RunState(name, "partial", step, total, eta)


def refuse_conflicts(states: list[RunState]) -> None:
    bad = [s for s in states if s.state == "conflict"]
    if bad:
        raise SlifeError(
            "the study's training config changed for existing runs; use a new out folder or remove the runs: "
            + "; ".join(f"{s.name}: {s.detail}" for s in bad)
        )
