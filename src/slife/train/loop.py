"""Per-life CroCo training: ``train(life_dir, run_dir, cfg) -> TrainResult``.

One model per life, from random init. Data are streamed through the life in order (see
slife.train.schedule), milestone checkpoints are written at hours of video seen, ``last.pt`` holds the
full training state so that a killed run resumes exactly, and every sample is a pure function of
(seed, sample number), which also makes DDP ranks disjoint (slife.pairs.dataset).

The shape of MAE's engine: :func:`setup_run` builds everything once (a :class:`Setup`) from small
named pieces (:func:`open_life`, :func:`prepare_run_dir`, :func:`pair_sampler`, :func:`plan_budget`,
:func:`training_state`, :func:`announce`), slife.train.step is the one optimiser step (shared with
slife diagnose), and ``_train`` is the loop around them; what a checkpoint holds and how a run resumes
is slife.train.state's, when to save slife.train.checkpointer's decision, what is logged
slife.train.logger's; a run's file names are slife.run's.
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, NoReturn

import numpy as np
import torch
from torch import nn

from slife.config import save_config, to_dict
from slife.errors import SlifeError
from slife.life import Life
from slife.model.checkpoint import read_meta, remove_stale_temp_files
from slife.run import RunDir
from slife.train.config import MAX_STEPS, TrainConfig
from slife.train.distributed import DistContext, max_over_ranks, mean_over_ranks, setup
from slife.train.optim import build_optimizer, peak_lr, warmup_steps
from slife.train.precision import autocast_dtype
from slife.train.schedule import MilestonePlan, Stream, first_steps, lr_at, plan_milestones, stream
from slife.train.checkpointer import Checkpointer
from slife.train.compiling import compile_for_training
from slife.train.logger import TrainLogger
from slife.train.signals import TrainingStopped, stop_on_signals
from slife.train.state import TrainingState, resumable
from slife.train.step import NonFiniteLoss, Stepper


class TrainingDiverged(SlifeError):
    """The loss became NaN or infinite; the message names the step and the last good checkpoint."""


@dataclass
class TrainResult:
    run_dir: Path
    steps: int  # optimiser steps done (in total, including before a resume)
    total_steps: int
    pairs_seen: int
    hours_seen: float
    final_loss: float  # loss of the last step (mean over ranks)
    pairs_per_s: float  # training throughput of this call (all ranks together)
    elapsed_s: float
    checkpoints: list[Path]  # files written by this call
    resumed_from: int  # step this call started at (0 = fresh)
    model: nn.Module | None = field(default=None, repr=False)  # the trained model (eval mode, unwrapped)


def _archive(run_dir: Path) -> Path | None:
    """Move an existing run's files into ``run_dir/previous-<time>/`` (nothing is deleted)."""
    items = [p for p in RunDir(run_dir).training_files() if p.exists()]
    if not items:
        return None
    dest = run_dir / time.strftime("previous-%Y%m%d-%H%M%S")
    k = 1
    while dest.exists():
        dest = run_dir / f"{time.strftime('previous-%Y%m%d-%H%M%S')}-{k}"
        k += 1
    dest.mkdir(parents=True)
    for item in items:
        shutil.move(str(item), str(dest / item.name))
    return dest


def _note(msg: str, ctx: DistContext) -> None:
    if ctx.is_main:
        from tqdm import tqdm

        tqdm.write(f"slife train: {msg}", file=sys.stderr)


def train(
    life_dir: str | Path,
    run_dir: str | Path,
    cfg: TrainConfig,
    progress: bool = True,
    force: bool = False,
    stop_after: int | None = None,
) -> TrainResult:
    """Train one CroCo model on one life; resumes from ``run_dir/checkpoints/last.pt`` if present.

    ``force`` starts over in a run directory holding a different run (its files are moved to
    ``previous-<time>/``). ``stop_after`` stops (saving ``last.pt``) once that many steps are done, as if
    the run had been killed; calling again resumes. Under ``torchrun`` each process calls this.
    """
    from slife.locking import DirLock
    from slife.train.threads import torch_threads

    ctx = setup(cfg.device)
    lock = DirLock(run_dir, "slife train") if ctx.is_main else None  # one writer per run directory
    try:
        if lock is not None:
            _make_dir(Path(run_dir))
            lock.acquire()
        with torch_threads(cfg.threads):
            return _train(Path(life_dir), Path(run_dir), cfg, ctx, progress, force, stop_after)
    finally:
        if lock is not None:
            lock.release()
        ctx.close()


def _make_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SlifeError(f"{path}: cannot create the run directory: {exc.strerror}") from exc


@dataclass
class Setup:
    """Everything a training call works with, built once by :func:`setup_run`."""

    cfg: TrainConfig
    ctx: DistContext
    run: RunDir
    life: Life
    model: nn.Module
    state: TrainingState  # what the checkpoints are made of (model, optimiser, scaler, loss of the last step)
    stepper: Stepper  # the one optimiser step (the model wrapped for DDP, optimiser, precision, clipping)
    loader: Any
    hours: np.ndarray  # hours of video seen after each step
    total: int
    start: int
    end_step: int
    peak: float
    warmup: int
    global_batch: int
    checkpointer: Checkpointer
    logger: TrainLogger


@dataclass(frozen=True)
class Budget:
    """How much of the life a run sees and in how many steps."""

    span_s: float  # seconds of the life the run may see: all of it, or its first data.prefix_hours
    total: int  # optimiser steps
    global_batch: int  # pairs per step over all ranks
    streamed: Stream  # frames visible and hours seen per step
    plan: MilestonePlan

    @property
    def span_h(self) -> float:
        return self.span_s / 3600.0


def open_life(life_dir: Path) -> Life:
    """The life to train on (at least two frames)."""
    life = Life.open(life_dir)
    if len(life) < 2:
        raise SlifeError(f"{life_dir}: the life has {len(life)} frame(s); training needs at least 2")
    return life


def prepare_run_dir(run: RunDir, cfg: TrainConfig, ctx: DistContext, fresh: bool) -> None:
    """Rank 0: move a previous run aside when starting ``fresh``, clear a killed save's temp files and
    write ``config.yaml``."""
    if not ctx.is_main:
        return
    if fresh:
        moved = _archive(run.path) if run.path.exists() else None
        if moved is not None:
            _note(f"previous run in {run.path} moved to {moved}", ctx)
    run.checkpoint_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(run.checkpoint_dir)  # left by a killed save; we hold the run's lock
    save_config(cfg, run.config_file)


def pair_sampler(life: Life, cfg: TrainConfig, ctx: DistContext, progress: bool) -> Any:
    """The pair sampler of ``data``; rank 0 builds (and caches) the spatial index, the others wait for it."""
    from slife.pairs.config import build_sampler

    sampler = build_sampler(life, cfg.data, progress=progress) if ctx.is_main else None
    ctx.barrier()
    return sampler if sampler is not None else build_sampler(life, cfg.data)


def plan_budget(life: Life, cfg: TrainConfig, ctx: DistContext, min_end: int) -> Budget:
    """Steps, the streamed window per step and the milestones of a run on ``life``."""
    global_batch = cfg.batch_size * ctx.world_size
    span_s = life.seconds if cfg.data.prefix_hours <= 0 else min(life.seconds, cfg.data.prefix_hours * 3600.0)
    span_h = span_s / 3600.0
    total = cfg.steps if cfg.steps > 0 else max(1, math.ceil(cfg.pairs_per_hour * span_h / global_batch))
    if total > MAX_STEPS:
        raise SlifeError(f"{life.dir}: pairs_per_hour {cfg.pairs_per_hour:g} on {span_h:.4g} h makes {total} steps, "
                         f"more than the {MAX_STEPS} slife allows")  # fmt: skip
    strm = stream(life.timestamps, span_s, total, cfg.data.stream_fraction, min_end)
    plan = plan_milestones(cfg.milestones, span_h, streaming=cfg.data.stream_fraction > 0)
    if plan.skipped:
        _note(f"milestones {plan.skipped} h are longer than the {'prefix' if span_s < life.seconds else 'life'} "
              f"({span_h:.4g} h): skipped", ctx)
    return Budget(span_s, total, global_batch, strm, plan)


def training_state(life: Life, cfg: TrainConfig, mcfg: Any, ctx: DistContext, budget: Budget) -> TrainingState:
    """A fresh model of ``mcfg`` (seeded from ``cfg.seed``), its optimiser and grad scaler."""
    from slife.model.croco import CroCo

    peak = peak_lr(cfg.optim, budget.global_batch)
    warmup = warmup_steps(cfg.optim, budget.total)
    torch.manual_seed(cfg.seed)
    model = CroCo(mcfg).to(ctx.device)
    optimizer = build_optimizer(model, cfg.optim, peak)
    scaler = torch.amp.GradScaler("cuda", enabled=autocast_dtype(cfg.precision, ctx.device) == torch.float16)
    return TrainingState(model, optimizer, scaler, mcfg, to_dict(cfg), life, budget.streamed.hours,
                         budget.global_batch, budget.total, warmup, peak, ctx.world_size)  # fmt: skip


def announce(st: Setup, sampler: Any, budget: Budget, compiled: bool, threads: int) -> None:
    """Rank 0: the ``start`` / ``resume`` log event and the one-line summary of the run."""
    cfg, ctx, life, sh = st.cfg, st.ctx, st.life, st.cfg.data.shifted
    parts = getattr(sampler, "samplers", [sampler])  # the kinds actually drawn (auto may drop spatial)
    weights = dict(zip((p.name for p in parts), getattr(sampler, "weights", [1.0]))) if len(parts) > 1 else {sampler.name: 1.0}
    weights = {k: float(v) for k, v in weights.items()}
    if not ctx.is_main:
        return
    amp_dtype = autocast_dtype(cfg.precision, ctx.device)
    st.logger.event({"event": "start" if st.start == 0 else "resume", "step": st.start, "total_steps": st.total,
                     "life": life.name, "life_hours": life.hours, "prefix_hours": budget.span_h, "pairs": weights,
                     "shifted": {"warmup": sh.warmup, "share": sh.share}, "global_batch": st.global_batch,
                     "peak_lr": st.peak, "world_size": ctx.world_size, "device": str(ctx.device), "amp": str(amp_dtype),
                     "threads": threads, "compile": compiled})  # fmt: skip
    _note(
        f"{life.name}: {life.hours:.4g} h, {len(life)} frames"
        + (f" (first {budget.span_h:.4g} h only)" if budget.span_s < life.seconds else "")
        + f"; {st.total} steps x {st.global_batch} pairs "
        f"({'+'.join(f'{k} {v:g}' for k, v in weights.items())}{'; ' + sh.describe() if sh.on else ''}); model {cfg.model.size}; {ctx.device}"
        + (f"; resuming at step {st.start}" if st.start else ""),
        ctx,
    )


def setup_run(life_dir: Path, run_dir: Path, cfg: TrainConfig, ctx: DistContext, progress: bool, force: bool,
              stop_after: int | None) -> Setup:  # fmt: skip
    """Open the life, resume or start the run directory, build model, optimiser, data, checkpointer, logger."""
    from slife.model.config import model_config

    threads = torch.get_num_threads()  # set by train() from cfg.threads
    life = open_life(life_dir)
    run = RunDir(run_dir)
    mcfg = model_config(cfg.model.size, **cfg.model.overrides)  # a bad model config is refused before any write
    payload = resumable(run, to_dict(cfg), life, force)
    prepare_run_dir(run, cfg, ctx, fresh=payload is None)
    sampler = pair_sampler(life, cfg, ctx, progress)
    budget = plan_budget(life, cfg, ctx, sampler.min_end)
    state = training_state(life, cfg, mcfg, ctx, budget)
    start, done = 0, set()
    if payload is not None:
        resumed = state.resume(payload, run.last)
        start, done = resumed.step, resumed.milestones_done
        if resumed.world_size != ctx.world_size:
            _note(f"resuming a run from {resumed.world_size} process(es) on {ctx.world_size}", ctx)
    end_step = budget.total if stop_after is None else max(start, min(budget.total, int(stop_after)))
    model, amp_dtype = state.model, autocast_dtype(cfg.precision, ctx.device)
    compiled = compile_for_training(model, cfg.model.compile, cfg.batch_size, amp_dtype, end_step - start, cfg.data.pooled_target)
    if compiled.enabled:
        _note(f"model compiled ({compiled.reason}; {compiled.seconds:.0f} s)", ctx)
    ddp = model
    if ctx.active:
        from torch.nn.parallel import DistributedDataParallel

        ddp = DistributedDataParallel(model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None)
    loader = _batches(life, sampler, budget.streamed.ends, cfg, state.model_config, model.num_masked(), ctx,
                      range(start, end_step))  # fmt: skip
    checkpointer = Checkpointer(run, lambda step, full: state.payload(step, full, checkpointer.done),
                                first_steps(budget.streamed.hours, budget.plan.hours), budget.plan.final, budget.total,
                                cfg.save_every_steps, cfg.save_every_minutes, done)  # fmt: skip
    logger = TrainLogger(run, start, budget.total, end_step, budget.global_batch, cfg.log_every, cfg.tensorboard,
                         progress, enabled=ctx.is_main)  # fmt: skip
    stepper = Stepper(model, state.optimizer, amp_dtype, state.scaler, cfg.optim.clip_grad, cfg.data.pooled_target, ddp)
    st = Setup(cfg, ctx, run, life, model, state, stepper, loader, budget.streamed.hours, budget.total, start, end_step,
               state.peak, state.warmup, budget.global_batch, checkpointer, logger)  # fmt: skip
    announce(st, sampler, budget, compiled.enabled, threads)
    return st


def _batches(life: Life, sampler: Any, ends: np.ndarray, cfg: TrainConfig, mcfg: Any, hidden: int, ctx: DistContext,
             steps: range) -> Iterable[dict[str, Any]]:  # fmt: skip
    """This rank's batches for ``steps``: a DataLoader over slife.pairs.dataset.PairBatches, or the same
    draw cut from frames resident on the device (``data.resident``)."""
    from torch.utils.data import DataLoader

    from slife.pairs.dataset import PairBatches

    d = cfg.data
    dataset = PairBatches(life, sampler, ends, mcfg.img_size, hidden, cfg.batch_size, cfg.seed, ctx.rank, ctx.world_size,
                          mcfg.patch_size, d.jitter, d.shifted, d.cache_mb, d.jitter_per_pair, d.aligned_crops,
                          d.crop_patches)  # fmt: skip
    if not d.resident:
        return DataLoader(dataset, batch_size=None, sampler=steps, num_workers=d.workers,
                          pin_memory=ctx.device.type == "cuda")  # fmt: skip
    from slife.pairs.resident import ResidentFrames

    frames = ResidentFrames(life, dataset.sides, ctx.device)
    _note(f"{life.name}: {len(life)} frames resident on {ctx.device} ({frames.nbytes / 2**20:.0f} MiB)", ctx)
    return (frames.batch(dataset.draw(s, frames.frame_dims, frames.image), mcfg.img_size, s) for s in steps)


def _step(st: Setup, batch: dict[str, Any]) -> tuple[float, float]:
    """One optimiser step on ``batch``; returns (loss averaged over ranks, learning rate)."""
    s = int(batch["step"])
    lr = lr_at(s, st.total, st.peak, st.warmup, st.cfg.optim.min_lr)
    src, tgt, mask = (batch[k].to(st.ctx.device, non_blocking=True) for k in ("src", "tgt", "mask"))
    try:
        loss = st.stepper(src, tgt, mask, lr, reduce=lambda t: mean_over_ranks(t, st.ctx))
    except NonFiniteLoss as exc:
        _diverged(st, s + 1, exc.value)
    return loss, lr


def _diverged(st: Setup, step: int, loss: float) -> NoReturn:
    last = st.run.last
    good = f"last good checkpoint: {last} (step {read_meta(last).step})" if last.is_file() else "no checkpoint was saved before"
    st.logger.event({"event": "diverged", "step": step, "loss": str(loss)})
    raise TrainingDiverged(
        f"{st.run.path}: training diverged: loss is {loss} at step {step} of {st.total}; stopped without "
        f"saving ({good}). A resume keeps the config, so start over with a lower optim.lr / "
        "optim.base_lr or a longer optim.warmup_fraction: same command with --force (the old run is "
        "kept under previous-<time>/) or a new --out."
    )


def _train(
    life_dir: Path, run_dir: Path, cfg: TrainConfig, ctx: DistContext, progress: bool, force: bool, stop_after: int | None
) -> TrainResult:
    t_start = time.perf_counter()
    st = setup_run(life_dir, run_dir, cfg, ctx, progress, force, stop_after)
    step, t_loop = st.start, time.perf_counter()
    try:
        with stop_on_signals() as stop:
            st.model.train()
            for batch in st.loader:
                st.state.loss, lr = _step(st, batch)
                step = int(batch["step"]) + 1
                hours = float(st.hours[step - 1])
                st.logger.step(step, st.state.loss, lr, hours)
                if ctx.is_main:
                    for event in st.checkpointer.after_step(step, hours, st.end_step):
                        st.logger.event(event)
                signum = int(max_over_ranks(torch.tensor(float(stop.signum or 0)), ctx)) if ctx.active else stop.signum
                if signum and step < st.end_step:  # every rank stops after the same step
                    stop.signum = stop.signum or signum
                    break
            if ctx.is_main:
                for event in st.checkpointer.finish(step, st.start, float(st.hours[step - 1]) if step else 0.0):
                    st.logger.event(event)
            ctx.barrier()
            if stop.signum and step < st.end_step:
                st.logger.event({"event": "stopped", "signal": stop.name, "step": step})
                raise TrainingStopped(
                    f"{run_dir}: stopped by {stop.name} after step {step} of {st.total}; saved {st.run.last}. "
                    "Run the same command again to resume", stop.signum
                )
    finally:
        st.logger.close()
    elapsed = time.perf_counter() - t_loop
    st.model.eval()
    st.model.use_compile(False)  # the returned model runs eager (no recompiles for evaluation)
    return TrainResult(
        run_dir=run_dir,
        steps=step,
        total_steps=st.total,
        pairs_seen=step * st.global_batch,
        hours_seen=float(st.hours[step - 1]) if step else 0.0,
        final_loss=st.state.loss,
        pairs_per_s=(step - st.start) * st.global_batch / max(elapsed, 1e-9),
        elapsed_s=time.perf_counter() - t_start,
        checkpoints=st.checkpointer.written,
        resumed_from=st.start,
        model=st.model,
    )
