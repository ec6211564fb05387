"""Transformer building blocks of CroCo: attention (fused or explicit), MLP, encoder/decoder blocks.

All blocks are pre-norm with LayerNorm eps 1e-6; attention projections carry biases; MLP is
Linear -> GELU -> Linear with ``mlp_ratio`` expansion.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from slife.model.posenc import apply_rope

Rope = tuple[Tensor, Tensor] | None


def layer_norm(dim: int) -> nn.LayerNorm:
    return nn.LayerNorm(dim, eps=1e-6)


def scaled_scores(q: Tensor, k: Tensor) -> Tensor:
    """The attention logits q k^T / sqrt(d) of (B, H, N, D) tensors -> (B, H, Nq, Nk), before softmax."""
    return (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)


class Scores(nn.Module):
    """:func:`scaled_scores` as a parameter-free module, so a forward hook can read the logits.

    An attention module holding one materialises its map (the explicit path) exactly when a forward
    hook is registered on it; that is how :mod:`slife.model.record` reads attention.
    """

    def forward(self, q: Tensor, k: Tensor) -> Tensor:
        return scaled_scores(q, k)

    @property
    def hooked(self) -> bool:
        return bool(self._forward_hooks)


def attend(q: Tensor, k: Tensor, v: Tensor, scores: Scores | None = None) -> Tensor:
    """softmax(q k^T / sqrt(d)) v for (B, H, N, D) tensors.

    Fused ``scaled_dot_product_attention`` unless ``scores`` is hooked (then the logits come from
    ``scores(q, k)``, where the hook sees them) or for bf16/fp16 on CPU, where PyTorch's CPU flash
    kernel is the slow one (PyTorch 2.13, forward + backward, 1 thread, 32 x 4 heads x 64 tokens x 16:
    22.4 ms fused vs 3.3 ms explicit, also under torch.compile; in float32 the fused kernel takes 0.8x
    the explicit time: docs/model.md). The explicit path takes the softmax in float32.
    """
    explicit = scores is not None and scores.hooked
    if not explicit and not (q.device.type == "cpu" and q.dtype in (torch.bfloat16, torch.float16)):
        return F.scaled_dot_product_attention(q, k, v)
    logits = scores(q, k) if explicit else scaled_scores(q, k)
    return logits.float().softmax(dim=-1).to(v.dtype) @ v


class SelfAttention(nn.Module):
    """Multi-head self-attention with a fused qkv projection and optional 2D RoPE."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, rope: Rope = None) -> Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).view(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        if rope is not None:  # rotate q and k in one go
            q, k = apply_rope(qkv[:2], *rope).unbind(0)
            v = qkv[2]
        else:
            q, k, v = qkv.unbind(0)
        return self.proj(attend(q, k, v).transpose(1, 2).reshape(b, n, c))


class CrossAttention(nn.Module):
    """Multi-head attention from queries ``x`` to keys/values ``y`` with optional 2D RoPE.

    ``scores`` computes its logits (B, H, N_x, N_y); hook it to read them (slife.model.record).
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)
        self.scores = Scores()

    def forward(self, x: Tensor, y: Tensor, rope_x: Rope = None, rope_y: Rope = None) -> Tensor:
        b, n, c = x.shape
        m = y.shape[1]
        h, d = self.heads, c // self.heads
        q = self.q(x).view(b, n, h, d).transpose(1, 2)
        k = self.k(y).view(b, m, h, d).transpose(1, 2)
        v = self.v(y).view(b, m, h, d).transpose(1, 2)
        if rope_x is not None:
            q = apply_rope(q, *rope_x)
        if rope_y is not None:
            k = apply_rope(k, *rope_y)
        return self.proj(attend(q, k, v, self.scores).transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class EncoderBlock(nn.Module):
    """x += SA(LN x); x += MLP(LN x)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = layer_norm(dim)
        self.attn = SelfAttention(dim, heads)
        self.norm2 = layer_norm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor, rope: Rope = None) -> Tensor:
        x = x + self.attn(self.norm1(x), rope)
        return x + self.mlp(self.norm2(x))


class DecoderBlock(nn.Module):
    """x += SA(LN x); x += CA(LN x, LN_y y); x += MLP(LN x). The source tokens y are not updated."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = layer_norm(dim)
        self.self_attn = SelfAttention(dim, heads)
        self.norm_cross = layer_norm(dim)
        self.norm_y = layer_norm(dim)
        self.cross_attn = CrossAttention(dim, heads)
        self.norm_mlp = layer_norm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor, y: Tensor, rope_x: Rope = None, rope_y: Rope = None) -> Tensor:
        """The updated target tokens (read the cross-attention with slife.model.record)."""
        x = x + self.self_attn(self.norm1(x), rope_x)
        x = x + self.cross_attn(self.norm_cross(x), self.norm_y(y), rope_x, rope_y)
        return x + self.mlp(self.norm_mlp(x))
