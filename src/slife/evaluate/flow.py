"""Dense flow from a cross-attention map (pure numpy; no model here).

The attention ``A`` (N_tgt, N_src) - rows are target patches, columns source patches, rows sum to 1 -
gives each target patch a position in the source by soft-argmax over the source patch centres,
optionally restricted to a window of +-``window`` patches around the row's argmax [ours: default 2,
which keeps a diffuse or multi-modal row from being pulled to the middle of the image]. The flow
(displacement) lives at the target patch centres and is interpolated bilinearly to any pixel.
Coordinates are continuous pixels of the model's square crop: patch (r, c) has its centre at
((c + 0.5) P, (r + 0.5) P).
"""

from __future__ import annotations

import numpy as np


def patch_centers(grid: tuple[int, int], patch: int) -> np.ndarray:
    """(N, 2) centres (x, y) of a row-major patch grid, in pixels."""
    gh, gw = grid
    rows, cols = np.divmod(np.arange(gh * gw), gw)
    return np.stack([(cols + 0.5) * patch, (rows + 0.5) * patch], axis=1).astype(np.float64)


def soft_argmax(attn: np.ndarray, grid_src: tuple[int, int], patch: int, window: int | None = 2) -> np.ndarray:
    """(N_tgt, 2) source positions: attention-weighted mean of source patch centres.

    ``window`` = k restricts each row to the (2k+1)^2 patches around its argmax (weights renormalised);
    ``None`` or a negative value uses the whole grid.
    """
    attn = np.asarray(attn, dtype=np.float64)
    gh, gw = grid_src
    if attn.ndim != 2 or attn.shape[1] != gh * gw:
        raise ValueError(f"attention must be (N_tgt, {gh * gw}), got {attn.shape}")
    centers = patch_centers(grid_src, patch)
    weights = np.clip(attn, 0.0, None)
    if window is not None and window >= 0:
        rows, cols = np.divmod(np.arange(gh * gw), gw)
        best = weights.argmax(axis=1)
        near = (np.abs(rows[None, :] - rows[best][:, None]) <= window) & (np.abs(cols[None, :] - cols[best][:, None]) <= window)
        weights = weights * near
    total = weights.sum(axis=1, keepdims=True)
    uniform = total[:, 0] <= 0  # an all-zero row: fall back to the grid centre
    weights = np.where(uniform[:, None], 1.0, weights)
    total = np.where(uniform[:, None], weights.sum(axis=1, keepdims=True), total)
    return (weights @ centers) / total


def sample_field(field: np.ndarray, xy: np.ndarray, patch: int) -> np.ndarray:
    """Bilinear sample of a per-patch field (gh, gw, C) at pixel positions ``xy`` (M, 2).

    Values sit at patch centres; beyond the outermost centres the field is constant (edge clamp).
    """
    gh, gw = field.shape[:2]
    u = np.clip(np.asarray(xy[:, 0], dtype=np.float64) / patch - 0.5, 0.0, gw - 1)
    v = np.clip(np.asarray(xy[:, 1], dtype=np.float64) / patch - 0.5, 0.0, gh - 1)
    u0 = np.minimum(np.floor(u).astype(np.int64), max(gw - 2, 0))
    v0 = np.minimum(np.floor(v).astype(np.int64), max(gh - 2, 0))
    u1, v1 = np.minimum(u0 + 1, gw - 1), np.minimum(v0 + 1, gh - 1)
    fu, fv = (u - u0)[:, None], (v - v0)[:, None]
    top = field[v0, u0] * (1 - fu) + field[v0, u1] * fu
    bottom = field[v1, u0] * (1 - fu) + field[v1, u1] * fu
    return top * (1 - fv) + bottom * fv


def flow_field(positions: np.ndarray, grid_tgt: tuple[int, int], patch: int) -> np.ndarray:
    """Displacement field (gh, gw, 2) = source position - target patch centre."""
    return (positions - patch_centers(grid_tgt, patch)).reshape(grid_tgt[0], grid_tgt[1], 2)


def round_trip(
    fwd_positions: np.ndarray, bwd_positions: np.ndarray, grid_tgt: tuple[int, int], grid_src: tuple[int, int], patch: int
) -> np.ndarray:
    """(N_tgt,) distance in pixels between each target patch centre and where it returns after going
    to the source (``fwd_positions``) and back (the backward flow sampled there)."""
    bwd = flow_field(bwd_positions, grid_src, patch)
    back = fwd_positions + sample_field(bwd, fwd_positions, patch)
    return np.linalg.norm(back - patch_centers(grid_tgt, patch), axis=1)
