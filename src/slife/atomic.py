"""Atomic file replacement: the one way slife writes a file a reader may open at any time.

The content goes to a hidden temp file in the same folder, is fsynced, then renamed over the target,
so readers see the old file or the new one, never a part. On any failure (disk full, permission
denied, an exception or Ctrl-C while writing) the temp file is removed and the old file is untouched.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from pathlib import Path
from typing import IO, Any, Iterator, Mapping


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "wb", encoding: str | None = None) -> Iterator[IO]:
    """``with atomic_open(p, "w", "utf-8") as fh: fh.write(...)`` replaces ``p`` when the block ends."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open: mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, mode, encoding=encoding if mode == "w" else None) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_open(path, "w", "utf-8") as fh:
        fh.write(text)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def finite_json(value: Any) -> Any:
    """``value`` with NaN / inf floats replaced by None (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    return value


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Atomic JSON write (NaN / inf as null), creating the folder."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(finite_json(data), indent=1) + "\n")
