"""The ``kitchen`` family: one to three connected indoor rooms (a kitchen and its neighbours) with
counters, cabinets, a fridge, tables, shelves, sofas, pictures and small product packs."""

from __future__ import annotations

import numpy as np

from slife.world.scene import Box, Layout, Poi, walkable_grid
from slife.world.textures import TexturePool

WALL = 0.12  # wall thickness (m)
CLEARANCE = 0.32  # a person's distance from obstacles (m)


def _pack(rng: np.random.Generator, pool: TexturePool, x: float, y: float, z: float) -> Box:
    """A small product pack / jar standing at (x, y) on a surface at height z."""
    w, d, h = rng.uniform(0.08, 0.3), rng.uniform(0.06, 0.2), rng.uniform(0.1, 0.4)
    return Box((x - w / 2, y - d / 2, z), (x + w / 2, y + d / 2, z + h), pool.pick(rng, "photo"), once=True, solid=False)


def _picture(rng, pool, wall_axis: int, wall_pos: float, inward: int, center: float, zc: float) -> Box:
    """A framed photo hung on a wall (a thin box protruding 2 cm into the room)."""
    w, h = rng.uniform(0.4, 1.3), rng.uniform(0.35, 0.9)
    t0, t1 = (wall_pos, wall_pos + 0.02 * inward) if inward > 0 else (wall_pos - 0.02, wall_pos)
    if wall_axis == 1:  # wall at constant y
        return Box((center - w / 2, t0, zc - h / 2), (center + w / 2, t1, zc + h / 2), pool.pick(rng, "photo"), once=True, solid=False)
    return Box((t0, center - w / 2, zc - h / 2), (t1, center + w / 2, zc + h / 2), pool.pick(rng, "photo"), once=True, solid=False)


def kitchen_layout(rng: np.random.Generator, pool: TexturePool, place: int) -> Layout:
    n_rooms = int(rng.integers(1, 4))
    depth = float(rng.uniform(4.0, 6.0))  # y extent
    height = float(rng.uniform(2.5, 2.9))
    widths = rng.uniform(3.6, 6.0, n_rooms)
    xs = np.concatenate([[0.0], np.cumsum(widths)])
    boxes: list[Box] = []
    pois: list[Poi] = []
    lamps = []
    free = []
    for r in range(n_rooms):
        x0, x1 = float(xs[r]), float(xs[r + 1])
        wall = pool.pick(rng, str(rng.choice(["plaster", "plaster", "tile", "brick", "wood"])))
        floor = pool.pick(rng, str(rng.choice(["tile", "wood", "pavers", "stone"])))
        ceil = pool.pick(rng, str(rng.choice(["plaster", "white"])))
        ws = float(rng.uniform(0.8, 2.0))
        a0 = x0 + (WALL / 2 if r > 0 else 0.0)
        a1 = x1 - (WALL / 2 if r < n_rooms - 1 else 0.0)
        boxes.append(Box((x0, 0, -0.1), (x1, depth, 0), floor, float(rng.uniform(0.6, 1.6))))
        boxes.append(Box((x0, 0, height), (x1, depth, height + 0.1), ceil, 1.5))
        boxes.append(Box((x0, -WALL, 0), (x1, 0, height), wall, ws))
        boxes.append(Box((x0, depth, 0), (x1, depth + WALL, height), wall, ws))
        if r == 0:
            boxes.append(Box((-WALL, -WALL, 0), (0, depth + WALL, height), wall, ws))
        if r == n_rooms - 1:
            boxes.append(Box((x1, -WALL, 0), (x1 + WALL, depth + WALL, height), wall, ws))
        if r > 0:  # half of the separating wall (its face towards this room), with the door gap
            d0 = float(rng.uniform(0.3, depth - 1.7))
            dw = float(rng.uniform(1.1, 1.5))
            for half, mat in ((0, wall), (1, prev_wall)):  # noqa: F821 - set in the previous room
                s0, s1 = (x0, x0 + WALL / 2) if half == 0 else (x0 - WALL / 2, x0)
                boxes.append(Box((s0, 0, 0), (s1, d0, height), mat, ws))
                boxes.append(Box((s0, d0 + dw, 0), (s1, depth, height), mat, ws))
                boxes.append(Box((s0, d0, 2.05), (s1, d0 + dw, height), mat, ws))
            free.append((x0 - WALL, d0, x0 + WALL, d0 + dw))
        prev_wall = wall  # noqa: F841
        free.append((a0, 0.0, a1, depth))
        lamps.append(((x0 + x1) / 2, depth / 2, height - 0.3))
        room_furniture(rng, pool, boxes, pois, r, r == n_rooms - 1, a0, a1, depth)
    walk, origin = walkable_grid((-0.2, -0.2, float(xs[-1]) + 0.2, depth + 0.2), free, boxes, CLEARANCE, 0.1)
    layout = Layout("kitchen", place, boxes, walk, origin, 0.1, [], outdoor=False, lamps=lamps[:4])
    layout.pois = [p for p in pois if layout.is_walkable(np.asarray(p.stand))]
    if len(layout.pois) < 2:  # degenerate draw: stand anywhere walkable, look at the far wall
        cells = np.argwhere(walk)
        for k in rng.choice(len(cells), 4):
            x, y = layout.center(cells[k])
            layout.pois.append(Poi((float(x), float(y)), (float(xs[-1]) / 2, depth, 1.5)))
    return layout


def room_furniture(rng, pool, boxes, pois, room: int, last: bool, a0: float, a1: float, depth: float) -> None:
    """Furnish room ``room`` spanning x in [a0, a1], y in [0, depth]; add places of interest."""
    width = a1 - a0
    stand = CLEARANCE + 0.35
    if room == 0:  # the kitchen proper: a counter run along y = 0, cabinets above, a fridge
        body = pool.pick(rng, str(rng.choice(["wood", "metal", "plaster"])))
        top = pool.pick(rng, str(rng.choice(["stone", "wood", "tile", "metal"])))
        cx0, cx1 = a0, a0 + width * float(rng.uniform(0.6, 0.95))
        boxes.append(Box((cx0, 0, 0), (cx1, 0.6, 0.88), body, 0.8))
        boxes.append(Box((cx0, 0, 0.88), (cx1, 0.64, 0.92), top, 0.7))
        cab = pool.pick(rng, str(rng.choice(["wood", "metal", "plaster"])))
        boxes.append(Box((cx0, 0, 1.45), (cx1, 0.35, 2.15), cab, 0.7, solid=False))
        for x in np.arange(cx0 + 0.15, cx1 - 0.15, rng.uniform(0.25, 0.6)):
            if rng.random() < 0.6:
                boxes.append(_pack(rng, pool, float(x), 0.3, 0.92))
        for x in np.linspace(cx0 + 0.5, cx1 - 0.5, max(1, int((cx1 - cx0) / 1.5))):
            pois.append(Poi((float(x), 0.64 + stand), (float(x), 0.3, 0.95)))
        if a1 - cx1 > 0.8:  # fridge in the corner
            fx0 = a1 - 0.75
            boxes.append(Box((fx0, 0, 0), (a1, 0.7, 1.85), pool.pick(rng, "metal"), 1.0))
            pois.append(Poi((fx0 + 0.37, 0.7 + stand + 0.2), (fx0 + 0.37, 0.7, 1.3)))
        if width > 4.0 and depth > 4.5:  # an island
            ix0 = a0 + width * 0.3
            ix1 = ix0 + min(2.0, width * 0.35)
            y0 = depth * 0.5
            boxes.append(Box((ix0, y0, 0), (ix1, y0 + 0.8, 0.9), body, 0.8, top=top))
            for x in np.arange(ix0 + 0.2, ix1 - 0.1, 0.4):
                if rng.random() < 0.5:
                    boxes.append(_pack(rng, pool, float(x), y0 + 0.4, 0.9))
            pois.append(Poi(((ix0 + ix1) / 2, y0 + 0.8 + stand), ((ix0 + ix1) / 2, y0 + 0.4, 0.9)))
    else:  # living / dining room: table, shelves, sofa
        if width > 3.0:
            tx0 = a0 + width * float(rng.uniform(0.25, 0.4))
            ty0 = depth * float(rng.uniform(0.35, 0.45))
            tw, td = float(rng.uniform(1.0, 1.6)), float(rng.uniform(0.7, 1.0))
            wood = pool.pick(rng, "wood")
            boxes.append(Box((tx0, ty0, 0.72), (tx0 + tw, ty0 + td, 0.76), wood, 0.8))
            for lx, ly in ((tx0, ty0), (tx0 + tw - 0.06, ty0), (tx0, ty0 + td - 0.06), (tx0 + tw - 0.06, ty0 + td - 0.06)):
                boxes.append(Box((lx, ly, 0), (lx + 0.06, ly + 0.06, 0.72), wood, 0.8))
            for _ in range(int(rng.integers(1, 4))):
                boxes.append(_pack(rng, pool, tx0 + float(rng.uniform(0.2, tw - 0.2)), ty0 + float(rng.uniform(0.2, td - 0.2)), 0.76))
            pois.append(Poi((tx0 + tw / 2, ty0 - stand), (tx0 + tw / 2, ty0 + td / 2, 0.76)))
        sx0 = a0 + float(rng.uniform(0.2, max(0.3, width - 1.6)))
        sw = float(rng.uniform(0.8, 1.4))
        shelf = pool.pick(rng, "wood")
        boxes.append(Box((sx0, depth - 0.4, 0), (sx0 + sw, depth, 1.9), shelf, 0.8))
        for x in np.arange(sx0 + 0.15, sx0 + sw - 0.1, 0.25):
            boxes.append(Box((float(x) - 0.1, depth - 0.45, 0.3), (float(x) + 0.1, depth - 0.4, 1.7), pool.pick(rng, "photo"), 0.4, solid=False))
        pois.append(Poi((sx0 + sw / 2, depth - 0.4 - stand), (sx0 + sw / 2, depth - 0.4, 1.1)))
        if last and rng.random() < 0.7 and width > 2.5:  # a sofa against the end wall
            fab = pool.pick(rng, str(rng.choice(["plaster", "metal", "tile"])))
            so0 = a1 - float(rng.uniform(0.9, 1.0))
            sy0 = depth * float(rng.uniform(0.05, 0.3))
            sl = min(2.0, depth * 0.4)
            boxes.append(Box((so0, sy0, 0), (a1, sy0 + sl, 0.45), fab, 0.5))
            boxes.append(Box((a1 - 0.2, sy0, 0.45), (a1, sy0 + sl, 0.9), fab, 0.5))
            pois.append(Poi((so0 - stand, sy0 + sl / 2), (a1, sy0 + sl / 2, 0.6)))
    # pictures on walls without doors or tall furniture, and a look at the room from its middle
    walls = [("y", depth, -1)] if room == 0 else [("y", 0.0, +1)]
    if room == 0:
        walls.append(("x", a0, +1))
    if last:
        walls.append(("x", a1, -1))
    for _ in range(int(rng.integers(1, 4))):
        kind, pos, inward = walls[int(rng.integers(0, len(walls)))]
        zc = float(rng.uniform(1.3, 1.8))
        if kind == "y":
            c = a0 + float(rng.uniform(0.7, width - 0.7))
            boxes.append(_picture(rng, pool, 1, pos, inward, c, zc))
            pois.append(Poi((c, pos + inward * (stand + 0.6)), (c, pos, 1.5)))
        else:
            c = float(rng.uniform(0.9, depth - 0.9))
            boxes.append(_picture(rng, pool, 0, pos, inward, c, zc))
            pois.append(Poi((pos + inward * (stand + 0.6), c), (pos, c, 1.5)))
    pois.append(Poi(((a0 + a1) / 2, depth / 2), (float(rng.uniform(a0, a1)), float(rng.choice([0.0, depth])), 1.4)))
