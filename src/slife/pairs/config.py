"""Pairing configuration and the factory that builds a sampler for a life."""

from __future__ import annotations

from dataclasses import dataclass, field

from slife.errors import SlifeError
from slife.pairs.spatial import SpatialConfig

SAMPLERS = ("temporal", "spatial", "random", "augmented")


OVERLAP_SOURCES = ("auto", "depth", "image")  # co-visibility of temporal pairs (slife.pairs.covisible)


@dataclass
class TemporalConfig:
    min_gap: float = 0.5  # seconds [ours: the gap range is not published]
    max_gap: float = 5.0
    # Keep only temporal pairs whose co-visibility is >= min_overlap (0 = off, every pair in the gap
    # range): Jaccard of the visible voxel sets where the life has depth + poses, else an image-based
    # estimate (overlap_from: auto | depth | image; slife.pairs.covisible).
    min_overlap: float = 0.0
    overlap_from: str = "auto"

    def __post_init__(self) -> None:
        if not 0 <= self.min_overlap <= 1:  # also rejects NaN
            raise SlifeError(f"pairs.temporal.min_overlap must be in [0, 1] (0 = off), got {self.min_overlap}")
        if self.overlap_from not in OVERLAP_SOURCES:
            raise SlifeError(f"pairs.temporal.overlap_from must be one of {list(OVERLAP_SOURCES)}, got {self.overlap_from!r}")


@dataclass
class PairsConfig:
    """Which pairs to train on.

    ``sampler``: ``auto`` (temporal + spatial 50/50 where the life has depth + poses or a COLMAP model
    is given, the paper's best; temporal otherwise, or when no view pair has an overlap in range), one of temporal / spatial / random / augmented,
    or ``mix`` with ``weights`` (e.g. ``{temporal: 0.5, spatial: 0.5}``).
    """

    sampler: str = "auto"
    weights: dict[str, float] = field(default_factory=dict)
    temporal: TemporalConfig = field(default_factory=TemporalConfig)
    spatial: SpatialConfig = field(default_factory=SpatialConfig)
    jitter: float = 0.4  # colour jitter strength: factors in [1 - jitter, 1 + jitter]
    # Pairs that can teach (docs/pairs.md; all off by default = CroCo's independent views):
    jitter_per_pair: bool = False  # one jitter draw for both views of a real pair (the source's)
    aligned_crops: bool = False  # target crop on the source crop's patch grid (slife.pairs.aligned)
    crop_patches: int = 0  # with aligned_crops: relative crop offset k whole patches, |k| <= this (0 = uniform crop)

    def __post_init__(self) -> None:
        if self.sampler not in ("auto", "mix", *SAMPLERS):
            raise SlifeError(f"pairs.sampler must be auto, mix or one of {list(SAMPLERS)}, got {self.sampler!r}")
        unknown = sorted(set(self.weights) - set(SAMPLERS))
        if unknown:
            raise SlifeError(f"pairs.weights: unknown sampler(s) {unknown}; known: {list(SAMPLERS)}")
        if self.sampler == "mix" and not self.weights:
            raise SlifeError("pairs.sampler=mix needs pairs.weights, e.g. {temporal: 0.5, spatial: 0.5}")
        if not 0 <= self.jitter < 1:
            raise SlifeError(f"pairs.jitter must be in [0, 1), got {self.jitter}")
        for name in ("jitter_per_pair", "aligned_crops"):
            if not isinstance(getattr(self, name), bool):
                raise SlifeError(f"pairs.{name} must be true or false, got {getattr(self, name)!r}")
        if isinstance(self.crop_patches, bool) or not isinstance(self.crop_patches, int) or self.crop_patches < 0:
            raise SlifeError(f"pairs.crop_patches must be an integer >= 0, got {self.crop_patches!r}")
        if self.crop_patches and not self.aligned_crops:
            raise SlifeError(f"pairs.crop_patches={self.crop_patches} needs pairs.aligned_crops=true")


def resolve_weights(life, cfg: PairsConfig) -> dict[str, float]:
    """The sampler mix actually used for ``life``."""
    if cfg.sampler == "auto":
        from slife.pairs.points import has_points

        spatial_ok = cfg.spatial.colmap is not None or (life.has_depth and life.has_poses) or has_points(life)
        return {"temporal": 0.5, "spatial": 0.5} if spatial_ok else {"temporal": 1.0}
    if cfg.sampler == "mix":
        return {k: float(v) for k, v in cfg.weights.items() if v > 0}
    return {cfg.sampler: 1.0}


def build_sampler(life, cfg: PairsConfig, progress: bool = False):
    """A sampler (MixSampler when several kinds are used) for ``life`` under ``cfg``.

    Spatial pairs come from the cached index (built on first use, see slife.pairs.spatial); with
    ``temporal.min_overlap > 0`` temporal pairs come from the cached co-visibility scores
    (slife.pairs.covisible).
    """
    from slife.pairs.samplers import AugmentedSampler, IndexSampler, MixSampler, RandomSampler, TemporalSampler
    from slife.pairs.spatial import spatial_index

    weights = resolve_weights(life, cfg)
    parts, w = [], []
    for name, weight in weights.items():
        if name == "temporal" and cfg.temporal.min_overlap > 0:
            from slife.pairs.covisible import covisible_sampler

            parts.append(covisible_sampler(life, cfg, progress=progress))
        elif name == "temporal":
            parts.append(TemporalSampler.for_life(life, cfg.temporal.min_gap, cfg.temporal.max_gap))
        elif name == "spatial":
            index = spatial_index(life, cfg.spatial, progress=progress)
            if not len(index.pairs) and cfg.sampler == "auto" and len(weights) > 1:
                # e.g. static cameras: every view overlaps every other one of its camera (Jaccard ~1)
                import warnings

                warnings.warn(f"{index.path or life.dir}: no spatial pairs with Jaccard in [{cfg.spatial.lo}, "
                              f"{cfg.spatial.hi}]; sampler auto uses temporal pairs only", stacklevel=2)  # fmt: skip
                continue
            if not len(index.pairs):
                raise SlifeError(
                    f"{index.path or life.dir}: no spatial pairs with Jaccard in [{cfg.spatial.lo}, {cfg.spatial.hi}]; "
                    "widen the thresholds or use temporal pairs"
                )
            parts.append(IndexSampler(index.pairs, "spatial"))
        elif name == "random":
            parts.append(RandomSampler(len(life)))
        else:
            parts.append(AugmentedSampler(len(life)))
        w.append(weight)
    return parts[0] if len(parts) == 1 else MixSampler(parts, w)
