"""A straightforward functional CroCo, for tests and the training-step benchmark.

Written independently of :mod:`slife.model.croco`: it reads weights from a dict under the *official*
CroCo key names (see :func:`slife.model.official.to_official_state_dict`), uses explicit
softmax(q k^T / sqrt(d)) attention in float32 and applies 2D RoPE with complex numbers. Being a plain
function of a dict of tensors, it can be trained directly (tensors with ``requires_grad``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from slife.model.config import ModelConfig

Params = dict[str, Tensor]


def rope_complex(x: Tensor, pos: Tensor, base: float) -> Tensor:
    """2D RoPE of x (B, H, N, D) at positions (B, N, 2) (row, col), as complex multiplications.

    Per axis half of size h: channel j (< h/2) and j + h/2 form the complex number c_j, rotated by
    exp(i * p * base^(-2j/h)).
    """
    d = x.shape[-1]
    h = d // 2
    freqs = base ** (-torch.arange(0, h, 2, dtype=torch.float64, device=x.device) / h)
    out = []
    for axis, part in enumerate(x.float().split(h, dim=-1)):
        angle = pos[..., axis].double()[..., None] * freqs  # (B, N, h/2)
        rot = torch.polar(torch.ones_like(angle), angle).to(torch.complex64)[:, None]  # (B, 1, N, h/2)
        c = torch.complex(part[..., : h // 2], part[..., h // 2 :]) * rot
        out += [c.real, c.imag]
    return torch.cat(out, dim=-1)


def _linear(p: Params, name: str, x: Tensor) -> Tensor:
    return F.linear(x, p[name + ".weight"], p[name + ".bias"])


def _norm(p: Params, name: str, x: Tensor) -> Tensor:
    return F.layer_norm(x, x.shape[-1:], p[name + ".weight"], p[name + ".bias"], eps=1e-6)


def _heads(x: Tensor, heads: int) -> Tensor:
    b, n, c = x.shape
    return x.reshape(b, n, heads, c // heads).permute(0, 2, 1, 3)


def _attention(q: Tensor, k: Tensor, v: Tensor, qpos: Tensor, kpos: Tensor, cfg: ModelConfig) -> tuple[Tensor, Tensor]:
    if cfg.pos_embed == "rope":
        q, k = rope_complex(q, qpos, cfg.rope_base), rope_complex(k, kpos, cfg.rope_base)
    attn = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
    out = attn @ v
    b, h, n, d = out.shape
    return out.permute(0, 2, 1, 3).reshape(b, n, h * d), attn


def self_attention(p: Params, name: str, x: Tensor, pos: Tensor, heads: int, cfg: ModelConfig) -> Tensor:
    q, k, v = _linear(p, name + ".qkv", x).chunk(3, dim=-1)
    out, _ = _attention(_heads(q, heads), _heads(k, heads), _heads(v, heads), pos, pos, cfg)
    return _linear(p, name + ".proj", out)


def encoder_block(p: Params, i: int, x: Tensor, pos: Tensor, cfg: ModelConfig) -> Tensor:
    n = f"enc_blocks.{i}"
    x = x + self_attention(p, n + ".attn", _norm(p, n + ".norm1", x), pos, cfg.enc_heads, cfg)
    h = F.gelu(_linear(p, n + ".mlp.fc1", _norm(p, n + ".norm2", x)))
    return x + _linear(p, n + ".mlp.fc2", h)


def decoder_block(p: Params, i: int, x: Tensor, y: Tensor, pos: Tensor, cfg: ModelConfig) -> tuple[Tensor, Tensor]:
    """One decoder block; returns (new x, cross-attention map (B, H, N, N))."""
    n = f"dec_blocks.{i}"
    hd = cfg.dec_heads
    x = x + self_attention(p, n + ".attn", _norm(p, n + ".norm1", x), pos, hd, cfg)
    yn = _norm(p, n + ".norm_y", y)
    q = _heads(_linear(p, n + ".cross_attn.projq", _norm(p, n + ".norm2", x)), hd)
    k = _heads(_linear(p, n + ".cross_attn.projk", yn), hd)
    v = _heads(_linear(p, n + ".cross_attn.projv", yn), hd)
    out, attn = _attention(q, k, v, pos, pos, cfg)
    x = x + _linear(p, n + ".cross_attn.proj", out)
    h = F.gelu(_linear(p, n + ".mlp.fc1", _norm(p, n + ".norm3", x)))
    return x + _linear(p, n + ".mlp.fc2", h), attn


def _positions(cfg: ModelConfig, batch: int, device: torch.device) -> Tensor:
    g = cfg.grid
    rows, cols = torch.meshgrid(torch.arange(g, device=device), torch.arange(g, device=device), indexing="ij")
    return torch.stack([rows.flatten(), cols.flatten()], -1).expand(batch, -1, -1)


def encode(p: Params, cfg: ModelConfig, img: Tensor, mask: Tensor | None = None) -> Tensor:
    b = img.shape[0]
    w = p["patch_embed.proj.weight"]
    x = F.conv2d(img, w, p["patch_embed.proj.bias"], stride=cfg.patch_size).flatten(2).transpose(1, 2)
    if cfg.pos_embed == "cosine":
        x = x + p["enc_pos_embed"]
    pos = _positions(cfg, b, img.device)
    if mask is not None:
        keep = ~mask
        x = torch.stack([x[i][keep[i]] for i in range(b)])
        pos = torch.stack([pos[i][keep[i]] for i in range(b)])
    for i in range(cfg.enc_depth):
        x = encoder_block(p, i, x, pos, cfg)
    return _norm(p, "enc_norm", x)


def forward(p: Params, cfg: ModelConfig, src: Tensor, tgt: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """(pred (B, N, p*p*3), cross-attention (L, B, H, N, N)) for a given mask (True = hidden)."""
    b = tgt.shape[0]
    xt = _linear(p, "decoder_embed", encode(p, cfg, tgt, mask))
    y = _linear(p, "decoder_embed", encode(p, cfg, src))
    x = p["mask_token"].expand(b, cfg.num_patches, -1)
    rows = []
    for i in range(b):  # put each visible token back at its grid position
        idx = torch.nonzero(~mask[i]).flatten()
        rows.append(x[i].index_copy(0, idx, xt[i]))
    x = torch.stack(rows)
    if cfg.pos_embed == "cosine":
        x, y = x + p["dec_pos_embed"], y + p["dec_pos_embed"]
    pos = _positions(cfg, b, tgt.device)
    maps = []
    for i in range(cfg.dec_depth):
        x, attn = decoder_block(p, i, x, y, pos, cfg)
        maps.append(attn)
    return _linear(p, "prediction_head", _norm(p, "dec_norm", x)), torch.stack(maps)


def loss(cfg: ModelConfig, pred: Tensor, tgt: Tensor, mask: Tensor) -> Tensor:
    """Masked MSE against per-patch normalised target pixels (unbiased variance, eps 1e-6)."""
    b = tgt.shape[0]
    g, ps = cfg.grid, cfg.patch_size
    # (B, 3, g, p, g, p) -> (B, g, g, p, p, 3)
    t = tgt.reshape(b, 3, g, ps, g, ps).permute(0, 2, 4, 3, 5, 1).reshape(b, g * g, -1)
    if cfg.norm_pix_loss:
        t = (t - t.mean(-1, keepdim=True)) / torch.sqrt(t.var(-1, keepdim=True) + 1e-6)
    per_patch = ((pred - t) ** 2).mean(-1)
    return (per_patch * mask).sum() / mask.sum()
