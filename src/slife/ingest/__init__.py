"""Videos -> life: ``ingest_life(life_dir, videos, IngestConfig(...))`` and ``slife ingest``.

Heavy imports (PyAV) happen when the pipeline is used, not when this package is imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slife.ingest.config import IngestConfig
from slife.ingest.select import NearestSelector, select_frames, target_times

if TYPE_CHECKING:  # pragma: no cover
    from slife.ingest.pipeline import IngestReport, VideoResult, ingest_life, ingest_video
    from slife.ingest.video import VideoInputError

__all__ = [
    "IngestConfig",
    "IngestReport",
    "NearestSelector",
    "VideoInputError",
    "VideoResult",
    "ingest_life",
    "ingest_video",
    "select_frames",
    "target_times",
]

_LAZY = {
    "IngestReport": "slife.ingest.pipeline",
    "VideoResult": "slife.ingest.pipeline",
    "ingest_life": "slife.ingest.pipeline",
    "ingest_video": "slife.ingest.pipeline",
    "VideoInputError": "slife.ingest.video",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'slife.ingest' has no attribute {name!r}")
