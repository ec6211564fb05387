"""Position encodings on the patch grid: 2D RoPE (CroCo v2) and fixed 2D sin-cos (CroCo v1).

Patch positions are integer (row, col) grid coordinates, patch index n = row * grid_w + col.

2D RoPE [croco]: each head's channels are split in two halves; the first half is rotated by the row
index, the second by the column index. Within a half of size D the 1D rotation uses the D/2
frequencies ``base ** (-2i / D)`` (i < D/2) and the "rotate-half" channel pairing (channel j is paired
with channel j + D/2 of the same half), which is the layout of the official CroCo v2 weights.
"""

from __future__ import annotations

import torch
from torch import Tensor


def grid_positions(gh: int, gw: int, device: torch.device | str | None = None) -> Tensor:
    """(gh*gw, 2) int64 (row, col) coordinates in row-major patch order."""
    rows = torch.arange(gh, device=device).repeat_interleave(gw)
    cols = torch.arange(gw, device=device).repeat(gh)
    return torch.stack([rows, cols], dim=-1)


def rope_tables(positions: Tensor, head_dim: int, base: float = 100.0) -> tuple[Tensor, Tensor]:
    """Tables (cos, signed sin) for :func:`apply_rope`, shape ``positions.shape[:-1] + (head_dim,)``, float32.

    ``positions``: (..., 2) (row, col). Build them once per forward and share them across layers.
    The sin table carries the rotation's signs (-sin on the first quarter of each axis half), so
    that applying RoPE is ``x * cos + swap_halves(x) * sin``.
    """
    if head_dim % 4:
        raise ValueError(f"2D RoPE needs head_dim divisible by 4, got {head_dim}")
    half = head_dim // 2
    inv_freq = base ** (-torch.arange(0, half, 2, device=positions.device, dtype=torch.float32) / half)
    angles, signs = [], []
    for axis in (0, 1):
        ang = positions[..., axis, None].to(torch.float32) * inv_freq  # (..., half/2)
        angles.append(torch.cat([ang, ang], dim=-1))  # rotate-half layout
        signs.append(torch.cat([-torch.ones_like(inv_freq), torch.ones_like(inv_freq)]))
    angle = torch.cat(angles, dim=-1)
    return angle.cos(), angle.sin() * torch.cat(signs)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate queries/keys ``x`` (..., N, D) by tables (N, D) or (B, N, D) from :func:`rope_tables`.

    Per-sample tables (B, N, D) broadcast over a head axis just before N. The rotation pairs
    channel j with j + D/4 inside each axis half ([a1, a2, b1, b2] -> [-a2, a1, -b2, b1]) and is
    computed in float32; the result keeps x's dtype.
    """
    if cos.dim() == 3:  # per-sample positions -> broadcast over heads
        cos, sin = cos[:, None], sin[:, None]
    xf = x.float()
    row_a, row_b, col_a, col_b = xf.chunk(4, dim=-1)
    swapped = torch.cat((row_b, row_a, col_b, col_a), dim=-1)  # 2-4x faster than flip, forward + backward
    return (xf * cos + swapped * sin).to(x.dtype)


def sincos_1d(dim: int, pos: Tensor) -> Tensor:
    """(len(pos), dim) fixed sin-cos embedding of 1D positions: [sin(pos*w), cos(pos*w)], w = 1e4^(-i/(dim/2))."""
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2))
    out = pos.to(torch.float64)[:, None] * omega[None]
    return torch.cat([out.sin(), out.cos()], dim=1)


def sincos_2d(dim: int, gh: int, gw: int) -> Tensor:
    """(gh*gw, dim) float32 2D sin-cos embedding (CroCo v1 / MAE layout): first half encodes the
    column, second half the row."""
    if dim % 4:
        raise ValueError(f"2D sin-cos embedding needs dim divisible by 4, got {dim}")
    pos = grid_positions(gh, gw)
    emb = torch.cat([sincos_1d(dim // 2, pos[:, 1]), sincos_1d(dim // 2, pos[:, 0])], dim=1)
    return emb.to(torch.float32)


__all__ = ["grid_positions", "rope_tables", "apply_rope", "sincos_1d", "sincos_2d"]
