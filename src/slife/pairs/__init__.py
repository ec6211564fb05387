"""slife.pairs: (source, target) frame pairs for CroCo training and their augmentation.

Samplers (``slife.pairs.samplers``): temporal, spatial (``slife.pairs.spatial``, from depth + poses or a
COLMAP model), random, augmented and weighted mixes; ``build_sampler(life, PairsConfig)`` picks them from
a config. ``slife.pairs.augment`` holds the CroCo augmentation and ``slife.pairs.dataset`` the torch
dataset of training batches (imports torch). See docs/pairs.md.
"""

from slife.pairs.config import PairsConfig, SpatialConfig, TemporalConfig, build_sampler, resolve_weights
from slife.pairs.samplers import AugmentedSampler, IndexSampler, MixSampler, RandomSampler, TemporalSampler
from slife.pairs.spatial import SpatialIndex, build_index, spatial_index

__all__ = [
    "AugmentedSampler",
    "IndexSampler",
    "MixSampler",
    "PairsConfig",
    "RandomSampler",
    "SpatialConfig",
    "SpatialIndex",
    "TemporalConfig",
    "TemporalSampler",
    "build_index",
    "build_sampler",
    "resolve_weights",
    "spatial_index",
]
