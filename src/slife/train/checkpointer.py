"""When training saves, and where: the save rules of a run in one place.

- *Milestones*: ``checkpoints/hours_<h>.pt`` (weights only) after the first step whose samples have
  seen ``h`` hours of video (``milestone_step``); the final milestone when the last step is done.
- *Periodic*: ``last.pt`` (the full state) every ``every_steps`` steps and/or ``every_minutes``.
- *At the end* of a call, and when a signal stopped it: ``last.pt``.

What goes into a file is the caller's ``payload(step, full)``; this class only decides.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from slife.model.checkpoint import milestone_name, save_checkpoint
from slife.run import RunDir

PayloadFn = Callable[[int, bool], dict[str, Any]]


class Checkpointer:
    def __init__(self, run: RunDir, payload: PayloadFn, milestone_step: dict[float, int], final_hours: float,
                 total: int, every_steps: int = 0, every_minutes: float = 0.0, done: set[float] | None = None,
                 clock: Callable[[], float] = time.time, save: Callable[[Path, dict[str, Any]], None] = save_checkpoint) -> None:  # fmt: skip
        self.run, self.payload = run, payload
        self.milestone_step, self.final_hours, self.total = dict(milestone_step), final_hours, total
        self.every_steps, self.every_minutes = every_steps, every_minutes
        self.done: set[float] = set(done or ())
        self.clock, self._save = clock, save
        self._t_saved = clock()
        self.written: list[Path] = []

    def _write(self, path: Path, step: int, full: bool) -> None:
        self._save(path, self.payload(step, full))
        self.written.append(path)

    def after_step(self, step: int, hours: float, end_step: int) -> list[dict[str, Any]]:
        """Save what is due after ``step`` (1-based) steps; returns the log events of milestones."""
        events = []
        for h in sorted(self.milestone_step):
            if h not in self.done and step - 1 >= self.milestone_step[h]:
                self._write(self.run.checkpoint_dir / f"{milestone_name(h)}.pt", step, full=False)
                self.done.add(h)
                events.append({"event": "checkpoint", "name": milestone_name(h), "step": step, "hours_seen": hours})
        by_steps = self.every_steps > 0 and step % self.every_steps == 0
        by_time = self.every_minutes > 0 and self.clock() - self._t_saved >= 60 * self.every_minutes
        if (by_steps or by_time) and step < end_step:
            self._write(self.run.last, step, full=True)
            self._t_saved = self.clock()
        return events

    def finish(self, step: int, start: int, hours: float) -> list[dict[str, Any]]:
        """At the end of a call (finished, stopped or ``stop_after``): the final milestone if the run is
        complete, and ``last.pt`` unless nothing happened since it was written."""
        events = []
        if step > start or not self.run.last.is_file():
            if step == self.total and self.final_hours not in self.done:
                self.done.add(self.final_hours)
                self._write(self.run.checkpoint_dir / f"{milestone_name(self.final_hours)}.pt", step, full=False)
                events.append({"event": "checkpoint", "name": milestone_name(self.final_hours), "step": step,
                               "hours_seen": hours})  # fmt: skip
            self._write(self.run.last, step, full=True)
        return events
