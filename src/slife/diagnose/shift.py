"""The shift mechanism test: can CroCo learn correspondence at all, here, on this machine?

Pairs are cut from real photographs: the source is an ``S x S`` window, the target the same-size
window moved by a random whole number of patches (``max_shift`` per axis, uniform), plus, in the
sub-patch variant, a random offset of ``[0, p)`` pixels. The true source patch of every target patch is
known exactly, and the identity map ("attend to the same position") is right only for pairs that did
not move. A model that learned correspondence finds the moved patch; one that learned the position
prior scores like the identity.

Evaluation pairs come from photos never trained on (slife.diagnose.photos), as a :class:`TestSet`, so
the same readers score them as every life model (slife.align): exact (r = 0) and within-1 (r = 1)
top-1 GT alignment of the layer- and head-averaged cross-attention, for both reading protocols, next
to identity, random init and chance. The noise control is the model's own masked loss when the
source image is replaced by Gaussian noise (same pairs, same masks): a model that uses the second
view loses clearly more with it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from slife.align.analysis import gt_chance, gt_scores, rank
from slife.align.controls import source_use
from slife.align.sources import IdentitySource, PixelMatchSource, ReadProtocol, model_attention, random_init_source
from slife.align.testset import TestSet
from slife.errors import SlifeError
from slife.pairs.dataset import to_batch
from slife.pairs.shifted import cut_pair, draw_shifts, margin, shift_ground_truth, window_side
from slife.train.config import PRECISIONS, ModelSection, OptimConfig

PROTOCOL_NAMES = ("unmasked", "masked")


@dataclass
class ShiftTask:
    """How pairs are cut from photos."""

    max_shift: int = 2  # whole patches per axis, uniform in [-max_shift, max_shift]
    subpatch: bool = False  # add a uniform [0, patch) pixel offset per axis (the sub-patch variant)
    scales: list[float] = field(default_factory=lambda: [1.0, 1.5, 2.0])  # photo short side / window side

    def __post_init__(self) -> None:
        if self.max_shift < 0:
            raise SlifeError(f"task.max_shift must be >= 0, got {self.max_shift}")
        if not self.scales or any(not (s >= 1.0 and math.isfinite(s)) for s in self.scales):
            raise SlifeError(f"task.scales must be finite and >= 1 (photo side / window side), got {self.scales}")


RECIPE_MODEL = {"img_size": 64, "patch_size": 8, "enc_dim": 64, "enc_heads": 4, "enc_depth": 4,
                "dec_dim": 64, "dec_heads": 4, "dec_depth": 4, "mask_ratio": 0.5}  # fmt: skip


@dataclass
class ShiftConfig:
    """``slife diagnose shift`` configuration; the defaults are the recipe of configs/diagnose_shift.yaml."""

    model: ModelSection = field(default_factory=lambda: ModelSection("tiny", dict(RECIPE_MODEL)))
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=4e-3, warmup_fraction=0.05))
    task: ShiftTask = field(default_factory=ShiftTask)
    batch_size: int = 32
    steps: int = 3600
    precision: str = "bf16"  # as slife train: bf16 autocast where native, else fp32
    seed: int = 0
    threads: int = 0  # torch CPU threads; 0 = the usable cores (slife.train.threads)
    eval_every: int = 300  # steps between evaluations (and at the start and the end)
    eval_pairs: int = 64  # held-out pairs scored at every evaluation
    read_masks: int = 4  # random masks averaged by the masked reading protocol
    target_exact: float = 0.6  # exact-patch top-1 the recipe should reach (reported, not enforced)

    def __post_init__(self) -> None:
        for name in ("batch_size", "steps", "eval_every", "eval_pairs", "read_masks"):
            if getattr(self, name) < 1:
                raise SlifeError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.threads < 0:
            raise SlifeError(f"threads must be >= 0, got {self.threads}")
        if self.precision not in PRECISIONS:
            raise SlifeError(f"precision must be one of {list(PRECISIONS)}, got {self.precision!r}")


def load_shift_config(path: Any = None, overrides: list[str] | tuple[str, ...] = ()) -> ShiftConfig:
    """The recipe (the defaults), updated by a config file, then ``--set`` overrides; nested dicts such
    as ``model.overrides`` are merged key by key into the recipe's, not replaced."""
    from slife.config import load_config, to_dict

    return load_config(ShiftConfig, path, overrides, base=to_dict(ShiftConfig()))


# ---- pairs ----------------------------------------------------------------------------------------
class ShiftPairs:
    """Cuts shifted (source, target) pairs from photos, with the true source patch of every target patch."""

    def __init__(self, photos: list[np.ndarray], img_size: int, patch_size: int, task: ShiftTask) -> None:
        from PIL import Image

        if img_size % patch_size:
            raise SlifeError(f"shift pairs: img_size {img_size} is not a multiple of patch_size {patch_size}")
        self.img_size, self.patch_size, self.task = img_size, patch_size, task
        self.margin = margin(patch_size, task.max_shift, task.subpatch)
        window = window_side(img_size, patch_size, task.max_shift, task.subpatch)
        self.images: list[np.ndarray] = []
        for photo in photos:
            h, w = photo.shape[:2]
            for scale in task.scales:
                f = scale * window / min(h, w)
                size = (max(window, round(w * f)), max(window, round(h * f)))
                self.images.append(np.asarray(Image.fromarray(photo).resize(size, Image.BICUBIC)))
        self.window = window

    @property
    def grid(self) -> int:
        return self.img_size // self.patch_size

    def draw(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``n`` pairs: src, tgt (n, S, S, 3) uint8, gt (n, N) int64 (-1 = outside the source), and the
        pixel shift (n, 2) (dy, dx) of the target window relative to the source window."""
        s = self.img_size
        which = rng.integers(len(self.images), size=n)
        shift = draw_shifts(n, rng, self.patch_size, self.task.max_shift, self.task.subpatch)
        src = np.empty((n, s, s, 3), np.uint8)
        tgt = np.empty_like(src)
        for i in range(n):
            src[i], tgt[i] = cut_pair(self.images[which[i]], shift[i], s, self.margin, rng)
        return src, tgt, self.ground_truth(shift), shift

    def ground_truth(self, shift: np.ndarray) -> np.ndarray:
        """(n, N): the source patch containing each target patch centre, -1 outside the source."""
        return shift_ground_truth(shift, self.img_size, self.patch_size)

    def testset(self, n: int, seed: int, names: tuple[str, ...] = ()) -> TestSet:
        """A fixed evaluation set of ``n`` pairs (seeded), in the format every alignment reader takes."""
        src, tgt, gt, shift = self.draw(n, np.random.default_rng(seed))
        zeros_i, zeros_f = np.zeros(n, np.int64), np.zeros(n, np.float64)
        meta = {"sampler": "shift", "seed": int(seed), "max_shift": self.task.max_shift,
                "subpatch": self.task.subpatch, "photos": list(names), "shift_px": shift.tolist()}  # fmt: skip
        return TestSet(src=src, tgt=tgt, patch_size=self.patch_size, life=np.array(["photos"] * n), src_index=zeros_i,
                       tgt_index=zeros_i, src_time=zeros_f, tgt_time=zeros_f, video=zeros_i, gt=gt, meta=meta)  # fmt: skip


# ---- scoring --------------------------------------------------------------------------------------
SCORE_KEYS = {"exact": "r0", "within1": "r1", "exact_moving": "moving_r0", "within1_moving": "moving_r1"}


def score_top1(attn: torch.Tensor, testset: TestSet) -> dict[str, float]:
    """Exact and within-1 GT alignment of a map, on all patches with GT and on moving ones
    (slife.align.analysis.gt_scores under this test's names)."""
    scores = gt_scores(rank(attn, 1), testset, (0, 1))
    return {name: scores[key] for name, key in SCORE_KEYS.items()}


def chance_scores(testset: TestSet) -> dict[str, float]:
    """:func:`score_top1` of a uniformly random top-1 (slife.align.analysis.gt_chance)."""
    scores = gt_chance(testset, (0, 1))
    return {name: scores[key] for name, key in SCORE_KEYS.items()}


def protocols(cfg: ShiftConfig) -> dict[str, ReadProtocol]:
    return {"unmasked": ReadProtocol("unmasked"), "masked": ReadProtocol("masked", cfg.read_masks, cfg.seed)}


def score_model(model: torch.nn.Module, testset: TestSet, cfg: ShiftConfig) -> dict[str, dict[str, float]]:
    """:func:`score_top1` of the model read with each protocol."""
    return {name: score_top1(model_attention(model, testset, protocol=proto), testset)
            for name, proto in protocols(cfg).items()}  # fmt: skip


# ---- the run --------------------------------------------------------------------------------------
@dataclass
class ShiftResult:
    config: dict[str, Any]
    curve: list[dict[str, Any]]  # one point per evaluation
    baselines: dict[str, Any]  # identity, pixel-match, random-init (per protocol), chance
    testset: dict[str, Any]
    train_seconds: float
    pairs_per_s: float
    machine: dict[str, Any]
    model: torch.nn.Module | None = field(default=None, repr=False)

    def final(self) -> dict[str, Any]:
        return self.curve[-1]

    def reached(self, metric: str = "exact", protocol: str = "unmasked", threshold: float | None = None) -> dict | None:
        """The first curve point where ``protocol``'s ``metric`` reaches ``threshold`` (default: target)."""
        threshold = self.config["target_exact"] if threshold is None else threshold
        return next((p for p in self.curve if p["scores"][protocol][metric] >= threshold), None)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "model"}


def machine_info() -> dict[str, Any]:
    import os
    import platform

    from slife.train.precision import cpu_has_native_bf16

    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "native_bf16": cpu_has_native_bf16(),
            "torch": torch.__version__}  # fmt: skip


def run_shift(cfg: ShiftConfig, progress: Callable[[dict[str, Any]], None] | None = None) -> ShiftResult:
    """Train a CroCo on shifted photo pairs and score it on held-out photos along the way."""
    from slife.train.threads import torch_threads

    with torch_threads(cfg.threads):
        return _run_shift(cfg, progress)


def _run_shift(cfg: ShiftConfig, progress: Callable[[dict[str, Any]], None] | None) -> ShiftResult:
    from slife.config import to_dict
    from slife.diagnose.photos import EVAL_PHOTOS, TRAIN_PHOTOS, load_photos
    from slife.model.config import model_config
    from slife.model.croco import CroCo
    from slife.train.compiling import compile_for_training
    from slife.train.optim import build_optimizer, peak_lr, set_lr, warmup_steps
    from slife.train.precision import autocast_dtype
    from slife.train.schedule import lr_at

    mcfg = model_config(cfg.model.size, **cfg.model.overrides)
    train_pairs = ShiftPairs(load_photos(TRAIN_PHOTOS), mcfg.img_size, mcfg.patch_size, cfg.task)
    evalset = ShiftPairs(load_photos(EVAL_PHOTOS), mcfg.img_size, mcfg.patch_size, cfg.task).testset(
        cfg.eval_pairs, cfg.seed + 12345, EVAL_PHOTOS
    )
    device = torch.device("cpu")
    amp = autocast_dtype(cfg.precision, device)
    torch.manual_seed(cfg.seed)
    model = CroCo(mcfg)
    random_init = random_init_source(mcfg, cfg.seed + 1).model
    baselines = {
        "identity": score_top1(IdentitySource().attention(evalset), evalset),
        "pixel-match": score_top1(PixelMatchSource().attention(evalset), evalset),  # exact on whole-patch shifts
        "random-init": score_model(random_init, evalset, cfg),
        "chance": chance_scores(evalset),
    }
    peak = peak_lr(cfg.optim, cfg.batch_size)
    optimizer = build_optimizer(model, cfg.optim, peak)
    compile_for_training(model, cfg.model.compile, cfg.batch_size, amp, cfg.steps)  # model.compile (slife.train.compiling)
    warmup = warmup_steps(cfg.optim, cfg.steps)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    curve: list[dict[str, Any]] = []
    train_s, window_loss, window_steps = 0.0, 0.0, 0

    def evaluate(step: int) -> None:
        nonlocal window_loss, window_steps
        point = {"step": step, "pairs": step * cfg.batch_size, "train_seconds": train_s,
                 "train_loss": window_loss / window_steps if window_steps else float("nan"),
                 "scores": score_model(model, evalset, cfg), **source_use(model, evalset, cfg.seed)}  # fmt: skip
        curve.append(point)
        window_loss, window_steps = 0.0, 0
        if progress is not None:
            progress(point)

    evaluate(0)
    model.train()
    for step in range(cfg.steps):
        t0 = time.perf_counter()
        set_lr(optimizer, lr_at(step, cfg.steps, peak, warmup, cfg.optim.min_lr))
        src_u8, tgt_u8, _, _ = train_pairs.draw(cfg.batch_size, rng)
        src, tgt = to_batch(list(src_u8)), to_batch(list(tgt_u8))
        mask = model.random_mask(cfg.batch_size, gen)
        with torch.autocast("cpu", dtype=amp or torch.bfloat16, enabled=amp is not None):
            out = model(src, tgt, mask=mask)
        loss = model.loss(out.pred, tgt, mask)
        loss_val = float(loss.detach())
        if not math.isfinite(loss_val):
            raise SlifeError(f"diagnose shift: loss is {loss_val} at step {step + 1}; lower optim.lr or raise warmup")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.optim.clip_grad > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.clip_grad)
        optimizer.step()
        train_s += time.perf_counter() - t0
        window_loss += loss_val
        window_steps += 1
        if (step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps:
            evaluate(step + 1)
    model.eval()
    model.use_compile(False)
    return ShiftResult(
        config=to_dict(cfg), curve=curve, baselines=baselines, testset=evalset.summary() | {"meta": evalset.meta},
        train_seconds=train_s, pairs_per_s=cfg.steps * cfg.batch_size / max(train_s, 1e-9),
        machine=machine_info(), model=model,
    )  # fmt: skip
