"""CroCo model configuration: one dataclass and the named sizes.

``tiny`` is our CPU size [ours]; ``small``/``base``/``large`` follow ViT-S/B/L encoders with CroCo's
decoders (``base`` = ViT-B/16 encoder + 512-d x 8 decoder, the paper's model; ``large`` = CroCo v2's
ViT-L/16 encoder + 768-d x 12 decoder).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from slife.errors import SlifeError

POS_EMBEDS = ("rope", "cosine")
# Bounds checked before a model is built (configs and checkpoints are untrusted: a crafted size must not
# allocate hundreds of GB). ``large`` has ~0.4e9 parameters.
MAX_IMG_SIZE = 4096
MAX_DIM = 8192
MAX_DEPTH = 256
MAX_MLP_RATIO = 64.0
MAX_PARAMS = 4_000_000_000


@dataclass
class ModelConfig:
    """Sizes and options of a CroCo model (defaults = ``tiny``)."""

    img_size: int = 128
    patch_size: int = 16
    enc_dim: int = 128
    enc_depth: int = 4
    enc_heads: int = 4
    dec_dim: int = 128
    dec_depth: int = 2
    dec_heads: int = 4
    mlp_ratio: float = 4.0
    mask_ratio: float = 0.9
    pos_embed: str = "rope"  # "rope" (CroCo v2, 2D RoPE on q/k) or "cosine" (v1, additive 2D sin-cos)
    rope_base: float = 100.0
    norm_pix_loss: bool = True

    def __post_init__(self) -> None:
        problems = validate(self)
        if problems:
            raise SlifeError("model config: " + "; ".join(problems))

    @property
    def grid(self) -> int:
        """Patches per side."""
        return self.img_size // self.patch_size

    @property
    def num_patches(self) -> int:
        return self.grid * self.grid


def validate(cfg: ModelConfig) -> list[str]:
    """Human-readable problems with a config (empty when valid)."""
    problems = []
    ints = ("img_size", "patch_size", "enc_dim", "enc_depth", "enc_heads", "dec_dim", "dec_depth", "dec_heads")
    for name in ints:
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{name} must be an integer, got {value!r}")
        elif value <= 0:
            problems.append(f"{name} must be positive, got {value}")
    for name in ("mlp_ratio", "mask_ratio", "rope_base"):
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            problems.append(f"{name} must be a finite number, got {value!r}")
    if problems:
        return problems
    limits = {"img_size": MAX_IMG_SIZE, "enc_dim": MAX_DIM, "dec_dim": MAX_DIM, "enc_depth": MAX_DEPTH,
              "dec_depth": MAX_DEPTH, "mlp_ratio": MAX_MLP_RATIO}  # fmt: skip
    problems += [f"{name} {getattr(cfg, name)} is above slife's limit {limit}" for name, limit in limits.items()
                 if getattr(cfg, name) > limit]  # fmt: skip
    if not problems and param_estimate(cfg) > MAX_PARAMS:
        problems.append(f"~{param_estimate(cfg):.3g} parameters, above slife's limit {MAX_PARAMS:.3g}")
    if problems:
        return problems
    if cfg.img_size % cfg.patch_size:
        problems.append(f"img_size {cfg.img_size} is not a multiple of patch_size {cfg.patch_size}")
    if cfg.pos_embed not in POS_EMBEDS:
        problems.append(f"pos_embed must be one of {list(POS_EMBEDS)}, got {cfg.pos_embed!r}")
    for prefix in ("enc", "dec"):
        dim, heads = getattr(cfg, f"{prefix}_dim"), getattr(cfg, f"{prefix}_heads")
        if dim % heads:
            problems.append(f"{prefix}_dim {dim} is not divisible by {prefix}_heads {heads}")
        elif cfg.pos_embed == "rope" and (dim // heads) % 4:
            problems.append(f"2D RoPE needs {prefix} head dim divisible by 4, got {dim // heads}")
        if cfg.pos_embed == "cosine" and dim % 4:
            problems.append(f"2D sin-cos embedding needs {prefix}_dim divisible by 4, got {dim}")
    if not 0.0 <= cfg.mask_ratio < 1.0:
        problems.append(f"mask_ratio must be in [0, 1), got {cfg.mask_ratio}")
    if cfg.mlp_ratio <= 0:
        problems.append(f"mlp_ratio must be positive, got {cfg.mlp_ratio}")
    if cfg.rope_base <= 0:
        problems.append(f"rope_base must be positive, got {cfg.rope_base}")
    return problems


def param_estimate(cfg: ModelConfig) -> int:
    """Parameters of ``CroCo(cfg)`` to within a few percent (without building it): transformer blocks,
    patch embedding and prediction head."""
    hidden = lambda dim: int(dim * cfg.mlp_ratio)  # noqa: E731
    enc = cfg.enc_depth * (4 * cfg.enc_dim**2 + 2 * cfg.enc_dim * hidden(cfg.enc_dim))
    dec = cfg.dec_depth * (8 * cfg.dec_dim**2 + 2 * cfg.dec_dim * hidden(cfg.dec_dim))
    patch = 3 * cfg.patch_size**2
    return enc + dec + patch * (cfg.enc_dim + cfg.dec_dim) + cfg.enc_dim * cfg.dec_dim


SIZES: dict[str, dict[str, Any]] = {
    # [ours] CPU size: 128 px, 8x8 patches of 16 px; see docs/model.md for the step time on 2 cores.
    "tiny": dict(img_size=128, enc_dim=128, enc_depth=4, enc_heads=4, dec_dim=128, dec_depth=2, dec_heads=4),
    # ViT-S/16 encoder, CroCo's small decoder at ViT-S width.
    "small": dict(img_size=224, enc_dim=384, enc_depth=12, enc_heads=6, dec_dim=256, dec_depth=8, dec_heads=8),
    # The paper's: ViT-B/16 encoder + 512x8 decoder with 16 heads.
    "base": dict(img_size=224, enc_dim=768, enc_depth=12, enc_heads=12, dec_dim=512, dec_depth=8, dec_heads=16),
    # CroCo v2 large: ViT-L/16 encoder + 768x12 decoder ("base decoder").
    "large": dict(img_size=224, enc_dim=1024, enc_depth=24, enc_heads=16, dec_dim=768, dec_depth=12, dec_heads=12),
}


def model_config(size: str = "tiny", **overrides: Any) -> ModelConfig:
    """The named size (``tiny``, ``small``, ``base``, ``large``) with field overrides."""
    if size not in SIZES:
        raise SlifeError(f"model size: unknown size {size!r}; known: {sorted(SIZES)}")
    from slife.config import from_dict

    fields = {f.name for f in dataclasses.fields(ModelConfig)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise SlifeError(f"model size {size!r}: unknown field(s) {unknown}; known: {sorted(fields)}")
    return from_dict(ModelConfig, {**SIZES[size], **overrides}, f"model size {size!r}")  # types, finite floats
