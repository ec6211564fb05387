"""Device choice, in one place: ``auto`` is CUDA when available, else the CPU."""

from __future__ import annotations

import torch


def resolve_device(name: str | torch.device | None = "auto", local_rank: int | None = None) -> torch.device:
    """``None`` / ``"auto"`` -> ``cuda`` if available, else ``cpu``; a bare ``cuda`` under DDP becomes
    ``cuda:<local_rank>``."""
    from slife.errors import SlifeError

    if name is None or str(name) == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as exc:
        raise SlifeError(f"device {str(name)!r}: not a device (use auto, cpu, cuda or cuda:N)") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SlifeError(f"device {str(name)!r}: CUDA is not available on this machine (this torch: "
                         f"{'no CUDA build' if torch.version.cuda is None else 'no GPU visible'}); use auto or cpu")  # fmt: skip
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise SlifeError(f"device {str(name)!r}: this machine has {torch.cuda.device_count()} GPU(s)")
    if device.type not in ("cpu", "cuda"):
        raise SlifeError(f"device {str(name)!r}: slife runs on cpu or cuda")
    if local_rank is not None and device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
    return device
