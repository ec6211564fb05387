"""Opening ``.npz`` files someone else made (test sets, a life's shard indexes, pair caches): the shapes
and types its arrays declare are read from their headers and checked against a cap before any array
is decompressed. A few MB of deflated zeros can otherwise claim gigabytes of memory."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

MAX_NPZ_BYTES = 2 << 30  # the default cap: the arrays of one file, decompressed


def npz_headers(path: str | Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """``{array name: (shape, dtype)}`` of an ``.npz`` file, from the headers only (ValueError if a
    member is not a ``.npy`` array; zipfile errors for a damaged archive)."""
    out: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            with zf.open(info) as fh:
                version = np.lib.format.read_magic(fh)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
                else:
                    raise ValueError(f"{info.filename}: .npy version {version} not supported")
            out[info.filename.removesuffix(".npy")] = (tuple(int(s) for s in shape), np.dtype(dtype))
    return out


def load_npz(path: str | Path, max_bytes: int = MAX_NPZ_BYTES) -> Any:
    """``np.load(path, allow_pickle=False)`` once the arrays' declared sizes sum to at most
    ``max_bytes`` (ValueError naming the size otherwise); use it as a context manager like np.load."""
    headers = npz_headers(path)
    declared = sum(math.prod(shape) * dtype.itemsize for shape, dtype in headers.values())
    if declared > max_bytes:
        raise ValueError(f"its arrays declare {declared / 2**20:.0f} MiB, above slife's limit of {max_bytes / 2**20:.0f} MiB")
    return np.load(path, allow_pickle=False)
