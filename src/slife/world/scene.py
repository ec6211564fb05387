"""Scene primitives: textured axis-aligned boxes, the layout of a place, and its triangle mesh.

World frame: x, y horizontal, z up, metres; the floor / street level is z = 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage


@dataclass
class Box:
    """An axis-aligned box [lo, hi] with one texture layer (``top`` optionally differs).

    ``uv_scale`` is metres per texture repeat; ``once`` maps the texture exactly once onto each
    side face instead (pictures, posters, product packs).
    """

    lo: tuple[float, float, float]
    hi: tuple[float, float, float]
    layer: int
    uv_scale: float = 1.0
    once: bool = False
    top: int | None = None
    solid: bool = True  # blocks walking if it reaches below head height

    def __post_init__(self) -> None:  # accept corners in any order
        lo, hi = np.minimum(self.lo, self.hi), np.maximum(self.lo, self.hi)
        self.lo, self.hi = tuple(float(v) for v in lo), tuple(float(v) for v in hi)


@dataclass
class Poi:
    """A place a person goes to: where they stand (x, y) and what they look at (x, y, z)."""

    stand: tuple[float, float]
    look: tuple[float, float, float]


@dataclass
class Layout:
    """One place: geometry, walkable grid, places of interest, lamps."""

    family: str
    place: int
    boxes: list[Box]
    walkable: np.ndarray  # (H, W) bool grid; cell (r, c) covers x in origin_x + c*res, y in origin_y + r*res
    origin: tuple[float, float]
    res: float
    pois: list[Poi]
    outdoor: bool
    lamps: list[tuple[float, float, float]] = field(default_factory=list)

    def cell(self, xy: np.ndarray) -> np.ndarray:
        """(..., 2) world xy -> (..., 2) integer (row, col) grid cells."""
        xy = np.asarray(xy, dtype=np.float64)
        col = np.floor((xy[..., 0] - self.origin[0]) / self.res).astype(np.int64)
        row = np.floor((xy[..., 1] - self.origin[1]) / self.res).astype(np.int64)
        return np.stack([row, col], axis=-1)

    def center(self, rc: np.ndarray) -> np.ndarray:
        """(..., 2) (row, col) -> (..., 2) world xy of the cell centres."""
        rc = np.asarray(rc)
        x = self.origin[0] + (rc[..., 1] + 0.5) * self.res
        y = self.origin[1] + (rc[..., 0] + 0.5) * self.res
        return np.stack([x, y], axis=-1)

    def is_walkable(self, xy: np.ndarray) -> np.ndarray:
        rc = self.cell(xy)
        h, w = self.walkable.shape
        ok = (rc[..., 0] >= 0) & (rc[..., 0] < h) & (rc[..., 1] >= 0) & (rc[..., 1] < w)
        out = np.zeros(ok.shape, dtype=bool)
        out[ok] = self.walkable[rc[..., 0][ok], rc[..., 1][ok]]
        return out


def walkable_grid(
    bounds: tuple[float, float, float, float],
    free: list[tuple[float, float, float, float]],
    boxes: list[Box],
    clearance: float,
    res: float,
    max_z: float = 1.9,
) -> tuple[np.ndarray, tuple[float, float]]:
    """Boolean grid over ``bounds`` (x0, y0, x1, y1): inside a ``free`` rectangle, at least
    ``clearance`` from any solid box footprint that starts below ``max_z``; largest connected part."""
    x0, y0, x1, y1 = bounds
    w, h = int(np.ceil((x1 - x0) / res)), int(np.ceil((y1 - y0) / res))
    xs = x0 + (np.arange(w) + 0.5) * res
    ys = y0 + (np.arange(h) + 0.5) * res
    free_mask = np.zeros((h, w), bool)
    for fx0, fy0, fx1, fy1 in free:
        free_mask[np.ix_((ys >= fy0) & (ys <= fy1), (xs >= fx0) & (xs <= fx1))] = True
    blocked = ~free_mask
    for b in boxes:
        if b.solid and b.lo[2] < max_z and b.hi[2] > 0.02:
            blocked[np.ix_((ys >= b.lo[1]) & (ys <= b.hi[1]), (xs >= b.lo[0]) & (xs <= b.hi[0]))] = True
    dist = ndimage.distance_transform_edt(~blocked) * res
    walk = dist > clearance
    labels, n = ndimage.label(walk, structure=np.ones((3, 3)))
    if n > 1:
        sizes = ndimage.sum(walk, labels, index=np.arange(1, n + 1))
        walk = labels == (1 + int(np.argmax(sizes)))
    return walk, (x0, y0)


# Each face: axis of the normal, sign, and the (u, v) world axes with their signs so that images
# appear upright and unmirrored to a viewer facing the face (v grows downwards).
_FACES = (
    (0, +1, (1, +1), (2, -1)),
    (0, -1, (1, -1), (2, -1)),
    (1, +1, (0, -1), (2, -1)),
    (1, -1, (0, +1), (2, -1)),
    (2, +1, (0, +1), (1, -1)),
    (2, -1, (0, +1), (1, +1)),
)


def box_mesh(boxes: list[Box]) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (V, 9) float32 [x y z nx ny nz u v layer] and triangle indices (T*3,) uint32."""
    verts: list[np.ndarray] = []
    for b in boxes:
        lo, hi = np.asarray(b.lo, np.float64), np.asarray(b.hi, np.float64)
        for axis, sign, (ua, us), (va, vs) in _FACES:
            layer = b.top if (axis == 2 and sign > 0 and b.top is not None) else b.layer
            corners = np.empty((4, 3))
            corners[:, axis] = hi[axis] if sign > 0 else lo[axis]
            # corners in (u, v) order: (0,0) (1,0) (1,1) (0,1) along the face's u/v directions
            for k, (a, c) in enumerate(((0, 0), (1, 0), (1, 1), (0, 1))):
                corners[k, ua] = (lo[ua], hi[ua])[a if us > 0 else 1 - a]
                corners[k, va] = (lo[va], hi[va])[c if vs > 0 else 1 - c]
            if b.once and axis != 2:
                uv = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float64) * 0.999 + 0.0005
            else:
                uv = np.stack([corners[:, ua] * us, corners[:, va] * vs], axis=1) / b.uv_scale
            normal = np.zeros(3)
            normal[axis] = sign
            v = np.concatenate([corners, np.tile(normal, (4, 1)), uv, np.full((4, 1), layer)], axis=1)
            verts.append(v)
    vertices = np.concatenate(verts).astype(np.float32) if verts else np.zeros((0, 9), np.float32)
    quads = np.arange(len(verts), dtype=np.uint32)[:, None] * 4
    indices = (quads + np.array([0, 1, 2, 0, 2, 3], np.uint32)[None, :]).ravel()
    return vertices, indices
