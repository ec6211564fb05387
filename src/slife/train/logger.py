"""A run's training output in one place: ``log.jsonl`` records, TensorBoard scalars and the progress
bar. Rank 0 writes; other ranks get a silent logger (``enabled=False``)."""

from __future__ import annotations

import json
import time
from typing import Any, Callable

from slife.run import RunDir

SCALARS = ("loss", "lr", "hours_seen", "pairs_per_s")


def truncate_log(run: RunDir, step: int) -> None:
    """Drop log lines of steps after ``step`` (written by a run killed after its last save)."""
    if not run.log_file.is_file():
        return
    keep = [rec for rec in run.read_log() if rec.get("step", 0) <= step]
    run.log_file.write_text("".join(json.dumps(rec) + "\n" for rec in keep), encoding="utf-8")


class TrainLogger:
    """Per step: the progress bar; every ``log_every`` steps (and at ``end_step``): one JSONL record
    with the mean loss of the window and the pairs/s it ran at, the same scalars to TensorBoard."""

    def __init__(self, run: RunDir, start: int, total: int, end_step: int, global_batch: int, log_every: int,
                 tensorboard: bool, progress: bool, enabled: bool = True,
                 clock: Callable[[], float] = time.perf_counter) -> None:  # fmt: skip
        from tqdm import tqdm

        self.end_step, self.global_batch, self.log_every = end_step, global_batch, log_every
        self.enabled, self.clock = enabled, clock
        self.t_start = clock()
        self._win_t, self._win_steps, self._win_loss = clock(), 0, 0.0
        self._fh, self._tb = None, None
        if enabled:
            truncate_log(run, start)
            self._fh = open(run.log_file, "a", encoding="utf-8")
            if tensorboard:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(run.tb_dir), purge_step=start)
        self.bar = tqdm(total=total, initial=start, disable=not (progress and enabled), unit="step", dynamic_ncols=True)

    def event(self, record: dict[str, Any]) -> None:
        """A JSONL record as is (start, resume, checkpoint, stopped, diverged)."""
        if self._fh is not None:
            self._fh.write(json.dumps(record) + "\n")
            self._fh.flush()

    def step(self, step: int, loss: float, lr: float, hours: float) -> dict[str, Any] | None:
        """Account one finished step; returns the record when one is written."""
        self.bar.update(1)
        self._win_steps += 1
        self._win_loss += loss
        if not self.enabled or (step % self.log_every and step != self.end_step):
            return None
        now = self.clock()
        rate = self._win_steps * self.global_batch / max(now - self._win_t, 1e-9)
        record = {"step": step, "loss": self._win_loss / self._win_steps, "lr": lr, "hours_seen": hours,
                  "pairs_seen": step * self.global_batch, "pairs_per_s": rate, "elapsed_s": now - self.t_start}  # fmt: skip
        self.event(record)
        if self._tb is not None:
            for key in SCALARS:
                self._tb.add_scalar(f"train/{key}", record[key], step)
        self.bar.set_postfix(loss=f"{record['loss']:.4f}", pairs_s=f"{rate:.1f}", h=f"{hours:.3g}", refresh=False)
        self._win_t, self._win_steps, self._win_loss = now, 0, 0.0
        return record

    def close(self) -> None:
        self.bar.close()
        if self._tb is not None:
            self._tb.close()
        if self._fh is not None:
            self._fh.close()
            self._fh = None
