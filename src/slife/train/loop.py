"""Per-life CroCo training: ``train(life_dir, run_dir, cfg) -> TrainResult``.

One model per life, from random init. Data are streamed through the life in order (see
slife.train.schedule), milestone checkpoints are written at hours of video seen, ``last.pt`` holds the
full training state so that a killed run resumes exactly, and every sample is a pure function of
(seed, sample number), which also makes DDP ranks disjoint (slife.pairs.dataset).

The shape of MAE's engine: :func:`setup_run` builds everything once (a :class:`Setup`),
slife.train.step is the one optimiser step (shared with slife diagnose), and ``_train`` is the loop
around them; when to save is
slife.train.checkpointer's decision, what is logged slife.train.logger's; a run's file names are
slife.run's.
"""

from __future__ import annotations

import dataclasses
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

from slife.config import read_config_file, save_config, to_dict
from slife.errors import SlifeError
from slife.life import Life
from slife.model.checkpoint import remove_stale_temp_files, read_checkpoint
from slife.run import RunDir
from slife.train.config import MAX_STEPS, TrainConfig, stored_differences
from slife.train.distributed import DistContext, max_over_ranks, mean_over_ranks, setup
from slife.train.optim import build_optimizer, peak_lr, warmup_steps
from slife.train.precision import autocast_dtype
from slife.train.schedule import first_steps, lr_at, plan_milestones, stream
from slife.train.checkpointer import Checkpointer
from slife.train.compiling import compile_for_training
from slife.train.logger import TrainLogger
from slife.train.resume import check_resume
from slife.train.signals import TrainingStopped, stop_on_signals
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


def _resume_payload(run_dir: Path, cfg_dict: dict[str, Any], life: Life, force: bool) -> dict[str, Any] | None:
    run = RunDir(run_dir)
    last = run.last
    if force or not last.is_file():
        return None
    cfg_file = run.config_file
    diffs = stored_differences(read_config_file(cfg_file), cfg_dict) if cfg_file.is_file() else ["(no config.yaml)"]
    if diffs:
        raise SlifeError(
            f"{cfg_file}: this run directory holds a run with a different config (differs in: {', '.join(diffs)}); "
            "use a new --out directory, or --force to start over (the old run is moved to previous-<time>/)"
        )
    payload = read_checkpoint(last)
    if payload.get("life") != life.name or payload.get("life_frames") != len(life):
        raise SlifeError(
            f"{last}: this run was trained on life {payload.get('life')!r} ({payload.get('life_frames')} frames), "
            f"not on {life.dir} ({life.name!r}, {len(life)} frames); use a new --out directory or --force"
        )
    return payload


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
    last_loss: float = float("nan")


def setup_run(life_dir: Path, run_dir: Path, cfg: TrainConfig, ctx: DistContext, progress: bool, force: bool,
              stop_after: int | None) -> Setup:  # fmt: skip
    """Open the life, resume or start the run directory, build model, optimiser, data, checkpointer, logger."""
    from slife.model.config import model_config
    from slife.model.croco import CroCo
    from slife.pairs.config import build_sampler

    threads = torch.get_num_threads()  # set by train() from cfg.threads
    life = Life.open(life_dir)
    if len(life) < 2:
        raise SlifeError(f"{life_dir}: the life has {len(life)} frame(s); training needs at least 2")
    run = RunDir(run_dir)
    cfg_dict = to_dict(cfg)
    mcfg = model_config(cfg.model.size, **cfg.model.overrides)
    payload = _resume_payload(run_dir, cfg_dict, life, force)
    if ctx.is_main:
        if payload is None:
            moved = _archive(run_dir) if run_dir.exists() else None
            if moved is not None:
                _note(f"previous run in {run_dir} moved to {moved}", ctx)
        run.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(run.checkpoint_dir)  # left by a killed save; we hold the run's lock
        save_config(cfg, run.config_file)
        sampler = build_sampler(life, cfg.data, progress=progress)  # builds + caches the spatial index
    ctx.barrier()
    if not ctx.is_main:
        sampler = build_sampler(life, cfg.data)

    global_batch = cfg.batch_size * ctx.world_size
    # the part of the life this run may see: all of it, or its first data.prefix_hours (nested subsets)
    span_s = life.seconds if cfg.data.prefix_hours <= 0 else min(life.seconds, cfg.data.prefix_hours * 3600.0)
    span_h = span_s / 3600.0
    total = cfg.steps if cfg.steps > 0 else max(1, math.ceil(cfg.pairs_per_hour * span_h / global_batch))
    if total > MAX_STEPS:
        raise SlifeError(f"{life_dir}: pairs_per_hour {cfg.pairs_per_hour:g} on {span_h:.4g} h makes {total} steps, "
                         f"more than the {MAX_STEPS} slife allows")  # fmt: skip
    strm = stream(life.timestamps, span_s, total, cfg.data.stream_fraction, sampler.min_end)
    plan = plan_milestones(cfg.milestones, span_h, streaming=cfg.data.stream_fraction > 0)
    if plan.skipped:
        _note(f"milestones {plan.skipped} h are longer than the {'prefix' if span_s < life.seconds else 'life'} "
              f"({span_h:.4g} h): skipped", ctx)
    peak = peak_lr(cfg.optim, global_batch)
    warmup = warmup_steps(cfg.optim, total)

    device = ctx.device
    torch.manual_seed(cfg.seed)
    model = CroCo(mcfg).to(device)
    optimizer = build_optimizer(model, cfg.optim, peak)
    amp_dtype = autocast_dtype(cfg.precision, device)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    start, done, last_loss = 0, set(), float("nan")
    if payload is not None:
        check_resume(payload, run.last, model, optimizer, total)
        try:
            model.load_state_dict(payload["model"])
            optimizer.load_state_dict(payload["optimizer"])
            if payload.get("scaler"):
                scaler.load_state_dict(payload["scaler"])
            torch.set_rng_state(payload["rng"]["torch"])
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:  # what check_resume cannot foresee
            raise SlifeError(f"{run.last}: cannot resume from it: {' '.join(str(exc).split())[:300]}") from exc
        start = payload["step"]
        done = {float(h) for h in payload.get("milestones_done", [])}
        last_loss = float(payload.get("loss", float("nan")))
        if payload.get("world_size") != ctx.world_size:
            _note(f"resuming a run from {payload.get('world_size')} process(es) on {ctx.world_size}", ctx)
    end_step = total if stop_after is None else max(start, min(total, int(stop_after)))
    compiled = compile_for_training(model, cfg.model.compile, cfg.batch_size, amp_dtype, end_step - start, cfg.data.pooled_target)
    if compiled.enabled:
        _note(f"model compiled ({compiled.reason}; {compiled.seconds:.0f} s)", ctx)
    ddp = model
    if ctx.active:
        from torch.nn.parallel import DistributedDataParallel

        ddp = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    sh = cfg.data.shifted
    loader = _batches(life, sampler, strm.ends, cfg, mcfg, model.num_masked(), ctx, range(start, end_step))

    st: Setup  # the payload reads the live state (loss, milestones done) when a checkpoint is written

    def payload_at(step: int, full: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model_config": dataclasses.asdict(mcfg),
            "model": model.state_dict(),
            "step": step,
            "pairs_seen": step * global_batch,
            "hours_seen": float(strm.hours[step - 1]) if step else 0.0,
            "life": life.name,
            "life_frames": len(life),
            "life_dir": str(life.dir.resolve()),
            "train_config": cfg_dict,
            "loss": st.last_loss,
        }
        if full:
            out.update(
                optimizer=optimizer.state_dict(),
                scheduler={"kind": "warmup_cosine", "step": step, "total": total, "warmup": warmup, "peak_lr": peak},
                scaler=scaler.state_dict() if scaler.is_enabled() else None,
                rng={"torch": torch.get_rng_state()},
                milestones_done=sorted(st.checkpointer.done),
                total_steps=total,
                world_size=ctx.world_size,
            )
        return out

    checkpointer = Checkpointer(run, payload_at, first_steps(strm.hours, plan.hours), plan.final, total,
                                cfg.save_every_steps, cfg.save_every_minutes, done)  # fmt: skip
    logger = TrainLogger(run, start, total, end_step, global_batch, cfg.log_every, cfg.tensorboard, progress,
                         enabled=ctx.is_main)  # fmt: skip
    stepper = Stepper(model, optimizer, amp_dtype, scaler, cfg.optim.clip_grad, cfg.data.pooled_target, ddp)
    st = Setup(cfg, ctx, run, life, model, stepper, loader, strm.hours, total, start, end_step, peak, warmup,
               global_batch, checkpointer, logger, last_loss)  # fmt: skip

    parts = getattr(sampler, "samplers", [sampler])  # the kinds actually drawn (auto may drop spatial)
    weights = dict(zip((p.name for p in parts), getattr(sampler, "weights", [1.0]))) if len(parts) > 1 else {sampler.name: 1.0}
    weights = {k: float(v) for k, v in weights.items()}
    if ctx.is_main:
        logger.event({"event": "start" if start == 0 else "resume", "step": start, "total_steps": total,
                      "life": life.name, "life_hours": life.hours, "prefix_hours": span_h, "pairs": weights,
                      "shifted": {"warmup": sh.warmup, "share": sh.share}, "global_batch": global_batch,
                      "peak_lr": peak, "world_size": ctx.world_size, "device": str(device), "amp": str(amp_dtype),
                      "threads": threads, "compile": compiled.enabled})  # fmt: skip
        _note(
            f"{life.name}: {life.hours:.4g} h, {len(life)} frames"
            + (f" (first {span_h:.4g} h only)" if span_s < life.seconds else "")
            + f"; {total} steps x {global_batch} pairs "
            f"({'+'.join(f'{k} {v:g}' for k, v in weights.items())}{'; ' + sh.describe() if sh.on else ''}); model {cfg.model.size}; {device}"
            + (f"; resuming at step {start}" if start else ""),
            ctx,
        )
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
    good = f"last good checkpoint: {last} (step {read_checkpoint(last).get('step')})" if last.is_file() else "no checkpoint was saved before"
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
                st.last_loss, lr = _step(st, batch)
                step = int(batch["step"]) + 1
                hours = float(st.hours[step - 1])
                st.logger.step(step, st.last_loss, lr, hours)
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
        final_loss=st.last_loss,
        pairs_per_s=(step - st.start) * st.global_batch / max(elapsed, 1e-9),
        elapsed_s=time.perf_counter() - t_start,
        checkpoints=st.checkpointer.written,
        resumed_from=st.start,
        model=st.model,
    )
