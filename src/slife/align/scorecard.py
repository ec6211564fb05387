"""One model's score card on a test set with ground truth, and where its correspondence comes from.

- :func:`score_model`: top-1 GT alignment (exact and within 1 patch, on all and on moving patches) per
  reading protocol, with the source-use check (masked loss with the right source, another pair's,
  noise);
- :func:`baselines`: the same for chance, identity, pixel matching (slife.align.matchers.PixelMatcher,
  mean absolute RGB difference) and a random-init model of the same config;
- :func:`training_curve`: ``slife train`` in stretches (``stop_after``: exact resume, so the curve is
  the straight run's) with the model scored after each;
- :func:`breakdown`: GT within 1 patch by true displacement and, on moving patches, by decoder layer.

The shift mechanism test (slife.diagnose.shift) and the world results (docs/results/world) read
models this way.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Mapping

import torch

from slife.align.matchers import ReadProtocol
from slife.align.testset import TestSet

RADII = (0, 1)


def default_protocols(masks: int = 8, seed: int = 0) -> dict[str, ReadProtocol]:
    """The two readings every score card shows: masked (``masks`` random masks) and unmasked."""
    return {"masked": ReadProtocol("masked", masks, seed), "unmasked": ReadProtocol("unmasked")}


def gt_top1(attn: torch.Tensor, testset: TestSet, radii: tuple[int, ...] = RADII) -> dict[str, float]:
    """slife.align.analysis.gt_scores of a map's top-1 (``r0``, ``r1``, ``moving_r0``, ...)."""
    from slife.align.analysis import gt_scores, rank

    return gt_scores(rank(attn, 1), testset, radii)


def score_model(model: torch.nn.Module, testset: TestSet, protocols: Mapping[str, ReadProtocol] | None = None,
                seed: int = 0, radii: tuple[int, ...] = RADII, source_check: bool = True) -> dict[str, Any]:  # fmt: skip
    """GT alignment per reading protocol (``{protocol: gt_scores}``) and, with ``source_check``, the
    source-use check's losses at the top level."""
    from slife.align.checks import source_use
    from slife.align.matchers import model_attention

    entry: dict[str, Any] = dict(source_use(model, testset, seed)) if source_check else {}
    for name, proto in (protocols or default_protocols()).items():
        entry[name] = gt_top1(model_attention(model, testset, protocol=proto), testset, radii)
    return entry


def baselines(testset: TestSet, model_cfg: Any, protocols: Mapping[str, ReadProtocol] | None = None,
              seed: int = 12345, radii: tuple[int, ...] = RADII) -> dict[str, Any]:  # fmt: skip
    """Chance, identity, pixel matching and random init (``model_cfg``, seeded) on the test set."""
    from slife.align.analysis import gt_chance
    from slife.align.matchers import IdentityMatcher, PixelMatcher, random_init_matcher

    return {
        "testset": testset.summary(),
        "chance": gt_chance(testset, radii),
        "identity": gt_top1(IdentityMatcher().attention(testset), testset, radii),
        "pixel-match": gt_top1(PixelMatcher().attention(testset), testset, radii),
        "random-init": score_model(random_init_matcher(model_cfg, seed=seed).model, testset, protocols, 0, radii),
    }


def training_curve(life: Path, run: Path, cfg: Any, testset: TestSet, every: int,
                   report: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Train ``cfg`` on ``life`` into ``run`` in stretches of ``every`` steps and score the model after
    each (and at step 0): one point per stretch with step, pairs seen, training seconds, the loss and
    :func:`score_model`. A run already in ``run`` resumes; ``report`` is called with each point."""
    from slife.train import train

    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    curve: list[dict[str, Any]] = []
    train_s, step = 0.0, 0
    while True:
        t0 = time.perf_counter()
        result = train(life, run, cfg, progress=False, stop_after=step)
        train_s += time.perf_counter() - t0
        point = {"step": result.steps, "pairs_seen": result.pairs_seen, "train_seconds": round(train_s, 1),
                 "loss": result.final_loss, **score_model(result.model, testset)}  # fmt: skip
        curve.append(point)
        if report is not None:
            report(point)
        if result.steps >= result.total_steps:
            return curve
        step = min(result.total_steps, max(step, result.steps) + every)


def breakdown(model: torch.nn.Module, testset: TestSet, max_disp: int = 6,
              protocol: ReadProtocol = ReadProtocol("masked", 8, 0)) -> dict[str, Any]:  # fmt: skip
    """GT within 1 patch by true (Chebyshev) displacement 0, 1, ..., ``>= max_disp`` for the layer-mean
    map, and on moving patches for each decoder layer alone, the mean over layers (what CAS and the
    reports use) and the mean over the second half of the layers."""
    from slife.align.analysis import gt_alignment, moving_patches, patch_displacement, rank
    from slife.align.matchers import model_attention

    attn = model_attention(model, testset, per_layer=True, protocol=protocol)  # (L, P, Nt, Ns)
    disp = patch_displacement(testset)
    mean = rank(attn.mean(0), 1)
    by_disp = {}
    for d in range(max_disp + 1):
        where = disp == d if d < max_disp else disp >= d
        by_disp[f"{d}" if d < max_disp else f">={d}"] = {"r1": gt_alignment(mean, testset, 1, where), "patches": int(where.sum())}
    moving = moving_patches(testset)
    layers = attn.shape[0]
    return {
        "by_displacement": by_disp,
        "moving_by_layer": [gt_alignment(rank(attn[i], 1), testset, 1, moving) for i in range(layers)],
        "moving_mean_of_layers": gt_alignment(mean, testset, 1, moving),
        "moving_mean_of_second_half": gt_alignment(rank(attn[layers // 2 :].mean(0), 1), testset, 1, moving),
    }
