"""Matchers: things that turn a TestSet into cross-attention maps (each target patch's weights over
the source patches: a soft match). "Source" is the view; a matcher makes the maps.

``matcher.attention(testset, per_layer=False)`` returns (P, N_tgt, N_src) maps averaged over decoder
layers and heads, or with ``per_layer=True`` (L, P, N_tgt, N_src) maps averaged over heads only.

- :class:`ModelMatcher` / :func:`checkpoint_matcher`: a CroCo model, run on every pair (eval mode,
  ``torch.no_grad``, batched) and read with a :class:`ReadProtocol`: ``unmasked`` (the whole target
  visible, ZeroCo's reading) or ``masked`` (rows of hidden target patches under training-ratio masks,
  averaged over several seeded masks). A checkpoint is loaded only while its maps are computed.
- :func:`random_init_matcher`: a freshly initialised model of a given config (seeded) - what a model
  that learned nothing attends to.
- :class:`IdentityMatcher`: every target patch attends to the source patch at the same grid position,
  what a model "aligns" to if the two views were identical.
- :class:`OracleMatcher`: attends to the ground-truth corresponding source patch (test sets with GT).
- :class:`PixelMatcher`: template matching in raw pixels, no learning: each target patch attends
  to the source patches nearest to it in mean absolute RGB difference (or, ``metric="ncc"``, most
  correlated with it). The null a learned matcher must beat: on pure translations it is exact.

Baseline maps [ours]: identity and oracle maps are softmax(-d^2) over the Euclidean grid distance d
to a peak patch (float64, so no score underflows). Their top-k sets are the peak, then the 4-neighbours
(d = 1), the diagonals (d = sqrt 2), ...; equal distances tie and the lower source index wins (the
stable sort of ``slife.align.cas``). They have one "layer" (L = 1); per-layer comparisons repeat it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from slife.align.testset import TestSet, TestSetError
from slife.errors import SlifeError
from slife.devices import resolve_device
from slife.run import RunDir


class Matcher(Protocol):
    name: str

    def attention(self, testset: TestSet, per_layer: bool = False) -> torch.Tensor: ...


PROTOCOLS = ("unmasked", "masked")
LOGITS = ("softmax", "pre-softmax")


def _indices(value: tuple[int, ...] | None, what: str) -> None:
    if value is None:
        return
    bad = [i for i in value if isinstance(i, bool) or not isinstance(i, int) or i < 0]
    if not value or len(set(value)) != len(value) or bad:
        raise SlifeError(f"reading protocol: {what} must be distinct non-negative indices (or all), got {list(value)}")


@dataclass(frozen=True)
class ReadProtocol:
    """How cross-attention maps are read from a model.

    - ``unmasked`` (ZeroCo's): the whole target is visible; every row is a visible patch's attention.
    - ``masked``: the target is masked at the model's training ratio, as in training, and each row is
      the attention of that patch *while hidden* (a mask-token query), averaged over ``masks`` random
      masks drawn from ``seed`` (the same masks for every model, so maps stay comparable). A patch
      never hidden by any of them (probability (1 - ratio)^masks) keeps a constant row (uniform).
    - ``logits``: ``softmax`` maps (default) or the ``pre-softmax`` query-key products q k^T / sqrt(d)
      (the paper's CAS); either is averaged over ``heads`` then ``layers``.
    - ``layers`` / ``heads``: which decoder blocks and heads (None = all).
    """

    name: str = "unmasked"
    masks: int = 8
    seed: int = 0
    logits: str = "softmax"
    layers: tuple[int, ...] | None = None
    heads: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.name not in PROTOCOLS:
            raise SlifeError(f"reading protocol must be one of {list(PROTOCOLS)}, got {self.name!r}")
        if self.masks < 1:
            raise SlifeError(f"reading protocol: masks must be >= 1, got {self.masks}")
        if self.logits not in LOGITS:
            raise SlifeError(f"reading protocol: logits must be one of {list(LOGITS)}, got {self.logits!r}")
        _indices(self.layers, "layers")
        _indices(self.heads, "heads")

    @property
    def label(self) -> str:
        parts = [self.name if self.name == "unmasked" else f"masked x{self.masks}"]
        if self.logits != "softmax":
            parts.append(self.logits)
        if self.layers is not None:
            parts.append("layers " + ",".join(map(str, self.layers)))
        if self.heads is not None:
            parts.append("heads " + ",".join(map(str, self.heads)))
        return ", ".join(parts)


UNMASKED = ReadProtocol("unmasked")


def protocol_masks(model: torch.nn.Module, pairs: int, protocol: ReadProtocol) -> torch.Tensor | None:
    """(masks, pairs, N) bool masks of the masked protocol (None for unmasked), CPU, from its seed."""
    if protocol.name == "unmasked":
        return None
    from slife.pairs.masking import random_masks

    gen = torch.Generator().manual_seed(protocol.seed)
    return random_masks((protocol.masks, pairs), model.num_patches, model.num_masked(), gen)


def _one_pass(model: torch.nn.Module, src: torch.Tensor, tgt: torch.Tensor, mask: torch.Tensor | None,
              protocol: ReadProtocol) -> torch.Tensor:  # fmt: skip
    """(L, B, Nt, Ns) maps of the chosen layers, averaged over the chosen heads, for one mask."""
    pre = protocol.logits == "pre-softmax"
    if protocol.layers is not None and max(protocol.layers) >= len(model.dec_blocks):
        raise SlifeError(f"reading protocol: layers {list(protocol.layers)} out of range "
                         f"(the model has {len(model.dec_blocks)} decoder layers)")  # fmt: skip
    attn = model.cross_attention(src, tgt, mask=mask, logits=pre, layers=protocol.layers).float()
    if protocol.heads is not None:
        heads = attn.shape[2]
        bad = [h for h in protocol.heads if h >= heads]
        if bad:
            raise SlifeError(f"reading protocol: heads {bad} out of range (the model has {heads} decoder heads)")
        attn = attn[:, :, list(protocol.heads)]
    return attn.mean(dim=2)


def _masked_rows(model: torch.nn.Module, src: torch.Tensor, tgt: torch.Tensor, masks: torch.Tensor,
                 protocol: ReadProtocol) -> torch.Tensor:  # fmt: skip
    """(L, B, Nt, Ns) head-averaged maps from the rows of hidden patches, averaged over ``masks`` (M, B, N)."""
    total, count = None, None
    for mask in masks.to(src.device):
        attn = _one_pass(model, src, tgt, mask, protocol)  # (L, B, Nt, Ns)
        hidden = mask[None, :, :, None].to(attn.dtype)
        total = attn * hidden if total is None else total + attn * hidden
        count = hidden if count is None else count + hidden
    n_src = total.shape[-1]
    fill = 1.0 / n_src if protocol.logits == "softmax" else 0.0  # a constant row: uniform either way
    return torch.where(count > 0, total / count.clamp(min=1), torch.full_like(total, fill))


def read_attention(
    model: torch.nn.Module,
    src: torch.Tensor,
    tgt: torch.Tensor,
    protocol: ReadProtocol = UNMASKED,
    masks: torch.Tensor | None = None,
) -> torch.Tensor:
    """Head-averaged cross-attention (L, B, Nt, Ns) float32 of one batch, read with ``protocol``
    (softmax maps or pre-softmax logits, of its layers and heads).

    ``masks`` (M, B, N): the masked protocol's masks for this batch (default: drawn from its seed for a
    batch of this size). Call under ``torch.no_grad()`` with the model in eval mode.
    """
    if protocol.name == "unmasked":
        return _one_pass(model, src, tgt, None, protocol)
    if masks is None:
        masks = protocol_masks(model, src.shape[0], protocol)
    return _masked_rows(model, src, tgt, masks, protocol)


def model_attention(
    model: torch.nn.Module,
    testset: TestSet,
    per_layer: bool = False,
    batch_size: int = 16,
    device: str | torch.device | None = None,
    who: str = "model",
    protocol: ReadProtocol = UNMASKED,
) -> torch.Tensor:
    """Head-averaged cross-attention of ``model`` on every pair: (P, Nt, Ns) or (L, P, Nt, Ns), float32 CPU,
    read with ``protocol`` (unmasked by default)."""
    from slife.imaging import to_tensor

    cfg = model.cfg
    testset.check_model(cfg.img_size, cfg.patch_size, who)
    dev = resolve_device(device)
    masks = protocol_masks(model, len(testset), protocol)
    was_training = model.training
    model.to(dev).eval()
    chunks = []
    try:
        with torch.no_grad():
            for start in range(0, len(testset), batch_size):
                sl = slice(start, start + batch_size)
                src = torch.stack([to_tensor(im) for im in testset.src[sl]]).to(dev)
                tgt = torch.stack([to_tensor(im) for im in testset.tgt[sl]]).to(dev)
                attn = read_attention(model, src, tgt, protocol, None if masks is None else masks[:, sl])
                chunks.append((attn if per_layer else attn.mean(dim=0)).cpu())
    finally:
        model.train(was_training)
    return torch.cat(chunks, dim=1 if per_layer else 0)


@dataclass
class ModelMatcher:
    """An in-memory model."""

    model: torch.nn.Module
    name: str = "model"
    batch_size: int = 16
    device: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    protocol: ReadProtocol = UNMASKED

    def attention(self, testset: TestSet, per_layer: bool = False) -> torch.Tensor:
        return model_attention(self.model, testset, per_layer, self.batch_size, self.device, self.name, self.protocol)


@dataclass
class CheckpointMatcher:
    """A checkpoint file, loaded only while computing maps (so many can be listed at once)."""

    path: Path
    name: str
    batch_size: int = 16
    device: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    protocol: ReadProtocol = UNMASKED

    def load(self) -> tuple[torch.nn.Module, dict[str, Any]]:
        from slife.model.checkpoint import load_model

        return load_model(self.path)

    def attention(self, testset: TestSet, per_layer: bool = False) -> torch.Tensor:
        model, _ = self.load()
        return model_attention(model, testset, per_layer, self.batch_size, self.device, f"checkpoint {self.path}",
                               self.protocol)


def matcher_name(run_or_file: str | Path) -> str:
    """A readable name: a run directory's name, or ``run/stem`` for a checkpoint inside a run."""
    p = Path(run_or_file)
    if p.is_dir():
        return p.resolve().name
    run = RunDir.of_checkpoint(p)
    if run is not None:
        return f"{run.path.resolve().name}/{p.stem}"
    return p.stem


def checkpoint_matcher(
    run_or_file: str | Path,
    name: str | None = None,
    batch_size: int = 16,
    device: str | None = None,
    protocol: ReadProtocol = UNMASKED,
) -> CheckpointMatcher:
    """A run directory (its ``last.pt``) or a checkpoint file as a matcher."""
    from slife.model.checkpoint import read_meta, resolve_checkpoint

    path = resolve_checkpoint(run_or_file)
    info = read_meta(path)
    meta = {"model_config": info.model_config, "hours_seen": info.hours_seen, "step": info.step, "life": info.life,
            "path": str(path)}  # fmt: skip
    return CheckpointMatcher(path, name or matcher_name(run_or_file), batch_size, device, meta, protocol)


def random_init_matcher(
    cfg: Any,
    seed: int = 0,
    name: str = "random-init",
    batch_size: int = 16,
    device: str | None = None,
    protocol: ReadProtocol = UNMASKED,
) -> ModelMatcher:
    """A freshly initialised CroCo of config ``cfg``; the global torch RNG is left untouched."""
    from slife.model.croco import CroCo

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CroCo(cfg)
    return ModelMatcher(model.eval(), name, batch_size, device, {"seed": seed}, protocol)


def grid_coords(grid: int) -> np.ndarray:
    """(N, 2) (row, col) of every patch, row-major."""
    rows, cols = np.divmod(np.arange(grid * grid), grid)
    return np.stack([rows, cols], axis=1)


def peaked_attention(peaks: np.ndarray, grid: int) -> torch.Tensor:
    """softmax(-d^2) maps (P, N, N) around source patch ``peaks`` (P, N) (float64)."""
    rc = torch.as_tensor(grid_coords(grid), dtype=torch.float64)  # (N, 2)
    table = torch.softmax(-((rc[:, None, :] - rc[None, :, :]) ** 2).sum(-1), dim=-1)  # (N, N): row = peak
    return table[torch.as_tensor(np.asarray(peaks), dtype=torch.long)]


@dataclass
class IdentityMatcher:
    """Attends to the source patch at the target patch's own grid position."""

    name: str = "identity"

    def attention(self, testset: TestSet, per_layer: bool = False) -> torch.Tensor:
        n = testset.num_patches
        peaks = np.tile(np.arange(n), (len(testset), 1))
        attn = peaked_attention(peaks, testset.grid)
        return attn.unsqueeze(0) if per_layer else attn


PIXEL_METRICS = ("ncc", "l1")


def image_patches(images: np.ndarray, patch_size: int) -> np.ndarray:
    """(P, S, S, C) images -> (P, N, patch_size * patch_size * C) float64 patch vectors, row-major grid."""
    p, s = patch_size, images.shape[1]
    g = s // p
    x = np.asarray(images, dtype=np.float64)[:, : g * p, : g * p]
    x = x.reshape(len(x), g, p, g, p, -1).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(len(x), g * g, -1)


def pixel_match_scores(src: np.ndarray, tgt: np.ndarray, patch_size: int, metric: str = "l1") -> torch.Tensor:
    """(P, N_tgt, N_src) float64 similarity of every target patch to every source patch in raw pixels.

    ``l1`` (default): minus the mean absolute RGB difference; ``ncc``: zero-mean normalised
    cross-correlation (invariant to gain and offset; a flat patch correlates 0 with everything).
    Every report carries both (``pixel-match`` and ``pixel-ncc``): ``l1`` is the stronger null on
    plain world pairs (GT within 1 on moving patches 0.457 vs 0.337, docs/results/world_real) and on
    sub-patch photo shifts, ``ncc`` where the views differ in exposure.
    """
    if metric not in PIXEL_METRICS:
        raise SlifeError(f"pixel matching: metric must be one of {list(PIXEL_METRICS)}, got {metric!r}")
    a = torch.as_tensor(image_patches(tgt, patch_size))
    b = torch.as_tensor(image_patches(src, patch_size))
    if metric == "l1":
        return -torch.cdist(a, b, p=1) / a.shape[-1]
    a = a - a.mean(dim=-1, keepdim=True)
    b = b - b.mean(dim=-1, keepdim=True)
    a = a / (a.norm(dim=-1, keepdim=True) + 1e-6)
    b = b / (b.norm(dim=-1, keepdim=True) + 1e-6)
    return a @ b.transpose(-1, -2)


@dataclass
class PixelMatcher:
    """Template matching in raw pixels (see :func:`pixel_match_scores`): no model, no learning."""

    name: str = "pixel-match"
    metric: str = "l1"

    def attention(self, testset: TestSet, per_layer: bool = False) -> torch.Tensor:
        attn = pixel_match_scores(testset.src, testset.tgt, testset.patch_size, self.metric)
        return attn.unsqueeze(0) if per_layer else attn


@dataclass
class OracleMatcher:
    """Attends to the true corresponding source patch (moved by ``shift`` = (rows, cols), wrapping
    around the grid; for tests). Target patches without ground truth fall back to the identity."""

    name: str = "ground-truth"
    shift: tuple[int, int] = (0, 0)

    def attention(self, testset: TestSet, per_layer: bool = False) -> torch.Tensor:
        if testset.gt is None:
            raise TestSetError(f"{testset.path or 'test set'}: has no ground truth (lives without depth + poses)")
        g, n = testset.grid, testset.num_patches
        row, col = np.divmod(testset.gt, g)
        shifted = ((row + self.shift[0]) % g) * g + (col + self.shift[1]) % g
        peaks = np.where(testset.gt >= 0, shifted, np.arange(n)[None, :])
        attn = peaked_attention(peaks, g)
        return attn.unsqueeze(0) if per_layer else attn


def attention_for_checkpoint(
    run_or_file: str | Path,
    testset: TestSet,
    per_layer: bool = False,
    batch_size: int = 16,
    device: str | None = None,
    protocol: ReadProtocol = UNMASKED,
) -> torch.Tensor:
    """Head-averaged cross-attention of a checkpoint (or a run's ``last.pt``) on a test set."""
    return checkpoint_matcher(run_or_file, batch_size=batch_size, device=device, protocol=protocol).attention(
        testset, per_layer
    )
