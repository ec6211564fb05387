"""The registry of environment families: ``<family>-<place>`` names a place of a family.

A family is a function ``(rng, pool, place) -> Layout``; add one with ``FAMILIES[name] = fn``
semantics by extending the dict below (the order is part of the generator: append, do not reorder).
"""

from __future__ import annotations

import re
import zlib
from typing import Callable

import numpy as np

from slife.errors import SlifeError
from slife.world.kitchen import kitchen_layout
from slife.world.scene import Layout
from slife.world.street import street_layout
from slife.world.textures import TexturePool

LayoutFn = Callable[[np.random.Generator, TexturePool, int], Layout]

FAMILIES: dict[str, LayoutFn] = {
    "kitchen": kitchen_layout,
    "street": street_layout,
}


def parse_life_name(name: str) -> tuple[str, int]:
    """``"kitchen-1"`` -> ``("kitchen", 1)``; raises SlifeError for unknown families or bad names."""
    m = re.fullmatch(r"([a-z][a-z0-9_]*)-(\d+)", name.strip())
    if not m:
        raise SlifeError(f"--life {name!r}: life names look like <family>-<place>, e.g. kitchen-1 or street-3")
    family, place = m.group(1), int(m.group(2))
    if family not in FAMILIES:
        raise SlifeError(f"--life {name!r}: unknown family {family!r}; known: {sorted(FAMILIES)}")
    return family, place


def place_rng(world_seed: int, family: str, place: int, stream: int = 0) -> np.random.Generator:
    """Independent, stable random stream for (world, family, place, purpose)."""
    return np.random.default_rng(np.random.SeedSequence([int(world_seed), zlib.crc32(family.encode()), int(place), stream]))


def make_layout(world_seed: int, family: str, place: int, pool: TexturePool) -> Layout:
    """The layout of place ``place`` of ``family`` in world ``world_seed``."""
    return FAMILIES[family](place_rng(world_seed, family, place, 0), pool, place)
