"""A life's frames resident on the training device, and training batches cut there.

For lives that fit (a 38 h life at 2 fps and 256 px is ~70 GB of uint8: it fits an H200), every frame
is decoded and resized once per short side the batches need, into one uint8 tensor on the device.
A batch is then drawn exactly as on the CPU (:meth:`PairBatches.draw`: the same recipe of frames,
crops, jitter and masks, a pure function of the seed and the sample number; with ``aligned_crops`` also
of the frames, which :meth:`ResidentFrames.image` hands back exactly as the CPU path decodes them) and cut, jittered and
normalised on the device in one batched pass, so nothing is decoded or copied per step. Resume and
DDP equivalence hold as on the CPU path; the pixels agree with it to one grey level (float32
rounding of the jitter, tested).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from slife.imaging import to_tensors
from slife.pairs.augment import read_resized

_GRAY = (0.299, 0.587, 0.114)


class ResidentFrames:
    """All frames of ``life`` resized to each short side in ``sides``, as (N, H, W, 3) uint8 on
    ``device`` (padded to the largest frame of the life; ``dims`` holds each frame's real size)."""

    def __init__(self, life: Any, sides: Sequence[int], device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.frames: dict[int, torch.Tensor] = {}
        self.dims: dict[int, np.ndarray] = {}
        for side in sorted(set(int(s) for s in sides)):
            images = [read_resized(life, i, side) for i in range(len(life))]
            dims = np.array([im.shape[:2] for im in images], dtype=np.int64)
            h, w = dims.max(axis=0)
            store = torch.zeros((len(images), int(h), int(w), 3), dtype=torch.uint8, device=self.device)
            for i, im in enumerate(images):
                store[i, : im.shape[0], : im.shape[1]] = torch.from_numpy(im).to(self.device)
            self.frames[side], self.dims[side] = store, dims

    @property
    def nbytes(self) -> int:
        return sum(t.numel() for t in self.frames.values())

    def frame_dims(self, i: int, side: int) -> tuple[int, int]:
        h, w = self.dims[side][i]
        return int(h), int(w)

    def image(self, i: int, side: int) -> np.ndarray:
        """Frame ``i`` at short side ``side`` as the CPU path decodes it (uint8 H x W x 3, a host copy;
        for :meth:`PairBatches.draw` with ``aligned_crops``)."""
        h, w = self.frame_dims(i, side)
        return self.frames[side][i, :h, :w].cpu().numpy()

    def cut(self, views: Sequence[Any], size: int) -> torch.Tensor:
        """(B, size, size, 3) uint8 crops of the views, jittered like slife.pairs.augment.apply_jitter."""
        out = torch.empty((len(views), size, size, 3), dtype=torch.uint8, device=self.device)
        ar = torch.arange(size, device=self.device)
        for side in {v.side for v in views}:
            idx = [j for j, v in enumerate(views) if v.side == side]
            f = torch.tensor([views[j].frame for j in idx], device=self.device)
            y = torch.tensor([views[j].y for j in idx], device=self.device)
            x = torch.tensor([views[j].x for j in idx], device=self.device)
            rows = (y[:, None] + ar)[:, :, None]
            cols = (x[:, None] + ar)[:, None, :]
            out[idx] = self.frames[side][f[:, None, None], rows, cols]
        jit = [j for j, v in enumerate(views) if v.jitter is not None]
        if jit:
            out[jit] = jitter_batch(out[jit], torch.tensor([views[j].jitter for j in jit], dtype=torch.float32,
                                                           device=self.device))  # fmt: skip
        return out

    def batch(self, recipes: Sequence[Any], size: int, step: int) -> dict[str, Any]:
        """The training batch of ``recipes`` (as PairBatches returns it, tensors on the device)."""
        return {
            "src": to_tensors(self.cut([r.src for r in recipes], size)),
            "tgt": to_tensors(self.cut([r.tgt for r in recipes], size)),
            "mask": torch.from_numpy(np.stack([r.mask for r in recipes])).to(self.device),
            "pairs": torch.tensor([(r.src.frame, r.tgt.frame) for r in recipes], dtype=torch.int64),
            "step": step,
        }


def jitter_batch(images: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """apply_jitter on a batch: (B, H, W, 3) uint8 and (B, 3) factors (b, c, s) -> uint8."""
    x = images.float()
    b, c, s = (factors[:, k].view(-1, 1, 1) for k in range(3))
    gray = x @ torch.tensor(_GRAY, dtype=torch.float32, device=x.device)
    m = b * gray.mean(dim=(1, 2), keepdim=True)
    offset = gray * ((1 - s) * c * b) + ((1 - c) * m + 0.5)
    out = x * (s * c * b)[..., None] + offset[..., None]
    return out.clamp_(0, 255).to(torch.uint8)

