"""Overlap-filtered temporal pairs [ours]: temporal pairs whose two frames see enough of the same scene.

Temporal pairs with gaps of 0.5-5 s often share nothing (the review of the world lives found 45 % with
no visible point in common): the target cannot be completed from the source and the pair teaches no
correspondence. With ``temporal.min_overlap > 0`` every temporal candidate pair (i < j, same segment,
gap in [min_gap, max_gap], exactly the pairs :class:`~slife.pairs.samplers.TemporalSampler` can draw)
gets a co-visibility score in [0, 1], and only pairs scoring >= ``min_overlap`` are drawn, through an
:class:`~slife.pairs.samplers.IndexSampler` named ``temporal`` (so frames take part about equally
often, and the gap is no longer uniform in [min_gap, max_gap]).

The score (``temporal.overlap_from``):

- ``depth`` (``auto`` where the life has depth + poses): the Jaccard index |A ∩ B| / |A ∪ B| of the two
  frames' visible voxel sets (:func:`slife.pairs.spatial.depth_visible_sets` with the ``spatial``
  grid and voxel size), the same measure as the spatial pairs' ``lo`` / ``hi``.
- ``image`` (``auto`` otherwise, e.g. ingested video): an estimate from the frames alone, both
  resized to a short side of :data:`IMAGE_SIDE` px, made grey and reduced to their gradient magnitude
  (texture: plain walls of two different places would otherwise correlate): the dominant translation
  (phase correlation, slife.pairs.aligned) and then (shared area fraction after that translation) x
  max(0, normalised cross-correlation of the shared areas). 1 = the same view, ~0 = unrelated views
  or a shift by the whole frame. It is not a Jaccard index; thresholds need not mean the same (on the
  rendered kitchen it correlates 0.87 with the depth Jaccard; at 0.3 it keeps 6 % pairs with no shared
  voxel, of 44 % among all candidates, and 81 % of the pairs with Jaccard >= 0.3).

Scores of all candidates (not the threshold) are cached as ``LIFE/pairs/covisible-<hash>.npz``
(written atomically; the hash covers the source, its parameters, the life and the candidate pairs), so
changing ``min_overlap`` costs nothing; a read-only life recomputes them (with a warning).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from slife.atomic import atomic_open
from slife.errors import SlifeError

INDEX_VERSION = 1
IMAGE_SIDE = 32  # short side (px) of the frames the image estimate compares
_CHUNK = 4096


@dataclass
class CovisibleIndex:
    """Every temporal candidate pair with its co-visibility score."""

    pairs: np.ndarray  # (P, 2) int64, i < j
    overlap: np.ndarray  # (P,) float32 in [0, 1]
    source: str  # "depth" or "image"
    params: dict[str, Any]
    path: Path | None = None

    def allowed(self, min_overlap: float) -> np.ndarray:
        """The pairs scoring >= ``min_overlap`` ((K, 2) int64)."""
        return self.pairs[self.overlap >= min_overlap]

    def stats(self, min_overlap: float) -> dict[str, Any]:
        kept = self.overlap >= min_overlap
        return {
            "source": self.source,
            "candidates": int(len(self.pairs)),
            "kept": int(kept.sum()),
            "zero_overlap": float((self.overlap <= 0).mean()) if len(self.overlap) else float("nan"),
            "overlap_quantiles": [float(q) for q in np.quantile(self.overlap, [0.1, 0.5, 0.9])] if len(self.overlap) else [],
        }


def temporal_candidates(life, min_gap: float, max_gap: float) -> np.ndarray:
    """All unordered pairs (i < j) the temporal sampler can draw, from its forward ranges (the backward
    ranges hold the same pairs seen from j)."""
    from slife.pairs.samplers import TemporalSampler

    sampler = TemporalSampler.for_life(life, min_gap, max_gap)
    lo, hi = np.asarray(sampler.lo_f, np.int64), np.asarray(sampler.hi_f, np.int64)
    counts = np.maximum(hi - lo, 0)
    first = np.repeat(np.arange(len(lo), dtype=np.int64), counts)
    within = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    pairs = np.stack([first, lo[first] + within], axis=1)
    return pairs[pairs[:, 0] < pairs[:, 1]]


def depth_overlaps(life, pairs: np.ndarray, spatial, progress: bool = False) -> np.ndarray:
    """Jaccard index of the visible voxel sets (slife.pairs.spatial) of each pair's two frames."""
    from slife.pairs.spatial import depth_visible_sets

    sets = depth_visible_sets(life, spatial, progress)
    A = sets.incidence.tocsr()
    size = np.asarray(A.sum(axis=1)).ravel().astype(np.float64)
    out = np.zeros(len(pairs), dtype=np.float64)
    for s in range(0, len(pairs), _CHUNK * 16):
        i, j = pairs[s : s + _CHUNK * 16, 0], pairs[s : s + _CHUNK * 16, 1]
        inter = np.asarray(A[i].multiply(A[j]).sum(axis=1)).ravel().astype(np.float64)
        union = size[i] + size[j] - inter
        out[s : s + len(i)] = np.where(union > 0, inter / np.maximum(union, 1.0), 0.0)
    return out.astype(np.float32)


def overlap_score(a: np.ndarray, b: np.ndarray, dy: int, dx: int) -> float:
    """Image co-visibility estimate of grey images ``a``, ``b`` (same size) with ``b[y, x] ~ a[y - dy,
    x - dx]``: shared area fraction x max(0, normalised cross-correlation over the shared area)."""
    h, w = a.shape
    if abs(dy) >= h or abs(dx) >= w:
        return 0.0
    ra = a[max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
    rb = b[max(0, dy) : h + min(0, dy), max(0, dx) : w + min(0, dx)]
    ra = ra - ra.mean()
    rb = rb - rb.mean()
    denom = float(np.sqrt((ra * ra).sum() * (rb * rb).sum()))
    if denom <= 1e-9:
        return 0.0
    ncc = float((ra * rb).sum()) / denom
    return ra.size / (h * w) * max(0.0, ncc)


def texture(image: np.ndarray) -> np.ndarray:
    """Gradient magnitude of the grey image (float64 H x W)."""
    from slife.pairs.aligned import gray

    gy, gx = np.gradient(gray(image))
    return np.hypot(gy, gx)


def image_overlaps(life, pairs: np.ndarray, side: int = IMAGE_SIDE, progress: bool = False) -> np.ndarray:
    """:func:`overlap_score` of each pair's frames, resized to short side ``side``, as :func:`texture`."""
    from tqdm import tqdm

    from slife.pairs.aligned import phase_shifts
    from slife.pairs.augment import read_resized

    frames = np.unique(pairs)
    grey: dict[int, np.ndarray] = {}
    for i in tqdm(frames, desc="grey frames", disable=not progress, unit="frame"):
        grey[int(i)] = texture(read_resized(life, int(i), side))
    out = np.zeros(len(pairs), dtype=np.float64)
    shapes = np.array([grey[int(i)].shape == grey[int(j)].shape for i, j in pairs], dtype=bool)
    for s in tqdm(range(0, len(pairs), _CHUNK), desc="image overlap", disable=not progress, unit="chunk"):
        chunk = np.arange(s, min(len(pairs), s + _CHUNK))
        by_shape: dict[tuple[int, int], list[int]] = {}
        for k in chunk[shapes[chunk]]:
            by_shape.setdefault(grey[int(pairs[k, 0])].shape, []).append(int(k))
        for ks in by_shape.values():
            a = np.stack([grey[int(pairs[k, 0])] for k in ks])
            b = np.stack([grey[int(pairs[k, 1])] for k in ks])
            for n, (k, (dy, dx)) in enumerate(zip(ks, phase_shifts(a, b))):
                out[k] = overlap_score(a[n], b[n], int(dy), int(dx))
    return out.astype(np.float32)  # frames of different sizes (never temporal partners) score 0


def resolve_source(life, overlap_from: str) -> str:
    has_geometry = bool(life.has_depth and life.has_poses)
    if overlap_from == "auto":
        return "depth" if has_geometry else "image"
    if overlap_from == "depth" and not has_geometry:
        raise SlifeError(f"{life.dir}: temporal.overlap_from=depth needs depth and poses in the life; use auto or image")
    return overlap_from


def index_params(life, temporal, spatial, candidates: np.ndarray) -> dict[str, Any]:
    from slife.pairs.spatial import _life_identity

    source = resolve_source(life, temporal.overlap_from)
    how = {"grid": spatial.grid, "voxel": spatial.voxel} if source == "depth" else {"side": IMAGE_SIDE, "on": "gradient"}
    return {
        "version": INDEX_VERSION,
        "source": source,
        **how,
        "min_gap": temporal.min_gap,
        "max_gap": temporal.max_gap,
        "life": _life_identity(life),
        "candidates": hashlib.sha1(np.ascontiguousarray(candidates, dtype=np.int64).tobytes()).hexdigest(),
    }


def covisible_index(life, temporal, spatial, progress: bool = False, rebuild: bool = False) -> CovisibleIndex:
    """The cached scores of the temporal candidates of ``life`` (computed and saved on first use).

    ``temporal``: a :class:`~slife.pairs.config.TemporalConfig`; ``spatial``: a
    :class:`~slife.pairs.spatial.SpatialConfig` (grid and voxel size of the depth source)."""
    candidates = temporal_candidates(life, temporal.min_gap, temporal.max_gap)
    params = index_params(life, temporal, spatial, candidates)
    digest = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    path = Path(life.dir) / "pairs" / f"covisible-{digest}.npz"
    if path.is_file() and not rebuild:
        try:
            from slife.npzfile import load_npz

            with load_npz(path) as data:
                pairs, overlap = data["pairs"], data["overlap"]
            if np.array_equal(pairs, candidates):
                return CovisibleIndex(pairs.astype(np.int64), overlap.astype(np.float32), params["source"], params, path)
        except (OSError, KeyError, ValueError, zipfile.BadZipFile):
            pass  # unreadable, too large or stale: recompute and replace it
    if params["source"] == "depth":
        overlap = depth_overlaps(life, candidates, spatial, progress)
    else:
        overlap = image_overlaps(life, candidates, IMAGE_SIDE, progress)
    index = CovisibleIndex(candidates, overlap, params["source"], params)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path, "wb") as fh:
            np.savez(fh, pairs=candidates, overlap=overlap, params=np.array(json.dumps(params)))
        index.path = path
    except OSError as exc:  # a read-only life still trains; the scores are just not reused
        import warnings

        warnings.warn(f"{path}: cannot cache temporal co-visibility ({exc}); it will be recomputed next time")
    return index


def covisible_sampler(life, cfg, progress: bool = False):
    """The temporal sampler of ``cfg`` (a PairsConfig) restricted to pairs with co-visibility >=
    ``cfg.temporal.min_overlap``: an IndexSampler named ``temporal``."""
    from slife.pairs.samplers import IndexSampler

    index = covisible_index(life, cfg.temporal, cfg.spatial, progress)
    allowed = index.allowed(cfg.temporal.min_overlap)
    if not len(allowed):
        raise SlifeError(
            f"{life.dir}: no temporal pair has {index.source} co-visibility >= temporal.min_overlap "
            f"{cfg.temporal.min_overlap} (of {len(index.pairs)} candidates); lower it or set it to 0"
        )
    return IndexSampler(allowed, "temporal")
