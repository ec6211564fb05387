"""CroCo: cross-view completion with a Siamese ViT encoder and a cross-attending decoder.

The target image is masked (``mask_ratio`` of its patches hidden, random per sample); the encoder
sees only its visible patches (at their true grid positions) and, separately with the same weights,
the whole source image. The decoder projects both streams to its width, fills the hidden target
positions with a learned mask token, and runs blocks of self-attention over the target, cross-attention
from target to the (never updated) source tokens, and an MLP. A linear head predicts each patch's
pixels; the loss is the MSE on hidden patches against per-patch normalised pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from slife.model.config import ModelConfig
from slife.model.layers import DecoderBlock, EncoderBlock, layer_norm
from slife.model.posenc import grid_positions, rope_tables, sincos_2d
from slife.model.record import CrossAttentionRecorder

NORM_PIX_EPS = 1e-6


@dataclass
class CroCoOutput:
    pred: Tensor  # (B, N, p*p*3) predicted (normalised) pixels of every target patch
    mask: Tensor  # (B, N) bool, True = hidden from the encoder
    cross_attention: Tensor | None = None  # (L, B, H, N_tgt, N_src) float32 when asked for


def patchify(img: Tensor, patch_size: int) -> Tensor:
    """(B, 3, H, W) -> (B, N, p*p*3), row-major patches, pixels ordered (row, col, channel)."""
    b, c, h, w = img.shape
    p = patch_size
    x = img.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1)
    return x.reshape(b, (h // p) * (w // p), p * p * c)


def normalise_patches(patches: Tensor) -> Tensor:
    """Each patch (last axis) by its own mean and unbiased variance, (x - mean) / sqrt(var + 1e-6):
    the target of CroCo's ``norm_pix_loss`` (two passes: 4x faster than torch.var_mean's Welford
    kernel on CPU)."""
    centred = patches - patches.mean(dim=-1, keepdim=True)
    var = centred.square().sum(dim=-1, keepdim=True) / (patches.shape[-1] - 1)
    return centred * (var + NORM_PIX_EPS).rsqrt()


def unpatchify(patches: Tensor, patch_size: int, grid: tuple[int, int]) -> Tensor:
    """Inverse of :func:`patchify`: (B, N, p*p*3) -> (B, 3, gh*p, gw*p)."""
    b = patches.shape[0]
    gh, gw = grid
    p = patch_size
    x = patches.reshape(b, gh, gw, p, p, 3).permute(0, 5, 1, 3, 2, 4)
    return x.reshape(b, 3, gh * p, gw * p)


def pool_patches(patches: Tensor, patch_size: int, factor: int) -> Tensor:
    """(..., p*p*3) patches as :func:`patchify` orders them -> (..., (p/f)*(p/f)*3), each f x f block
    of pixels averaged per channel (same (row, col, channel) order)."""
    p, f = patch_size, factor
    x = patches.reshape(*patches.shape[:-1], p // f, f, p // f, f, 3).mean(dim=(-4, -2))
    return x.reshape(*patches.shape[:-1], (p // f) * (p // f) * 3)


class PatchEmbed(nn.Module):
    """Non-overlapping p x p patches -> linear embedding (stored as a stride-p Conv2d, computed as a matmul)."""

    def __init__(self, patch_size: int, dim: int) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(3, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, img: Tensor, keep: Tensor | None = None) -> Tensor:
        """(B, N, dim) embeddings, or (B, N_keep, dim) of the patches where ``keep`` (B, N) is True.

        ``keep`` must select the same number of patches in every sample; only those are embedded.
        """
        b, c, h, w = img.shape
        p = self.patch_size
        # (B, N, c*p*p) in the conv weight's (channel, row, col) order: a matmul is faster than conv here
        x = img.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5).reshape(b, -1, c * p * p)
        if keep is not None:
            x = x[keep].view(b, -1 if b else 0, c * p * p)
        return F.linear(x, self.proj.weight.reshape(self.proj.out_channels, -1), self.proj.bias)


class CroCo(nn.Module):
    """The CroCo model; see the module docstring and docs/model.md."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        g = cfg.grid
        self.patch_embed = PatchEmbed(cfg.patch_size, cfg.enc_dim)
        self.enc_blocks = nn.ModuleList(
            EncoderBlock(cfg.enc_dim, cfg.enc_heads, cfg.mlp_ratio) for _ in range(cfg.enc_depth)
        )
        self.enc_norm = layer_norm(cfg.enc_dim)
        self.decoder_embed = nn.Linear(cfg.enc_dim, cfg.dec_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, cfg.dec_dim))
        self.dec_blocks = nn.ModuleList(
            DecoderBlock(cfg.dec_dim, cfg.dec_heads, cfg.mlp_ratio) for _ in range(cfg.dec_depth)
        )
        self.dec_norm = layer_norm(cfg.dec_dim)
        self.head = nn.Linear(cfg.dec_dim, cfg.patch_size * cfg.patch_size * 3)
        self.register_buffer("positions", grid_positions(g, g), persistent=False)
        if cfg.pos_embed == "cosine":
            self.register_buffer("enc_pos_embed", sincos_2d(cfg.enc_dim, g, g))
            self.register_buffer("dec_pos_embed", sincos_2d(cfg.dec_dim, g, g))
        else:
            self.enc_pos_embed = None
            self.dec_pos_embed = None
        self.reset_parameters()

    # ----------------------------------------------------------------------------------- basics
    def reset_parameters(self) -> None:
        """Xavier-uniform linears (and patch embedding), zero biases, LayerNorm (1, 0), mask token N(0, 0.02)."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        w = self.patch_embed.proj.weight
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.patch_embed.proj.bias)
        nn.init.normal_(self.mask_token, std=0.02)

    @property
    def patch_grid(self) -> tuple[int, int]:
        return (self.cfg.grid, self.cfg.grid)

    @property
    def num_patches(self) -> int:
        return self.cfg.num_patches

    def num_masked(self) -> int:
        """Patches hidden per sample: round(mask_ratio * N)."""
        return int(round(self.cfg.mask_ratio * self.num_patches))

    def random_mask(self, batch: int, generator: torch.Generator | None = None) -> Tensor:
        """(batch, N) bool, exactly :meth:`num_masked` True (hidden) per row, uniformly at random.

        Drawn on the generator's device if one is given, else on the model's device.
        """
        device = generator.device if generator is not None else self.positions.device
        noise = torch.rand(batch, self.num_patches, generator=generator, device=device)
        hidden = noise.argsort(dim=1)[:, : self.num_masked()]
        mask = torch.zeros(batch, self.num_patches, dtype=torch.bool, device=device)
        return mask.scatter_(1, hidden, True).to(self.positions.device)

    def _rope(self, positions: Tensor, dim: int, heads: int) -> tuple[Tensor, Tensor] | None:
        if self.cfg.pos_embed != "rope":
            return None
        return rope_tables(positions, dim // heads, self.cfg.rope_base)

    def _check_images(self, *imgs: Tensor) -> None:
        s = self.cfg.img_size
        for img in imgs:
            if img.dim() != 4 or tuple(img.shape[1:]) != (3, s, s):
                raise ValueError(f"expected images of shape (B, 3, {s}, {s}), got {tuple(img.shape)}")

    def _check_mask(self, mask: Tensor, batch: int) -> int:
        if mask.dtype != torch.bool or tuple(mask.shape) != (batch, self.num_patches):
            raise ValueError(f"mask must be bool (B, N) = ({batch}, {self.num_patches}), got {mask.dtype} {tuple(mask.shape)}")
        visible = (~mask).sum(dim=1)
        if batch and not bool((visible == visible[0]).all()):
            raise ValueError("mask must hide the same number of patches in every sample")
        return int(visible[0]) if batch else 0

    # ----------------------------------------------------------------------------------- encoder
    def encode(self, img: Tensor, mask: Tensor | None = None) -> Tensor:
        """Encoder tokens (B, N_visible, enc_dim) after the final norm; ``mask`` True = patch dropped."""
        self._check_images(img)
        b, n = img.shape[0], self.num_patches
        keep = None if mask is None else ~mask
        pos = self.positions
        if keep is not None:
            n_vis = self._check_mask(mask, b)
            pos = pos.expand(b, n, 2)[keep].view(b, n_vis, 2)
        x = self.patch_embed(img, keep)  # hidden patches are never embedded
        if self.enc_pos_embed is not None:
            pos_embed = self.enc_pos_embed.to(x.dtype)
            x = x + (pos_embed if keep is None else pos_embed.expand(b, n, -1)[keep].view(x.shape))
        rope = self._rope(pos, self.cfg.enc_dim, self.cfg.enc_heads)
        for blk in self.enc_blocks:
            x = blk(x, rope)
        return self.enc_norm(x)

    # ----------------------------------------------------------------------------------- decoder
    def decode(
        self, tgt_tokens: Tensor, mask: Tensor | None, src_tokens: Tensor, return_attention: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """Predicted patches (B, N, p*p*3) from visible target tokens and all source tokens.

        Returns the stacked cross-attention maps (L, B, H, N, N) too when ``return_attention`` (read
        by :class:`~slife.model.record.CrossAttentionRecorder`, which also gives the pre-softmax logits).
        """
        if return_attention:
            with CrossAttentionRecorder(self) as rec:
                pred, _ = self.decode(tgt_tokens, mask, src_tokens)
            return pred, rec.maps()
        x = self.decoder_embed(tgt_tokens)
        y = self.decoder_embed(src_tokens)
        b, _, d = x.shape
        if mask is not None:
            full = self.mask_token.to(x.dtype).expand(b, self.num_patches, d).clone()
            full[~mask] = x.reshape(-1, d)
            x = full
        if self.dec_pos_embed is not None:
            x = x + self.dec_pos_embed.to(x.dtype)
            y = y + self.dec_pos_embed.to(y.dtype)
        rope = self._rope(self.positions, self.cfg.dec_dim, self.cfg.dec_heads)
        for blk in self.dec_blocks:
            x = blk(x, y, rope, rope)
        return self.head(self.dec_norm(x)), None

    # ----------------------------------------------------------------------------------- model
    def forward(
        self, src: Tensor, tgt: Tensor, mask: Tensor | None = None, return_attention: bool = False
    ) -> CroCoOutput:
        """Reconstruct the hidden patches of ``tgt`` given ``src``.

        ``mask=None`` draws :meth:`random_mask`. Fused attention unless ``return_attention``, which
        records the decoder's cross-attention (explicit softmax path) and returns its maps for
        the given mask (use :meth:`cross_attention` for maps without masking).
        """
        self._check_images(src, tgt)
        if src.shape[0] != tgt.shape[0]:
            raise ValueError(f"src and tgt batch sizes differ: {src.shape[0]} vs {tgt.shape[0]}")
        if mask is None:
            mask = self.random_mask(tgt.shape[0])
        tgt_tokens = self.encode(tgt, mask)
        src_tokens = self.encode(src)
        pred, maps = self.decode(tgt_tokens, mask, src_tokens, return_attention)
        return CroCoOutput(pred=pred, mask=mask, cross_attention=maps)

    def loss(self, pred: Tensor, tgt: Tensor, mask: Tensor, pool: int = 1) -> Tensor:
        """Mean over hidden patches of the per-patch MSE against the target's pixels (float32).

        With ``norm_pix_loss`` each target patch is normalised by its own mean and (unbiased)
        variance: (x - mean) / sqrt(var + 1e-6). ``pool`` > 1 (a low-pass target [ours],
        ``data.pooled_target``): each p x p patch of the target and of the prediction is first
        average-pooled to (p/pool) x (p/pool) per channel, and the loss compares those (the target
        normalised after pooling); the head still predicts p x p. 1 = CroCo's loss, unchanged.
        """
        p = self.cfg.patch_size
        target = patchify(tgt, p)[mask].float()  # only hidden patches count
        hidden = pred[mask].float()
        if pool != 1:
            if pool < 1 or p % pool:
                raise ValueError(f"loss pool {pool} must be >= 1 and divide the patch size {p}")
            target, hidden = pool_patches(target, p, pool), pool_patches(hidden, p, pool)
        if self.cfg.norm_pix_loss:
            target = normalise_patches(target)
        if target.shape[0] == 0:
            return pred.float().sum() * 0.0
        return (hidden - target).pow(2).mean()

    def cross_attention(
        self, src: Tensor, tgt: Tensor, mask: Tensor | None = None, logits: bool = False,
        layers: Sequence[int] | None = None,
    ) -> Tensor:  # fmt: skip
        """The decoder's cross-attention (L, B, H, N_tgt, N_src), float32, for ``mask`` (None = target
        unmasked), recorded by hooks (:class:`~slife.model.record.CrossAttentionRecorder`).

        Softmax maps (rows sum to 1 over source patches), or with ``logits`` the pre-softmax
        q k^T / sqrt(d); ``layers`` picks decoder blocks (None = all, in order). Call under ``torch.no_grad()``.
        """
        if mask is None:
            mask = torch.zeros(tgt.shape[0], self.num_patches, dtype=torch.bool, device=tgt.device)
        with CrossAttentionRecorder(self, layers) as rec:
            self.forward(src, tgt, mask=mask)
        return rec.logits() if logits else rec.maps()
