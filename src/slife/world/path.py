"""Human-like camera paths: walk between places of interest at ~1.4 m/s on the walkable grid,
pause and look around, prefer places already visited (revisits), with head yaw/pitch motion,
head bob and a little roll.

A path is built on a fine internal time grid (``DT``) and then sampled at the frame times.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from slife.world.config import WorldConfig
from slife.world.scene import Layout

DT = 0.1  # internal time step (s)


@dataclass
class Person:
    """Per-life traits of the camera wearer."""

    eye_height: float
    speed: float
    step_hz: float

    @classmethod
    def draw(cls, rng: np.random.Generator, cfg: WorldConfig) -> "Person":
        return cls(
            eye_height=cfg.eye_height + float(rng.uniform(-0.08, 0.08)),
            speed=cfg.walk_speed * float(rng.uniform(0.9, 1.1)),
            step_hz=float(rng.uniform(1.7, 2.0)),
        )


@dataclass
class Track:
    """Camera track on the internal grid: t (N,), position (N, 3), yaw/pitch/roll (N,) radians."""

    t: np.ndarray
    pos: np.ndarray
    yaw: np.ndarray
    pitch: np.ndarray
    roll: np.ndarray

    def poses(self, times: np.ndarray) -> np.ndarray:
        """Camera-to-world 4x4 poses (OpenCV axes) at ``times`` (linear interpolation)."""
        pos = np.stack([np.interp(times, self.t, self.pos[:, k]) for k in range(3)], axis=1)
        ang = [np.interp(times, self.t, a) for a in (self.yaw, self.pitch, self.roll)]
        return camera_poses(pos, *ang)


def camera_poses(pos: np.ndarray, yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """Camera-to-world (N, 4, 4), OpenCV axes, world z up; yaw from +x towards +y, pitch up > 0."""
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    fwd = np.stack([cp * cy, cp * sy, sp], axis=1)
    right = np.stack([sy, -cy, np.zeros_like(sy)], axis=1)
    down = np.cross(fwd, right)
    cr, sr = np.cos(roll)[:, None], np.sin(roll)[:, None]
    x = cr * right + sr * down
    y = -sr * right + cr * down
    out = np.tile(np.eye(4), (len(pos), 1, 1))
    out[:, :3, 0], out[:, :3, 1], out[:, :3, 2], out[:, :3, 3] = x, y, fwd, pos
    return out


class Planner:
    """Shortest walkable paths between places of interest (8-connected grid, Dijkstra)."""

    def __init__(self, layout: Layout):
        self.layout = layout
        walk = layout.walkable
        h, w = walk.shape
        ids = np.full(walk.shape, -1, np.int64)
        ids[walk] = np.arange(int(walk.sum()))
        rows, cols, wts = [], [], []
        for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
            a = ids[max(0, -dr) : h - max(0, dr), max(0, -dc) : w - max(0, dc)]
            b = ids[max(0, dr) : max(0, dr) + a.shape[0], max(0, dc) : max(0, dc) + a.shape[1]]
            ok = (a >= 0) & (b >= 0)
            rows.append(a[ok])
            cols.append(b[ok])
            wts.append(np.full(int(ok.sum()), np.hypot(dr, dc) * layout.res))
        n = int(walk.sum())
        self.graph = coo_matrix((np.concatenate(wts), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)).tocsr()
        self.ids = ids
        self.cells = np.argwhere(walk)
        self.poi_nodes = [int(ids[tuple(layout.cell(np.asarray(p.stand)))]) for p in layout.pois]
        self._pred: dict[int, np.ndarray] = {}

    def path(self, a: int, b: int) -> np.ndarray | None:
        """World xy polyline (K, 2) from POI ``a`` to POI ``b`` (string-pulled), None if unreachable."""
        src, dst = self.poi_nodes[a], self.poi_nodes[b]
        if src not in self._pred:
            _, pred = dijkstra(self.graph, directed=False, indices=src, return_predecessors=True)
            self._pred[src] = pred
        pred = self._pred[src]
        if dst != src and pred[dst] < 0:
            return None
        nodes = [dst]
        while nodes[-1] != src:
            nodes.append(int(pred[nodes[-1]]))
        pts = self.layout.center(self.cells[np.asarray(nodes[::-1])])
        pts[0], pts[-1] = self.layout.pois[a].stand, self.layout.pois[b].stand
        return self._pull(pts)

    def _visible(self, p: np.ndarray, q: np.ndarray) -> bool:
        n = max(2, int(np.linalg.norm(q - p) / (self.layout.res * 0.5)) + 1)
        return bool(self.layout.is_walkable(p + (q - p) * np.linspace(0, 1, n)[:, None]).all())

    def _pull(self, pts: np.ndarray) -> np.ndarray:
        out, i = [pts[0]], 0
        while i < len(pts) - 1:
            j = len(pts) - 1
            while j > i + 1 and not self._visible(pts[i], pts[j]):
                j = max(i + 1, i + (j - i) // 2) if j - i > 8 else j - 1
            out.append(pts[j])
            i = j
        return np.asarray(out)


def _smooth_noise(rng: np.random.Generator, n: int, sigma_s: float) -> np.ndarray:
    """Unit-variance smooth random signal of ``n`` samples with correlation time ~``sigma_s``."""
    x = ndimage.gaussian_filter1d(rng.standard_normal(n + 64), sigma_s / DT, mode="wrap")[32 : 32 + n]
    return x / max(float(x.std()), 1e-9)


def _next_poi(rng: np.random.Generator, current: int, visits: np.ndarray, revisit_prob: float) -> int:
    n = len(visits)
    seen = [i for i in range(n) if visits[i] > 0 and i != current]
    new = [i for i in range(n) if visits[i] == 0 and i != current]
    if seen and (not new or rng.random() < revisit_prob):
        w = visits[seen].astype(np.float64)
        return int(rng.choice(seen, p=w / w.sum()))
    if new:
        return int(rng.choice(new))
    return int(rng.choice([i for i in range(n) if i != current]))


def walk_track(
    layout: Layout,
    planner: Planner,
    rng: np.random.Generator,
    cfg: WorldConfig,
    person: Person,
    duration: float,
    start_poi: int,
    visits: np.ndarray,
) -> Track:
    """A track of ``duration`` seconds starting at ``start_poi``; updates ``visits`` in place."""
    n_total = int(np.ceil(duration / DT)) + 2
    xy: list[np.ndarray] = []
    yaw: list[np.ndarray] = []
    pitch: list[np.ndarray] = []
    moving: list[np.ndarray] = []
    max_glance = float(np.deg2rad(cfg.glance_yaw_deg))  # radians; the defaults round-trip exactly
    glance_pitches = tuple(float(np.deg2rad(a)) for a in cfg.glance_pitch_deg)
    walk_pitch = float(np.deg2rad(cfg.walk_pitch_deg))
    cur = start_poi
    visits[cur] += 1
    heading = float(rng.uniform(-np.pi, np.pi))
    count = 0
    while count < n_total:
        # pause: face the object of interest, then glance elsewhere
        poi = layout.pois[cur]
        here = np.asarray(poi.stand, np.float64)
        n_pause = max(1, int(rng.uniform(*cfg.pause_seconds) / DT))
        d = np.asarray(poi.look[:2]) - here
        look_yaw = float(np.arctan2(d[1], d[0])) if np.linalg.norm(d) > 1e-6 else heading
        look_pitch = float(np.arctan2(poi.look[2] - person.eye_height, max(np.linalg.norm(d), 0.3)))
        n_first = max(1, int(n_pause * rng.uniform(0.4, 0.8)))
        glance_yaw = look_yaw + float(rng.uniform(-max_glance, max_glance))
        glance_pitch = float(rng.uniform(*glance_pitches))
        y_seq = np.where(np.arange(n_pause) < n_first, look_yaw, glance_yaw)
        p_seq = np.where(np.arange(n_pause) < n_first, look_pitch, glance_pitch)
        xy.append(np.tile(here, (n_pause, 1)))
        yaw.append(y_seq)
        pitch.append(p_seq)
        moving.append(np.zeros(n_pause))
        count += n_pause
        heading = float(y_seq[-1])
        if count >= n_total:
            break
        nxt, path = cur, None
        for _ in range(8):
            nxt = _next_poi(rng, cur, visits, cfg.revisit_prob)
            path = planner.path(cur, nxt)
            if path is not None:
                break
        if path is None or len(path) < 2:
            continue
        seg = np.diff(path, axis=0)
        seg_len = np.linalg.norm(seg, axis=1)
        cum = np.concatenate([[0.0], np.cumsum(seg_len)])
        if cum[-1] < 1e-6:
            visits[nxt] += 1
            cur = nxt
            continue
        s = np.arange(0.0, cum[-1], person.speed * DT)
        pts = np.stack([np.interp(s, cum, path[:, 0]), np.interp(s, cum, path[:, 1])], axis=1)
        k = np.clip(np.searchsorted(cum, s, side="right") - 1, 0, len(seg) - 1)
        walk_yaw = np.arctan2(seg[k, 1], seg[k, 0])
        xy.append(pts)
        yaw.append(walk_yaw)
        pitch.append(np.full(len(s), walk_pitch))
        moving.append(np.ones(len(s)))
        count += len(s)
        heading = float(walk_yaw[-1])
        visits[nxt] += 1
        cur = nxt
    xy_a = np.concatenate(xy)[:n_total]
    yaw_a = np.unwrap(np.concatenate(yaw)[:n_total])
    pitch_a = np.concatenate(pitch)[:n_total]
    mov = ndimage.gaussian_filter1d(np.concatenate(moving)[:n_total], 0.5 / DT, mode="nearest")
    n = len(xy_a)
    xy_a = ndimage.gaussian_filter1d(xy_a, 0.3 / DT, axis=0, mode="nearest")
    yaw_a = ndimage.gaussian_filter1d(yaw_a, 0.35 / DT, mode="nearest")
    pitch_a = ndimage.gaussian_filter1d(pitch_a, 0.35 / DT, mode="nearest")
    t = np.arange(n) * DT
    yaw_a = yaw_a + np.deg2rad(cfg.head_yaw_deg) * _smooth_noise(rng, n, cfg.head_yaw_seconds) * (0.4 + 0.6 * mov)
    pitch_a = np.clip(pitch_a + np.deg2rad(cfg.head_pitch_deg) * _smooth_noise(rng, n, cfg.head_pitch_seconds), -0.9, 0.6)
    roll = np.deg2rad(cfg.head_roll_deg) * _smooth_noise(rng, n, cfg.head_roll_seconds)
    bob = cfg.head_bob * mov * np.sin(2 * np.pi * person.step_hz * t)
    pos = np.concatenate([xy_a, (person.eye_height + bob)[:, None]], axis=1)
    return Track(t, pos, yaw_a, pitch_a, roll)
