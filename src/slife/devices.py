"""Device choice, in one place: ``auto`` is CUDA when available, else the CPU."""

from __future__ import annotations

import torch


def resolve_device(name: str | torch.device | None = "auto", local_rank: int | None = None) -> torch.device:
    """``None`` / ``"auto"`` -> ``cuda`` if available, else ``cpu``; a bare ``cuda`` under DDP becomes
    ``cuda:<local_rank>``."""
    if name is None or str(name) == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if local_rank is not None and device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
    return device
