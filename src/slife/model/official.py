"""Convert official CroCo checkpoint files (v1 ``CroCo.pth``, v2 ``CroCo_V2_*.pth``) into our model.

An official file is a ``torch.save`` dict with ``model`` (the state dict) and, for v2, ``croco_kwargs``
(the constructor arguments: ``img_size``, ``patch_size``, ``enc_embed_dim``, ``enc_depth``,
``enc_num_heads``, ``dec_embed_dim``, ``dec_depth``, ``dec_num_heads``, ``mlp_ratio``,
``pos_embed`` = ``"cosine"`` or ``"RoPE100"``, ...). v1 files store the fixed sin-cos tables as the
buffers ``enc_pos_embed``/``dec_pos_embed``. Sizes are read from the tensor shapes; head counts (which
shapes do not reveal) from ``croco_kwargs`` or, failing that, CroCo's defaults (12 encoder heads for
768-d, 16 decoder heads for 512-d, else 64 channels per head) [ours].
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor

from slife.errors import SlifeError
from slife.model.config import ModelConfig
from slife.model.croco import CroCo

# official name -> our name, applied to the part after "dec_blocks.<i>." (encoder names are identical)
_DEC_RENAMES = {
    "attn.qkv": "self_attn.qkv",
    "attn.proj": "self_attn.proj",
    "cross_attn.projq": "cross_attn.q",
    "cross_attn.projk": "cross_attn.k",
    "cross_attn.projv": "cross_attn.v",
    "norm2": "norm_cross",
    "norm3": "norm_mlp",
}
_TOP_RENAMES = {"prediction_head": "head"}
_DEC_KEY = re.compile(r"^dec_blocks\.(\d+)\.(.+)\.(weight|bias)$")


class OfficialCheckpointError(SlifeError):
    """An official CroCo checkpoint cannot be read or does not fit the CroCo architecture."""


def official_to_ours(key: str) -> str:
    """Our parameter name for an official CroCo state-dict key."""
    m = _DEC_KEY.match(key)
    if m:
        idx, module, kind = m.groups()
        for old, new in _DEC_RENAMES.items():
            if module == old:
                module = new
                break
        return f"dec_blocks.{idx}.{module}.{kind}"
    head, _, rest = key.partition(".")
    if head in _TOP_RENAMES:
        return f"{_TOP_RENAMES[head]}.{rest}" if rest else _TOP_RENAMES[head]
    return key


def ours_to_official(key: str) -> str:
    """Inverse of :func:`official_to_ours`."""
    m = _DEC_KEY.match(key)
    if m:
        idx, module, kind = m.groups()
        for old, new in _DEC_RENAMES.items():
            if module == new:
                module = old
                break
        return f"dec_blocks.{idx}.{module}.{kind}"
    head, _, rest = key.partition(".")
    for old, new in _TOP_RENAMES.items():
        if head == new:
            return f"{old}.{rest}" if rest else old
    return key


def to_official_state_dict(model: CroCo) -> dict[str, Tensor]:
    """Our model's weights under official CroCo key names (e.g. for the functional reference)."""
    return {ours_to_official(k): v for k, v in model.state_dict().items()}


def _count_blocks(sd: Mapping[str, Tensor], prefix: str) -> int:
    idx = {int(k.split(".")[1]) for k in sd if k.startswith(prefix + ".")}
    return max(idx) + 1 if idx else 0


def official_config(sd: Mapping[str, Tensor], croco_kwargs: Mapping[str, Any] | None = None, where: str = "state dict") -> ModelConfig:
    """Our :class:`ModelConfig` for an official state dict (shapes) and its ``croco_kwargs``."""
    kw = dict(croco_kwargs or {})
    need = ["patch_embed.proj.weight", "decoder_embed.weight", "enc_blocks.0.mlp.fc1.weight", "prediction_head.weight"]
    missing = [k for k in need if k not in sd]
    if missing:
        raise OfficialCheckpointError(f"{where}: not a CroCo state dict (missing {missing})")
    pw = sd["patch_embed.proj.weight"]
    enc_dim, patch = int(pw.shape[0]), int(pw.shape[-1])
    dec_dim = int(sd["decoder_embed.weight"].shape[0])
    mlp_ratio = sd["enc_blocks.0.mlp.fc1.weight"].shape[0] / enc_dim
    pos = str(kw.get("pos_embed", "cosine" if "enc_pos_embed" in sd else "RoPE100"))
    if pos == "cosine":
        pos_embed, rope_base = "cosine", 100.0
    elif pos.startswith("RoPE"):
        pos_embed, rope_base = "rope", float(pos[4:] or 100.0)
    else:
        raise OfficialCheckpointError(f"{where}: unsupported pos_embed {pos!r} (expected 'cosine' or 'RoPE<base>')")
    if "enc_pos_embed" in sd:
        img_size = int(round(math.sqrt(sd["enc_pos_embed"].shape[0]))) * patch
    else:
        img_size = kw.get("img_size", 224)
        img_size = int(img_size[0] if isinstance(img_size, (tuple, list)) else img_size)
    if not kw.get("norm_im2_in_dec", True):
        raise OfficialCheckpointError(f"{where}: norm_im2_in_dec=False checkpoints are not supported")
    for name, value in (("enc_embed_dim", enc_dim), ("dec_embed_dim", dec_dim), ("patch_size", patch)):
        if name in kw and int(kw[name]) != value:
            raise OfficialCheckpointError(f"{where}: croco_kwargs {name}={kw[name]} but the weights have {value}")
    enc_heads = int(kw.get("enc_num_heads", 12 if enc_dim == 768 else max(1, enc_dim // 64)))
    dec_heads = int(kw.get("dec_num_heads", 16 if dec_dim == 512 else max(1, dec_dim // 64)))
    try:
        return ModelConfig(
            img_size=img_size,
            patch_size=patch,
            enc_dim=enc_dim,
            enc_depth=_count_blocks(sd, "enc_blocks"),
            enc_heads=enc_heads,
            dec_dim=dec_dim,
            dec_depth=_count_blocks(sd, "dec_blocks"),
            dec_heads=dec_heads,
            mlp_ratio=float(mlp_ratio),
            mask_ratio=float(kw.get("mask_ratio", 0.9)),
            pos_embed=pos_embed,
            rope_base=rope_base,
        )
    except SlifeError as exc:
        raise OfficialCheckpointError(f"{where}: {exc}") from exc


def _read(path: Path) -> Any:
    if not path.is_file():
        raise OfficialCheckpointError(f"{path}: checkpoint file not found")
    try:
        if hasattr(torch.serialization, "safe_globals"):  # torch >= 2.5
            with torch.serialization.safe_globals([argparse.Namespace]):
                return torch.load(path, map_location="cpu", weights_only=True)
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt / foreign files
        raise OfficialCheckpointError(f"{path}: cannot read checkpoint: {exc}") from exc


def load_official_croco(path_or_state_dict: str | Path | Mapping[str, Any]) -> CroCo:
    """Our :class:`CroCo` (eval mode, CPU) holding the weights of an official CroCo v1/v2 checkpoint.

    Accepts a file path, a loaded checkpoint dict (``{"model": ..., "croco_kwargs": ...}``) or a bare
    state dict. Strict: any missing, unexpected or mis-shaped key raises
    :class:`OfficialCheckpointError` naming the file.
    """
    if isinstance(path_or_state_dict, (str, Path)):
        where = str(path_or_state_dict)
        payload = _read(Path(path_or_state_dict))
    else:
        where = "<state dict>"
        payload = path_or_state_dict
    if not isinstance(payload, Mapping):
        raise OfficialCheckpointError(f"{where}: expected a dict, got {type(payload).__name__}")
    if "model" in payload and isinstance(payload["model"], Mapping):
        sd, kwargs = payload["model"], payload.get("croco_kwargs")
    else:
        sd, kwargs = payload, None
    sd = {(k[7:] if k.startswith("module.") else k): v for k, v in sd.items()}
    bad = [k for k, v in sd.items() if not isinstance(v, Tensor)]
    if bad:
        raise OfficialCheckpointError(f"{where}: non-tensor entries in the state dict: {bad[:5]}")
    cfg = official_config(sd, kwargs if isinstance(kwargs, Mapping) else None, where)
    model = CroCo(cfg)
    ours = model.state_dict()
    converted = {official_to_ours(k): v for k, v in sd.items()}
    missing = sorted(set(ours) - set(converted))
    unexpected = sorted(ours_to_official(k) for k in set(converted) - set(ours))
    wrong = sorted(
        f"{ours_to_official(k)} {tuple(converted[k].shape)} (expected {tuple(v.shape)})"
        for k, v in ours.items()
        if k in converted and converted[k].shape != v.shape
    )
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing keys {[ours_to_official(k) for k in missing]}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected}")
        if wrong:
            parts.append(f"wrong shapes {wrong}")
        raise OfficialCheckpointError(f"{where}: does not fit a CroCo model ({cfg}): " + "; ".join(parts))
    model.load_state_dict({k: v.float() for k, v in converted.items()})
    return model.eval()
