"""The shift mechanism test: can CroCo learn correspondence at all, here, on this machine?

Pairs are cut from real photographs: the source is an ``S x S`` window, the target the same-size
window moved by a random whole number of patches (``max_shift`` per axis, uniform), plus, in the
sub-patch variant, a random offset of ``[0, p)`` pixels. The true source patch of every target patch is
known exactly, and the identity map ("attend to the same position") is right only for pairs that did
not move. A model that learned correspondence finds the moved patch; one that learned the position
prior scores like the identity.

The pairs are slife.pairs.photos' and the step is slife.train.step's (the one ``slife train`` takes).
Evaluation pairs come from photos never trained on, as a :class:`TestSet`, so
the same readers score them as every life model (slife.align): exact (r = 0) and within-1 (r = 1)
top-1 GT alignment of the layer- and head-averaged cross-attention, for both reading protocols, next
to identity, random init and chance. The noise check is the model's own masked loss when the
source image is replaced by Gaussian noise (same pairs, same masks): a model that uses the second
view loses clearly more with it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from slife.align.analysis import gt_chance
from slife.align.checks import source_use
from slife.align.scorecard import RADII, gt_top1
from slife.align.scorecard import score_model
from slife.align.matchers import IdentityMatcher, PixelMatcher, ReadProtocol, random_init_matcher
from slife.align.testset import TestSet
from slife.errors import SlifeError
from slife.pairs.photos import PhotoPairsConfig
from slife.train.config import PRECISIONS, ModelSection, OptimConfig

PROTOCOL_NAMES = ("unmasked", "masked")


RECIPE_MODEL = {"img_size": 64, "patch_size": 8, "enc_dim": 64, "enc_heads": 4, "enc_depth": 4,
                "dec_dim": 64, "dec_heads": 4, "dec_depth": 4, "mask_ratio": 0.5}  # fmt: skip


@dataclass
class ShiftConfig:
    """``slife diagnose shift`` configuration; the defaults are the recipe of configs/diagnose_shift.yaml."""

    model: ModelSection = field(default_factory=lambda: ModelSection("tiny", dict(RECIPE_MODEL)))
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=4e-3, warmup_fraction=0.05))
    task: PhotoPairsConfig = field(default_factory=PhotoPairsConfig)
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


# ---- scoring --------------------------------------------------------------------------------------
SCORE_KEYS = {"exact": "r0", "within1": "r1", "exact_moving": "moving_r0", "within1_moving": "moving_r1"}


def named(scores: dict[str, float]) -> dict[str, float]:
    """slife.align.analysis.gt_scores (``r0``, ``r1``, ``moving_r0``, ``moving_r1``) under this test's names."""
    return {name: scores[key] for name, key in SCORE_KEYS.items()}


def score_top1(attn: torch.Tensor, testset: TestSet) -> dict[str, float]:
    """Exact and within-1 GT alignment of a map, on all patches with GT and on moving ones."""
    return named(gt_top1(attn, testset))


def chance_scores(testset: TestSet) -> dict[str, float]:
    """:func:`score_top1` of a uniformly random top-1 (slife.align.analysis.gt_chance)."""
    return named(gt_chance(testset, RADII))


def protocols(cfg: ShiftConfig) -> dict[str, ReadProtocol]:
    return {"unmasked": ReadProtocol("unmasked"), "masked": ReadProtocol("masked", cfg.read_masks, cfg.seed)}


def score_readings(model: torch.nn.Module, testset: TestSet, cfg: ShiftConfig) -> dict[str, dict[str, float]]:
    """:func:`score_top1` of the model read with each protocol (slife.align.scorecard.score_model)."""
    scores = score_model(model, testset, protocols(cfg), source_check=False)
    return {name: named(scores[name]) for name in protocols(cfg)}


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
    from slife.imaging import to_tensors
    from slife.model.config import model_config
    from slife.model.croco import CroCo
    from slife.pairs.photos import EVAL_PHOTOS, TRAIN_PHOTOS, PhotoPairs, load_photos
    from slife.train.compiling import compile_for_training
    from slife.train.optim import build_optimizer, peak_lr, warmup_steps
    from slife.train.precision import autocast_dtype
    from slife.train.schedule import lr_at
    from slife.train.step import NonFiniteLoss, Stepper

    mcfg = model_config(cfg.model.size, **cfg.model.overrides)
    train_pairs = PhotoPairs(load_photos(TRAIN_PHOTOS), mcfg.img_size, mcfg.patch_size, cfg.task)
    evalset = PhotoPairs(load_photos(EVAL_PHOTOS), mcfg.img_size, mcfg.patch_size, cfg.task).testset(
        cfg.eval_pairs, cfg.seed + 12345, EVAL_PHOTOS
    )
    device = torch.device("cpu")
    amp = autocast_dtype(cfg.precision, device)
    torch.manual_seed(cfg.seed)
    model = CroCo(mcfg)
    random_init = random_init_matcher(mcfg, cfg.seed + 1).model
    baselines = {
        "identity": score_top1(IdentityMatcher().attention(evalset), evalset),
        "pixel-match": score_top1(PixelMatcher().attention(evalset), evalset),  # exact on whole-patch shifts
        "random-init": score_readings(random_init, evalset, cfg),
        "chance": chance_scores(evalset),
    }
    peak = peak_lr(cfg.optim, cfg.batch_size)
    compile_for_training(model, cfg.model.compile, cfg.batch_size, amp, cfg.steps)  # model.compile (slife.train.compiling)
    step_once = Stepper(model, build_optimizer(model, cfg.optim, peak), amp, clip_grad=cfg.optim.clip_grad)
    warmup = warmup_steps(cfg.optim, cfg.steps)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    curve: list[dict[str, Any]] = []
    train_s, window_loss, window_steps = 0.0, 0.0, 0

    def evaluate(step: int) -> None:
        nonlocal window_loss, window_steps
        point = {"step": step, "pairs": step * cfg.batch_size, "train_seconds": train_s,
                 "train_loss": window_loss / window_steps if window_steps else float("nan"),
                 "scores": score_readings(model, evalset, cfg), **source_use(model, evalset, cfg.seed)}  # fmt: skip
        curve.append(point)
        window_loss, window_steps = 0.0, 0
        if progress is not None:
            progress(point)

    evaluate(0)
    model.train()
    for step in range(cfg.steps):
        t0 = time.perf_counter()
        src_u8, tgt_u8, _, _ = train_pairs.draw(cfg.batch_size, rng)
        mask = model.random_mask(cfg.batch_size, gen)
        try:
            loss_val = step_once(to_tensors(src_u8), to_tensors(tgt_u8), mask,
                                 lr_at(step, cfg.steps, peak, warmup, cfg.optim.min_lr))  # fmt: skip
        except NonFiniteLoss as exc:
            raise SlifeError(f"diagnose shift: loss is {exc.value} at step {step + 1}; lower optim.lr or raise warmup") from exc
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
