"""What was asked of a rendered life, and whether its output folder already holds exactly that: the
request checks and resumable-output rules every world renderer (places, controls, screen, dead leaves)
shares."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from slife.config import to_dict
from slife.errors import SlifeError
from slife.life import read_manifest
from slife.world.config import WorldConfig

MAX_MINUTES = 6000.0  # 100 hours: longer than the paper's longest lives (30-38 h); the walk is planned up front


def check_render_args(minutes: float, fps: float, size: int) -> None:
    """Refuse a length, frame rate or frame size outside what the renderers support."""
    if not 0 < minutes <= MAX_MINUTES:
        raise SlifeError(f"--minutes {minutes}: must be in (0, {MAX_MINUTES:g}] (100 hours)")
    if not 0 < fps <= 60:
        raise SlifeError(f"--fps {fps}: must be in (0, 60]")
    if not 32 <= size <= 2048:
        raise SlifeError(f"--size {size}: must be in [32, 2048]")


def normalise_request(request: dict[str, Any]) -> dict[str, Any]:
    """The request as it reads back from a life's JSON (tuples become lists, ...)."""
    return json.loads(json.dumps(request))


def _with_config_defaults(old: Any, request: dict[str, Any]) -> Any:
    """``old`` (a request read from a life) with WorldConfig fields it predates set to their defaults:
    a new field's default reproduces the frames rendered before it existed, so such a life is the same."""
    if not (isinstance(old, dict) and isinstance(old.get("config"), dict) and isinstance(request.get("config"), dict)):
        return old
    defaults = normalise_request(to_dict(WorldConfig()))
    missing = {k: defaults[k] for k in request["config"] if k not in old["config"] and k in defaults}
    return {**old, "config": {**old["config"], **missing}} if missing else old


def prepare_output(out: Path, request: dict[str, Any]) -> set[int]:
    """Orders of videos already written by an identical request; refuse anything else in ``out``."""
    manifest = read_manifest(out)
    if manifest is None:
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise SlifeError(f"{out}: exists and is not an empty directory or a life; refusing to write into it")
        return set()
    old = _with_config_defaults(manifest.meta.get("request"), request)
    if old != request:
        what = f"{old.get('life')} seed {old.get('seed')}" if isinstance(old, dict) else f"a {manifest.kind} life"
        raise SlifeError(
            f"{out}: already holds a different life ({what}, {len(manifest.videos)} videos); refusing to "
            f"overwrite it: choose another directory or delete this one"
        )
    return {v.order for v in manifest.videos}


def split_frames(total: int, rng: np.random.Generator, lo: float, hi: float) -> list[int]:
    """Split ``total`` frames into chunks of [lo, hi] frames; a rest shorter than ``lo`` joins the last
    chunk (so chunks are at most ``hi + lo``; a ``total`` below ``lo`` is one chunk)."""
    parts: list[int] = []
    left = total
    while left > 0:
        n = max(1, int(round(rng.uniform(lo, hi))))
        if left - n < max(1.0, lo):
            n = left
        parts.append(n)
        left -= n
    return parts
