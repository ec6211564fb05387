"""CroCo: cross-view completion with a Siamese ViT encoder and a cross-attending decoder.

The target image is masked (``mask_ratio`` of its patches hidden, random per sample); the encoder
sees only its visible patches (at their true grid positions) and, separately with the same weights,
the whole source image. The decoder projects both streams to its width, fills the hidden target
positions with a learned mask token, and runs blocks of self-attention over the target, cross-attention
from target to the (never updated) source tokens, and an MLP. A linear head predicts each patch's
pixels; the loss is the MSE on hidden patches against per-patch normalised pixels.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from slife.model.config import ModelConfig
from slife.model.layers import DecoderBlock, EncoderBlock, layer_norm
from slife.model.posenc import grid_positions, rope_tables, sincos_2d
from slife.model.record import CrossAttentionRecorder
from slife.pairs.masking import num_masked, random_masks

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


def take(x: Tensor, index: Tensor) -> Tensor:
    """Rows ``index`` (B, K) of every sample of ``x`` (B, N, ...) -> (B, K, ...): a gather, so the shape
    is fixed by the index tensor (no boolean indexing, no host sync; what ``torch.compile`` needs)."""
    idx = index.view(*index.shape, *([1] * (x.dim() - 2))).expand(*index.shape, *x.shape[2:])
    return x.gather(1, idx)


def mask_indices(mask: Tensor, hidden: int) -> tuple[Tensor, Tensor]:
    """Index tensors (visible (B, N - hidden), hidden (B, hidden)) of a (B, N) bool mask (True = hidden)
    that hides exactly ``hidden`` patches per row, each ascending (the order of ``x[~mask]``, ``x[mask]``).

    A stable sort of the mask, no host sync: ``take(x, visible)`` equals ``x[~mask].view(B, -1, ...)``.
    """
    order = mask.to(torch.uint8).argsort(dim=1, stable=True)
    n_vis = mask.shape[1] - hidden
    return order[:, :n_vis], order[:, n_vis:]


class PatchEmbed(nn.Module):
    """Non-overlapping p x p patches -> linear embedding (stored as a stride-p Conv2d, computed as a matmul)."""

    def __init__(self, patch_size: int, dim: int) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(3, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, img: Tensor, keep: Tensor | None = None) -> Tensor:
        """(B, N, dim) embeddings, or (B, K, dim) of the patches at indices ``keep`` (B, K) only."""
        b, c, h, w = img.shape
        p = self.patch_size
        # (B, N, c*p*p) in the conv weight's (channel, row, col) order: a matmul is faster than conv here
        x = img.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5).reshape(b, -1, c * p * p)
        if keep is not None:
            x = take(x, keep)
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
        if cfg.pos_embed == "rope":  # RoPE tables of the whole grid, built once (no trig in the step)
            for part, dim, heads in (("enc", cfg.enc_dim, cfg.enc_heads), ("dec", cfg.dec_dim, cfg.dec_heads)):
                cos, sin = rope_tables(self.positions, dim // heads, cfg.rope_base)
                self.register_buffer(f"{part}_rope_cos", cos, persistent=False)
                self.register_buffer(f"{part}_rope_sin", sin, persistent=False)
        if cfg.pos_embed == "cosine":
            self.register_buffer("enc_pos_embed", sincos_2d(cfg.enc_dim, g, g))
            self.register_buffer("dec_pos_embed", sincos_2d(cfg.dec_dim, g, g))
        else:
            self.enc_pos_embed = None
            self.dec_pos_embed = None
        self._compiled: dict[str, Callable[..., Tensor]] = {}  # use_compile: compiled _forward and _loss
        self.reset_parameters()

    # ----------------------------------------------------------------------------------- compile
    def use_compile(self, enabled: bool = True, **options: Any) -> None:
        """Run :meth:`forward` and :meth:`loss` through ``torch.compile``d copies of their fixed-shape
        cores (``options`` go to ``torch.compile``); ``False`` goes back to eager.

        It compiles the training step: passes without gradients (evaluation) and passes while a
        :class:`~slife.model.record.CrossAttentionRecorder` is recording (the explicit attention path its
        hooks read) run the eager cores, so they never recompile. The mask checks stay eager, in front.
        If compiling or running a compiled core fails, a warning is given and the model runs eager
        from then on.
        """
        self._compiled = {name: torch.compile(getattr(self, name), dynamic=False, **options)
                          for name in ("_forward", "_loss")} if enabled else {}  # fmt: skip

    @property
    def compiled(self) -> bool:
        """True while :meth:`use_compile` is on (and has not fallen back to eager)."""
        return bool(self._compiled)

    def _recording(self) -> bool:
        return any(blk.cross_attn.scores.hooked for blk in self.dec_blocks)

    def _call(self, name: str, *args: Any) -> Tensor:
        """The core ``name`` (``_forward`` or ``_loss``), compiled when :meth:`use_compile` is on."""
        fn = self._compiled.get(name)
        if fn is None or not torch.is_grad_enabled() or self._recording():
            return getattr(self, name)(*args)
        try:
            return fn(*args)
        except Exception as exc:  # a genuine error in the inputs raises again from the eager core below
            warnings.warn(f"torch.compile of CroCo failed, running eager: {type(exc).__name__}: {exc}", stacklevel=3)
            self._compiled = {}
            return getattr(self, name)(*args)

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
        """Patches hidden per sample: round(mask_ratio * N) (slife.pairs.masking.num_masked)."""
        return num_masked(self.num_patches, self.cfg.mask_ratio)

    def random_mask(self, batch: int, generator: torch.Generator | None = None) -> Tensor:
        """(batch, N) bool, exactly :meth:`num_masked` True (hidden) per row, uniformly at random
        (slife.pairs.masking.random_masks).

        Drawn on the generator's device if one is given, else on the model's device.
        """
        device = generator.device if generator is not None else self.positions.device
        return random_masks((batch,), self.num_patches, self.num_masked(), generator, device).to(self.positions.device)

    def _rope(self, positions: Tensor, dim: int, heads: int) -> tuple[Tensor, Tensor] | None:
        """RoPE tables for any ``positions`` (..., 2) and width ``dim`` with ``heads`` heads; None without RoPE."""
        if self.cfg.pos_embed != "rope":
            return None
        return rope_tables(positions, dim // heads, self.cfg.rope_base)

    def _rope_tables(self, part: str, index: Tensor | None = None) -> tuple[Tensor, Tensor] | None:
        """RoPE tables (cos, sin) of the encoder or decoder (``part``) for every patch (N, D), or for
        the patches at ``index`` (B, K) -> (B, K, D); None without RoPE."""
        if self.cfg.pos_embed != "rope":
            return None
        cos, sin = getattr(self, f"{part}_rope_cos").float(), getattr(self, f"{part}_rope_sin").float()
        return (cos, sin) if index is None else (cos[index], sin[index])

    def _check_images(self, *imgs: Tensor) -> None:
        s = self.cfg.img_size
        for img in imgs:
            if img.dim() != 4 or tuple(img.shape[1:]) != (3, s, s):
                raise ValueError(f"expected images of shape (B, 3, {s}, {s}), got {tuple(img.shape)}")

    def _check_mask(self, mask: Tensor, batch: int) -> int:
        """The number of patches ``mask`` hides per row, the same in every row (one host sync)."""
        if mask.dtype != torch.bool or tuple(mask.shape) != (batch, self.num_patches):
            raise ValueError(f"mask must be bool (B, N) = ({batch}, {self.num_patches}), got {mask.dtype} {tuple(mask.shape)}")
        if not batch:
            return 0
        counts = mask.sum(dim=1)
        lo, hi = torch.stack([counts.min(), counts.max()]).tolist()
        if lo != hi:
            raise ValueError("mask must hide the same number of patches in every sample")
        return int(lo)

    # ----------------------------------------------------------------------------------- encoder
    def encode(self, img: Tensor, mask: Tensor | None = None) -> Tensor:
        """Encoder tokens (B, N_visible, enc_dim) after the final norm; ``mask`` True = patch dropped."""
        self._check_images(img)
        visible = None if mask is None else mask_indices(mask, self._check_mask(mask, img.shape[0]))[0]
        return self._encode(img, visible)

    def _encode(self, img: Tensor, visible: Tensor | None) -> Tensor:
        """:meth:`encode` of the patches at indices ``visible`` (B, K) (None = all), at their grid positions."""
        x = self.patch_embed(img, visible)  # hidden patches are never embedded
        if self.enc_pos_embed is not None:
            pos_embed = self.enc_pos_embed.to(x.dtype)
            x = x + (pos_embed if visible is None else pos_embed[visible])
        rope = self._rope_tables("enc", visible)
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
        visible = None if mask is None else mask_indices(mask, self._check_mask(mask, tgt_tokens.shape[0]))[0]
        if return_attention:
            with CrossAttentionRecorder(self) as rec:
                pred = self._decode(tgt_tokens, visible, src_tokens)
            return pred, rec.maps()
        return self._decode(tgt_tokens, visible, src_tokens), None

    def _decode(self, tgt_tokens: Tensor, visible: Tensor | None, src_tokens: Tensor) -> Tensor:
        """:meth:`decode` with the visible target tokens at indices ``visible`` (B, K) (None = all)."""
        x = self.decoder_embed(tgt_tokens)
        y = self.decoder_embed(src_tokens)
        b, _, d = x.shape
        if visible is not None:  # mask tokens everywhere, the visible tokens scattered to their places
            full = self.mask_token.to(x.dtype).expand(b, self.num_patches, d)
            x = full.scatter(1, visible[..., None].expand(-1, -1, d), x)
        if self.dec_pos_embed is not None:
            x = x + self.dec_pos_embed.to(x.dtype)
            y = y + self.dec_pos_embed.to(y.dtype)
        rope = self._rope_tables("dec")
        for blk in self.dec_blocks:
            x = blk(x, y, rope, rope)
        return self.head(self.dec_norm(x))

    # ----------------------------------------------------------------------------------- model
    def forward(
        self, src: Tensor, tgt: Tensor, mask: Tensor | None = None, return_attention: bool = False
    ) -> CroCoOutput:
        """Reconstruct the hidden patches of ``tgt`` given ``src``.

        ``mask=None`` draws :meth:`random_mask`. Fused attention unless ``return_attention``, which
        records the decoder's cross-attention (explicit softmax path) and returns its maps for
        the given mask (use :meth:`cross_attention` for maps without masking). The mask is checked
        here (one host sync) and turned into index tensors; what follows has fixed shapes and is
        what :meth:`use_compile` compiles.
        """
        self._check_images(src, tgt)
        if src.shape[0] != tgt.shape[0]:
            raise ValueError(f"src and tgt batch sizes differ: {src.shape[0]} vs {tgt.shape[0]}")
        if mask is None:
            mask, hidden = self.random_mask(tgt.shape[0]), self.num_masked()
        else:
            hidden = self._check_mask(mask, tgt.shape[0])
        if return_attention:
            with CrossAttentionRecorder(self) as rec:
                pred = self._forward(src, tgt, mask, hidden)
            return CroCoOutput(pred=pred, mask=mask, cross_attention=rec.maps())
        return CroCoOutput(pred=self._call("_forward", src, tgt, mask, hidden), mask=mask)

    def _forward(self, src: Tensor, tgt: Tensor, mask: Tensor, hidden: int) -> Tensor:
        """Predictions (B, N, p*p*3) for a mask hiding ``hidden`` patches per row: fixed shapes, no host sync."""
        visible = mask_indices(mask, hidden)[0]
        return self._decode(self._encode(tgt, visible), visible, self._encode(src, None))

    def loss(self, pred: Tensor, tgt: Tensor, mask: Tensor, pool: int = 1) -> Tensor:
        """Mean over hidden patches of the per-patch MSE against the target's pixels (float32).

        With ``norm_pix_loss`` each target patch is normalised by its own mean and (unbiased)
        variance: (x - mean) / sqrt(var + 1e-6). ``pool`` > 1 (a low-pass target [ours],
        ``data.pooled_target``): each p x p patch of the target and of the prediction is first
        average-pooled to (p/pool) x (p/pool) per channel, and the loss compares those (the target
        normalised after pooling); the head still predicts p x p. 1 = CroCo's loss, unchanged.
        ``mask`` must hide the same number of patches in every row (as every mask of the model does).
        """
        p = self.cfg.patch_size
        if pool != 1 and (pool < 1 or p % pool):
            raise ValueError(f"loss pool {pool} must be >= 1 and divide the patch size {p}")
        hidden = self._check_mask(mask, tgt.shape[0])
        if hidden == 0:
            return pred.float().sum() * 0.0
        return self._call("_loss", pred, tgt, mask, hidden, pool)

    def _loss(self, pred: Tensor, tgt: Tensor, mask: Tensor, hidden: int, pool: int) -> Tensor:
        """:meth:`loss` for a mask hiding ``hidden`` > 0 patches per row: fixed shapes, no host sync."""
        p = self.cfg.patch_size
        index = mask_indices(mask, hidden)[1]  # only hidden patches count, in the order of x[mask]
        target = take(patchify(tgt, p), index).flatten(0, 1).float()
        predicted = take(pred, index).flatten(0, 1).float()
        if pool != 1:
            target, predicted = pool_patches(target, p, pool), pool_patches(predicted, p, pool)
        if self.cfg.norm_pix_loss:
            target = normalise_patches(target)
        return (predicted - target).pow(2).mean()

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
