"""slife.pairs: (source, target) frame pairs for CroCo training and their augmentation.

Samplers (``slife.pairs.samplers``): temporal, spatial (``slife.pairs.spatial``, from depth + poses or a
COLMAP model), random, augmented and weighted mixes; ``build_sampler(life, PairsConfig)`` picks them from
a config. Shifted pairs (``slife.pairs.shifted``: the one ``Shift`` geometry, ``data.shifted``) and the
shift test's photo pairs (``slife.pairs.photos``); target masks (``slife.pairs.masking``); frame
decoding and the CroCo augmentation (``slife.pairs.augment``); the per-sample draw and the torch
dataset of training batches (``slife.pairs.dataset``, imports torch; ``slife.pairs.resident`` cuts the
same draw on the device). See docs/pairs.md.
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
