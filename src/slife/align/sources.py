"""Attention sources: things that turn a TestSet into cross-attention maps.

``source.attention(testset, per_layer=False)`` returns (P, N_tgt, N_src) maps averaged over decoder
layers and heads, or with ``per_layer=True`` (L, P, N_tgt, N_src) maps averaged over heads only.

- :class:`ModelSource` / :func:`checkpoint_source`: a CroCo model, run unmasked on every pair
  (eval mode, ``torch.no_grad``, batched). A checkpoint is loaded only while its maps are computed.
- :func:`random_init_source`: a freshly initialised model of a given config (seeded) - what a model
  that learned nothing attends to.
- :class:`IdentitySource`: every target patch attends to the source patch at the same grid position,
  what a model "aligns" to if the two views were identical.
- :class:`OracleSource`: attends to the ground-truth corresponding source patch (test sets with GT).

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


class AttentionSource(Protocol):
    name: str

    def attention(self, testset: TestSet, per_layer: bool = False) -> torch.Tensor: ...


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None``/``"auto"`` -> CUDA if available, else CPU."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def model_attention(
    model: torch.nn.Module,
    testset: TestSet,
    per_layer: bool = False,
    batch_size: int = 16,
    device: str | torch.device | None = None,
    who: str = "model",
) -> torch.Tensor:
    """Head-averaged cross-attention of ``model`` on every pair: (P, Nt, Ns) or (L, P, Nt, Ns), float32 CPU."""
    from slife.imaging import to_tensor

    cfg = model.cfg
    testset.check_model(cfg.img_size, cfg.patch_size, who)
    dev = resolve_device(device)
    was_training = model.training
    model.to(dev).eval()
    chunks = []
    try:
        with torch.no_grad():
            for start in range(0, len(testset), batch_size):
                sl = slice(start, start + batch_size)
                src = torch.stack([to_tensor(im) for im in testset.src[sl]]).to(dev)
                tgt = torch.stack([to_tensor(im) for im in testset.tgt[sl]]).to(dev)
                attn = model.cross_attention(src, tgt).float().mean(dim=2)  # (L, B, Nt, Ns)
                chunks.append((attn if per_layer else attn.mean(dim=0)).cpu())
    finally:
        model.train(was_training)
    return torch.cat(chunks, dim=1 if per_layer else 0)


@dataclass
class ModelSource:
    """An in-memory model."""

    model: torch.nn.Module
    name: str = "model"
    batch_size: int = 16
    device: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def attention(self, testset: TestSet, per_layer: bool = False) -> torch.Tensor:
        return model_attention(self.model, testset, per_layer, self.batch_size, self.device, self.name)


@dataclass
class CheckpointSource:
    """A checkpoint file, loaded only while computing maps (so many can be listed at once)."""

    path: Path
    name: str
    batch_size: int = 16
    device: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def load(self) -> tuple[torch.nn.Module, dict[str, Any]]:
        from slife.model.checkpoint import load_model

        return load_model(self.path)

    def attention(self, testset: TestSet, per_layer: bool = False) -> torch.Tensor:
        model, _ = self.load()
        return model_attention(model, testset, per_layer, self.batch_size, self.device, f"checkpoint {self.path}")


def source_name(run_or_file: str | Path) -> str:
    """A readable name: a run directory's name, or ``run/stem`` for a checkpoint inside a run."""
    p = Path(run_or_file)
    if p.is_dir():
        return p.resolve().name
    if p.parent.name == "checkpoints":
        return f"{p.parent.parent.resolve().name}/{p.stem}"
    return p.stem


def checkpoint_source(
    run_or_file: str | Path, name: str | None = None, batch_size: int = 16, device: str | None = None
) -> CheckpointSource:
    """A run directory (its ``last.pt``) or a checkpoint file as an attention source."""
    from slife.model.checkpoint import read_checkpoint, resolve_checkpoint

    path = resolve_checkpoint(run_or_file)
    payload = read_checkpoint(path)
    meta = {k: payload.get(k) for k in ("model_config", "hours_seen", "step", "life")}
    meta["path"] = str(path)
    return CheckpointSource(path, name or source_name(run_or_file), batch_size, device, meta)


def random_init_source(
    cfg: Any, seed: int = 0, name: str = "random-init", batch_size: int = 16, device: str | None = None
) -> ModelSource:
    """A freshly initialised CroCo of config ``cfg``; the global torch RNG is left untouched."""
    from slife.model.croco import CroCo

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CroCo(cfg)
    return ModelSource(model.eval(), name, batch_size, device, {"seed": seed})


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
class IdentitySource:
    """Attends to the source patch at the target patch's own grid position."""

    name: str = "identity"

    def attention(self, testset: TestSet, per_layer: bool = False) -> torch.Tensor:
        n = testset.num_patches
        peaks = np.tile(np.arange(n), (len(testset), 1))
        attn = peaked_attention(peaks, testset.grid)
        return attn.unsqueeze(0) if per_layer else attn


@dataclass
class OracleSource:
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
) -> torch.Tensor:
    """Head-averaged cross-attention of a checkpoint (or a run's ``last.pt``) on a test set."""
    return checkpoint_source(run_or_file, batch_size=batch_size, device=device).attention(testset, per_layer)
