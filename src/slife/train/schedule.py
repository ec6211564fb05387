"""Pure schedules of a run: learning rate per step, the streamed window of the life, milestones.

Streaming ("hours of video seen"): at step s of S (0-based), the frames with global timestamp
<= T(s) = life.seconds * min(1, (s + 1) / (stream_fraction * S)) are visible and pairs are drawn
inside them; hours_seen(s) = T(s) / 3600 (raised to the last visible frame's timestamp where the
window had to be widened to hold a first valid pair). ``stream_fraction = 0`` shows the whole life
from step 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from slife.model.checkpoint import milestone_name

_EPS = 1e-9


def lr_at(step: int, total: int, peak: float, warmup: int, min_lr: float = 0.0) -> float:
    """Learning rate used for optimiser step ``step`` (0-based): linear warmup then half-cosine.

    Warmup: peak * (step + 1) / warmup for step < warmup. Then
    min_lr + (peak - min_lr) * (1 + cos(pi * (step - warmup) / (total - warmup))) / 2.
    """
    if step < warmup:
        return peak * (step + 1) / warmup
    span = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / span)
    return min_lr + (peak - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def visible_seconds(total_seconds: float, steps: int, stream_fraction: float) -> np.ndarray:
    """T(s) for s = 0 .. steps-1 (seconds of the life visible at each step)."""
    if stream_fraction <= 0:
        return np.full(steps, float(total_seconds))
    s = np.arange(steps, dtype=np.float64)
    return total_seconds * np.minimum(1.0, (s + 1) / (stream_fraction * steps))


@dataclass
class Stream:
    ends: np.ndarray  # (S,) int64: frames [0, end) visible at each step
    seconds: np.ndarray  # (S,) float: seconds of video seen at each step

    @property
    def hours(self) -> np.ndarray:
        return self.seconds / 3600.0


def stream(timestamps: np.ndarray, total_seconds: float, steps: int, stream_fraction: float, min_end: int) -> Stream:
    """Visible prefix per step, widened to at least ``min_end`` frames (the sampler's first valid pair)."""
    t = visible_seconds(total_seconds, steps, stream_fraction)
    ends = np.searchsorted(timestamps, t + _EPS, side="right").astype(np.int64)
    ends = np.maximum(ends, min(int(min_end), len(timestamps)))
    widened = np.asarray(timestamps)[ends - 1] if len(timestamps) else np.zeros(steps)
    return Stream(ends=ends, seconds=np.maximum(t, widened))


@dataclass
class MilestonePlan:
    hours: list[float]  # intermediate milestones (written at the first step with hours_seen >= h)
    final: float  # the life's full length, written at the end of training
    skipped: list[float]  # milestones longer than the life

    def names(self) -> list[str]:
        return [milestone_name(h) for h in self.hours] + [milestone_name(self.final)]


def plan_milestones(milestones: list[float], life_hours: float, streaming: bool) -> MilestonePlan:
    """Split requested milestones into reachable ones, skipped ones, and the final one (life length)."""
    wanted = sorted(set(float(h) for h in milestones))
    final = float(life_hours)
    inner = [h for h in wanted if h < final * (1 - 1e-9)]
    skipped = [h for h in wanted if h > final * (1 + 1e-9)]
    if not streaming:  # without streaming every step has seen the whole life
        inner = []
    return MilestonePlan(hours=inner, final=final, skipped=skipped)


def first_steps(hours_seen: np.ndarray, milestones: list[float]) -> dict[float, int]:
    """For each milestone, the first step (0-based) with hours_seen >= h."""
    out = {}
    for h in milestones:
        idx = int(np.searchsorted(hours_seen, h - _EPS, side="left"))
        if idx < len(hours_seen):
            out[h] = idx
    return out
