"""The ``street`` family: a straight street with a road, markings, crossings, raised sidewalks,
continuous rows of buildings (window-grid facades, shop windows, signs), lamp posts, trees, bins
and parked cars, closed at both ends by buildings. The sky is empty (depth 0)."""

from __future__ import annotations

import numpy as np

from slife.world.scene import Box, Layout, Poi, walkable_grid
from slife.world.textures import TexturePool

CLEARANCE = 0.35


def street_layout(rng: np.random.Generator, pool: TexturePool, place: int) -> Layout:
    length = float(rng.uniform(70.0, 110.0))
    rw = float(rng.uniform(3.0, 4.5))  # half road width
    sw = float(rng.uniform(2.8, 4.5))  # sidewalk width
    front = rw + sw  # facades at y = +-front
    boxes: list[Box] = []
    pois: list[Poi] = []
    asphalt, paving, curb = pool.pick(rng, "asphalt"), pool.pick(rng, "pavers"), pool.pick(rng, "stone")
    white = pool.groups["white"][0]
    boxes.append(Box((0, -rw, -0.1), (length, rw, 0), asphalt, float(rng.uniform(2.0, 4.0))))
    for s in (-1, 1):
        y0, y1 = sorted((s * rw, s * front))
        boxes.append(Box((0, y0, -0.1), (length, y1, 0.15), paving, float(rng.uniform(1.0, 2.5)), solid=False))
        c0, c1 = sorted((s * rw, s * (rw + 0.2)))
        boxes.append(Box((0, c0, 0.0), (length, c1, 0.16), curb, 0.5, solid=False))
    for x in np.arange(2.0, length - 2.0, 6.0):  # centre line dashes
        boxes.append(Box((float(x), -0.08, 0.0), (float(x) + 3.0, 0.08, 0.01), white, 1.0, solid=False))
    crossings = sorted(float(c) for c in rng.uniform(0.2, 0.8, int(rng.integers(1, 3))) * length)
    free = [(0.0, -front, length, -rw), (0.0, rw, length, front)]
    for c in crossings:
        for y in np.arange(-rw + 0.3, rw - 0.3, 1.0):
            boxes.append(Box((c - 2.0, float(y), 0.0), (c + 2.0, float(y) + 0.5, 0.012), white, 1.0, solid=False))
        free.append((c - 1.8, -front, c + 1.8, front))
    # buildings on both sides, end caps across the street
    for s in (-1, 1):
        x = -float(rng.uniform(0, 5))
        while x < length:
            w = float(rng.uniform(6.0, 16.0))
            h = float(rng.uniform(7.0, 22.0))
            d = float(rng.uniform(8.0, 12.0))
            fac = pool.pick(rng, "facade")
            bay = float(rng.uniform(2.6, 3.6))
            y0, y1 = sorted((s * front, s * (front + d)))
            boxes.append(Box((x, y0, 0), (x + w, y1, h), fac, bay))
            boxes.append(Box((x - 0.05, y0 - 0.3 if s > 0 else y0, h), (x + w + 0.05, y1 if s > 0 else y1 + 0.3, h + 0.4),
                             pool.pick(rng, "stone"), 1.0, solid=False))  # cornice
            xs, xe = max(x, 0.0), min(x + w, length)
            if xe - xs > 3.0 and rng.random() < 0.75:  # a shop: window and sign facing the street
                sx0, sx1 = xs + 0.6, min(xe - 0.6, xs + 0.6 + float(rng.uniform(2.5, 6.0)))
                ys0, ys1 = (front - 0.05, front) if s > 0 else (-front, -front + 0.05)
                boxes.append(Box((sx0, ys0, 0.35), (sx1, ys1, 2.6), pool.pick(rng, "photo"), once=True, solid=False))
                sy0, sy1 = (front - 0.25, front) if s > 0 else (-front, -front + 0.25)
                boxes.append(Box((sx0, sy0, 2.9), (sx1, sy1, 3.6), pool.pick(rng, "photo"), once=True, solid=False))
                xm = (sx0 + sx1) / 2
                pois.append(Poi((xm, s * (front - CLEARANCE - 0.9)), (xm, s * front, 1.5)))
            x += w
    for x0, x1 in ((-14.0, 0.0), (length, length + 14.0)):
        boxes.append(Box((x0, -front - 12, 0), (x1, front + 12, float(rng.uniform(10, 24))), pool.pick(rng, "facade"), 3.0))
    # street furniture near the curbs
    for s in (-1, 1):
        yc = s * (rw + 0.55)
        x = float(rng.uniform(3.0, 10.0))
        while x < length - 3.0:
            if any(abs(x - c) < 3.5 for c in crossings):
                x += 4.0
                continue
            kind = rng.choice(["lamp", "tree", "bin", "kiosk", "car"], p=[0.3, 0.3, 0.15, 0.1, 0.15])
            if kind == "lamp":
                m = pool.pick(rng, "metal")
                boxes.append(Box((x - 0.08, yc - 0.08, 0.15), (x + 0.08, yc + 0.08, 4.8), m, 1.0))
                boxes.append(Box((x - 0.1, yc - s * 1.0 - 0.12, 4.6), (x + 0.1, yc + 0.12, 4.8), m, 1.0, solid=False))
            elif kind == "tree":
                boxes.append(Box((x - 0.15, yc - 0.15, 0.15), (x + 0.15, yc + 0.15, 2.6), pool.pick(rng, "wood"), 0.5))
                r = float(rng.uniform(0.9, 1.5))
                boxes.append(Box((x - r, yc - r, 2.4), (x + r, yc + r, 2.4 + 2 * r), pool.pick(rng, "grass"), 1.0, solid=False))
            elif kind == "bin":
                boxes.append(Box((x - 0.3, yc - 0.3, 0.15), (x + 0.3, yc + 0.3, 1.1), pool.pick(rng, "metal"), 0.6))
            elif kind == "kiosk":
                boxes.append(Box((x - 0.6, yc - 0.6, 0.15), (x + 0.6, yc + 0.6, 2.6), pool.pick(rng, "photo"), once=True))
                pois.append(Poi((x, s * (rw + 0.55 + 0.6 + CLEARANCE + 0.6)), (x, yc, 1.5)))
            else:  # a parked car on the road by the curb
                yr = s * (rw - 1.1)
                body = pool.pick(rng, "metal")
                boxes.append(Box((x - 2.1, yr - 0.85, 0.3), (x + 2.1, yr + 0.85, 1.05), body, 1.5))
                boxes.append(Box((x - 1.1, yr - 0.75, 1.05), (x + 1.0, yr + 0.75, 1.5), pool.pick(rng, "asphalt"), 1.0))
                for wx in (x - 1.4, x + 1.4):
                    boxes.append(Box((wx - 0.32, yr - 0.9, 0.0), (wx + 0.32, yr + 0.9, 0.64), pool.groups["asphalt"][0], 0.5))
            x += float(rng.uniform(5.0, 14.0))
    # views across and along the street from the curbs and the crossings
    for c in crossings:
        for s in (-1, 1):
            pois.append(Poi((c, s * (rw + 1.0 + CLEARANCE)), (c, -s * front, float(rng.uniform(2.0, 8.0)))))
    for x in rng.uniform(5.0, length - 5.0, 4):
        s = float(rng.choice([-1, 1]))
        pois.append(Poi((float(x), s * (rw + sw / 2)), (float(x) + float(rng.choice([-30.0, 30.0])), 0.0, 2.0)))
    walk, origin = walkable_grid((-0.5, -front - 0.5, length + 0.5, front + 0.5), free, boxes, CLEARANCE, 0.2)
    layout = Layout("street", place, boxes, walk, origin, 0.2, [], outdoor=True)
    layout.pois = [p for p in pois if layout.is_walkable(np.asarray(p.stand))]
    if len(layout.pois) < 2:
        cells = np.argwhere(walk)
        for k in rng.choice(len(cells), 4):
            x, y = layout.center(cells[k])
            layout.pois.append(Poi((float(x), float(y)), (float(x) + 20.0, 0.0, 2.0)))
    return layout
