"""Monocular depth from a frozen encoder: a trained attentive probe, evaluated with the standard metrics.

Protocol (docs/evaluate.md):
* every image is ``resize_center_crop``-ed to the model's ``img_size`` (depth: nearest), encoded once
  without masking, in eval mode, without gradients; the tokens are cached [ours: no augmentation];
* the probe (:class:`AttentiveProbe`, the paper's; ``probe=linear``: :class:`LinearProbe`) predicts
  log-depth on a grid ``subpixel`` times finer than the patch grid, upsampled bilinearly to the crop; trained with the scale-invariant log loss (SILog,
  lambda = 0.85) by AdamW with linear warm-up + cosine decay;
* metrics are computed in the original image's pixels inside the centre crop (prediction sampled
  bilinearly there), within the dataset's depth caps (and the Eigen crop for NYU), averaged per image.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from slife.errors import SlifeError
from slife.devices import resolve_device
from slife.evaluate.metrics import DEPTH_METRICS, NYU_SHAPE, depth_metrics, eigen_crop_mask, mean_metrics
from slife.imaging import CropMap, resize_center_crop, to_tensor


@dataclass
class DepthEvalConfig:
    """Options of ``slife eval depth`` (set with ``--set key=value``)."""

    format: str = "auto"  # auto | nyu | scannet | life
    # probe
    probe: str = "attentive"  # attentive (the paper's: learned queries cross-attend to the tokens) | linear (per patch)
    probe_dim: int = 256
    probe_heads: int = 8
    subpixel: int = 4  # predictions per patch side (patch 16 -> 4 x 4 sub-patch depths, stride 4 px)
    # optimisation
    epochs: int = 25
    steps: int = 0  # > 0 overrides epochs
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_fraction: float = 0.05
    silog_lambda: float = 0.85
    # data
    min_depth: float = 1e-3
    max_depth: float = 0.0  # 0 = the format's default cap: 10 m for NYU and ScanNet, none for lives
    eigen_crop: bool = True  # NYU only
    median_scaling: bool = False
    test_fraction: float = 0.2  # ScanNet scenes / life videos (or time) held out when no split is given
    scannet_stride: int = 10  # every k-th exported ScanNet frame
    max_train: int = 0  # evenly spaced subset (0 = all)
    max_test: int = 0
    encode_batch: int = 32
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.format not in ("auto", "nyu", "scannet", "life"):
            raise SlifeError(f"depth config: format must be auto, nyu, scannet or life; got {self.format!r}")
        if self.probe not in PROBES:
            raise SlifeError(f"depth config: probe must be one of {list(PROBES)}, got {self.probe!r}")
        for name in ("probe_dim", "probe_heads", "subpixel", "batch_size", "encode_batch"):
            if getattr(self, name) <= 0:
                raise SlifeError(f"depth config: {name} must be positive, got {getattr(self, name)}")
        if self.probe_dim % self.probe_heads or self.probe_dim % 4:
            raise SlifeError(f"depth config: probe_dim {self.probe_dim} must be divisible by 4 and probe_heads")
        if not 0.0 < self.test_fraction < 1.0:
            raise SlifeError(f"depth config: test_fraction must be in (0, 1), got {self.test_fraction}")


def default_max_depth(fmt: str) -> float | None:
    return {"nyu": 10.0, "scannet": 10.0}.get(fmt)


# ----------------------------------------------------------------------------------------- probe
PROBES = ("attentive", "linear")


def patches_to_map(out: Tensor, grid: tuple[int, int], subpixel: int) -> Tensor:
    """(B, N, s*s) per-patch sub-pixel values (row-major patches) -> (B, 1, gh s, gw s) map."""
    (gh, gw), s = grid, subpixel
    return out.view(out.shape[0], gh, gw, s, s).permute(0, 1, 3, 2, 4).reshape(out.shape[0], 1, gh * s, gw * s)


class AttentiveProbe(nn.Module):
    """Learned queries, one per output patch, cross-attending to the frozen encoder tokens.

    Query n = learned embedding + fixed 2D sin-cos position + projection of token n (so a query
    starts from its own patch); keys/values = projected tokens + the same positions (RoPE encoders
    carry no absolute position in their tokens). One pre-norm cross-attention + MLP block, then a
    linear map to ``subpixel``^2 log-depths per patch, pixel-shuffled to a (gh s, gw s) map.
    """

    def __init__(self, enc_dim: int, grid: tuple[int, int], dim: int = 256, heads: int = 8, subpixel: int = 4):
        super().__init__()
        from slife.model.posenc import sincos_2d

        self.grid, self.subpixel = grid, subpixel
        self.norm_in = nn.LayerNorm(enc_dim)
        self.to_kv = nn.Linear(enc_dim, dim)
        self.to_q = nn.Linear(enc_dim, dim)
        self.queries = nn.Parameter(torch.zeros(grid[0] * grid[1], dim))
        nn.init.trunc_normal_(self.queries, std=0.02)
        self.register_buffer("pos", sincos_2d(dim, *grid), persistent=False)
        self.norm_q = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, subpixel * subpixel))

    def forward(self, tokens: Tensor) -> Tensor:
        """(B, N, enc_dim) tokens -> (B, 1, gh s, gw s) log-depth."""
        b = tokens.shape[0]
        t = self.norm_in(tokens.float())
        kv = self.to_kv(t) + self.pos
        q = self.queries + self.pos + self.to_q(t)
        qn = self.norm_q(q)
        x = q + self.attn(qn, kv, kv, need_weights=False)[0]
        x = x + self.mlp(x)
        return patches_to_map(self.head(x), self.grid, self.subpixel)


class LinearProbe(nn.Module):
    """The per-patch baseline beside :class:`AttentiveProbe`: LayerNorm + one linear map from each
    frozen token to its own ``subpixel``^2 log-depths (no context from other patches), same layout."""

    def __init__(self, enc_dim: int, grid: tuple[int, int], subpixel: int = 4):
        super().__init__()
        self.grid, self.subpixel = grid, subpixel
        self.head = nn.Sequential(nn.LayerNorm(enc_dim), nn.Linear(enc_dim, subpixel * subpixel))

    def forward(self, tokens: Tensor) -> Tensor:
        """(B, N, enc_dim) tokens -> (B, 1, gh s, gw s) log-depth."""
        return patches_to_map(self.head(tokens.float()), self.grid, self.subpixel)


def make_probe(cfg: "DepthEvalConfig", enc_dim: int, grid: tuple[int, int]) -> nn.Module:
    """The probe ``cfg.probe`` names; both end in ``head`` = (LayerNorm, Linear) to log-depths."""
    if cfg.probe == "linear":
        return LinearProbe(enc_dim, grid, cfg.subpixel)
    return AttentiveProbe(enc_dim, grid, cfg.probe_dim, cfg.probe_heads, cfg.subpixel)


def silog_loss(log_pred: Tensor, gt: Tensor, valid: Tensor, lam: float = 0.85) -> Tensor:
    """Scale-invariant log loss (Eigen et al. 2014): mean over images of
    sqrt(mean(g^2) - lam mean(g)^2), g = log pred - log gt on valid pixels."""
    g = (log_pred - torch.log(gt.clamp_min(1e-6))) * valid
    n = valid.flatten(1).sum(1).clamp_min(1.0)
    mean_sq = g.pow(2).flatten(1).sum(1) / n
    mean = g.flatten(1).sum(1) / n
    per_image = (mean_sq - lam * mean.pow(2)).clamp_min(1e-8).sqrt()
    has = valid.flatten(1).any(1)
    return per_image[has].mean() if bool(has.any()) else log_pred.sum() * 0.0


def upsample(log_depth: Tensor, size: int) -> Tensor:
    return F.interpolate(log_depth, size=(size, size), mode="bilinear", align_corners=False)


# ---------------------------------------------------------------------------------- preparation
@dataclass
class Prepared:
    """Cached encoder tokens and crop-resolution ground truth of a depth data set."""

    tokens: Tensor  # (M, N, enc_dim) float16 on CPU
    depth: Tensor  # (M, S, S) float32 crop depth (0 = invalid)
    maps: list[CropMap]
    names: list[str]


def crop_depth(depth: np.ndarray, size: int) -> np.ndarray:
    """The depth map under the same ``resize_center_crop`` as its image, nearest neighbour."""
    crop, _ = resize_center_crop(np.asarray(depth, dtype=np.float32), size, resample=Image.NEAREST)
    return crop


@torch.no_grad()
def prepare(model: nn.Module, dataset: Sequence, cfg: DepthEvalConfig, device: torch.device,
            progress: Callable[[int, int], None] | None = None) -> Prepared:
    """Encode every sample once (frozen, eval mode, unmasked) and crop its depth the same way."""
    size = model.cfg.img_size
    tokens, depths, maps, names = [], [], [], []
    batch: list[Tensor] = []

    def flush() -> None:
        if batch:
            x = torch.stack(batch).to(device)
            tokens.append(model.encode(x).to("cpu", torch.float16))
            batch.clear()

    model.eval()
    for i in range(len(dataset)):
        sample = dataset[i]
        if sample.image.shape[:2] != sample.depth.shape:
            raise SlifeError(f"{sample.name}: image {sample.image.shape[:2]} and depth {sample.depth.shape} differ in size")
        crop, cmap = resize_center_crop(sample.image, size)
        batch.append(to_tensor(crop))
        depths.append(torch.from_numpy(crop_depth(sample.depth, size)))
        maps.append(cmap)
        names.append(sample.name)
        if len(batch) >= cfg.encode_batch:
            flush()
        if progress:
            progress(i + 1, len(dataset))
    flush()
    if not names:
        raise SlifeError("depth evaluation: the data set is empty")
    return Prepared(torch.cat(tokens), torch.stack(depths).float(), maps, names)


# -------------------------------------------------------------------------------------- training
def cosine_lr(step: int, total: int, warmup: int) -> float:
    """Multiplier: linear warm-up over ``warmup`` steps, then half-cosine to 0."""
    if step < warmup:
        return (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))


def train_probe(
    train: Prepared, model_cfg: Any, cfg: DepthEvalConfig, max_depth: float | None, device: torch.device,
    log: Callable[[dict], None] | None = None,
) -> tuple[nn.Module, list[float]]:
    """Train a probe on cached tokens; returns it (eval mode) and the per-step losses."""
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    grid = (model_cfg.grid, model_cfg.grid)
    probe = make_probe(cfg, train.tokens.shape[-1], grid).to(device)
    valid_all = train.depth > cfg.min_depth
    if max_depth is not None:
        valid_all &= train.depth <= max_depth
    if not bool(valid_all.any()):
        raise SlifeError("depth probe: no valid ground-truth depth in the training set")
    with torch.no_grad():  # start at the training set's mean log-depth
        probe.head[1].bias.fill_(float(torch.log(train.depth[valid_all]).mean()))
    m = len(train.names)
    per_epoch = max(1, math.ceil(m / cfg.batch_size))
    total = cfg.steps if cfg.steps > 0 else cfg.epochs * per_epoch
    decay, no_decay = [], []
    for name, p in probe.named_parameters():
        (no_decay if p.ndim < 2 or name == "queries" else decay).append(p)
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr
    )
    warmup = max(1, int(cfg.warmup_fraction * total))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: cosine_lr(s, total, warmup))
    size = train.depth.shape[-1]
    losses: list[float] = []
    probe.train()
    order = torch.randperm(m, generator=gen)
    pos = 0
    for step in range(total):
        if pos + cfg.batch_size > m and pos > 0:
            order, pos = torch.randperm(m, generator=gen), 0
        idx = order[pos : pos + cfg.batch_size]
        pos += cfg.batch_size
        tokens = train.tokens[idx].to(device).float()
        gt = train.depth[idx].to(device).unsqueeze(1)
        valid = valid_all[idx].to(device).unsqueeze(1).float()
        loss = silog_loss(upsample(probe(tokens), size), gt, valid, cfg.silog_lambda)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if log and (step % max(1, total // 20) == 0 or step == total - 1):
            log({"step": step + 1, "steps": total, "loss": losses[-1], "lr": sched.get_last_lr()[0]})
    probe.eval()
    return probe, losses


# ------------------------------------------------------------------------------------ evaluation
def crop_window_points(shape: tuple[int, int], cmap: CropMap, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Original pixels whose centres fall inside the crop: (mask (H, W), their crop coordinates (M, 2))."""
    from slife.geometry import inside, pixel_centers

    h, w = shape
    xy = cmap.apply(pixel_centers(h, w))
    mask = inside(xy, size, size)
    return mask.reshape(h, w), xy[mask]


@torch.no_grad()
def predict_original(probe: nn.Module, tokens: Tensor, cmap: CropMap, shape: tuple[int, int], size: int,
                     device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """Predicted depth (H, W) in the original image's pixels (0 outside the crop) and the crop mask."""
    log_depth = upsample(probe(tokens[None].to(device).float()), size)  # (1, 1, S, S)
    mask, xy = crop_window_points(shape, cmap, size)
    grid = torch.from_numpy(xy / size * 2.0 - 1.0).float().to(device).view(1, 1, -1, 2)
    sampled = F.grid_sample(log_depth, grid, mode="bilinear", padding_mode="border", align_corners=False)
    pred = np.zeros(shape, dtype=np.float64)
    pred[mask] = sampled.view(-1).exp().cpu().numpy()
    return pred, mask


def evaluate_probe(probe: nn.Module, test: Prepared, test_set: Sequence, cfg: DepthEvalConfig, fmt: str,
                   max_depth: float | None, device: torch.device, size: int) -> tuple[dict, list[dict]]:
    """(mean metrics, per-image metrics) in original pixels (ground truth re-read from ``test_set``)."""
    rows = []
    for i in range(len(test_set)):
        gt = test_set[i].depth
        pred, mask = predict_original(probe, test.tokens[i], test.maps[i], gt.shape, size, device)
        if fmt == "nyu" and cfg.eigen_crop and gt.shape == NYU_SHAPE:
            mask &= eigen_crop_mask(gt.shape)
        row = depth_metrics(pred, gt, mask, min_depth=cfg.min_depth, max_depth=max_depth,
                            median_scaling=cfg.median_scaling)
        rows.append({"name": test.names[i], **row})
    return mean_metrics(rows, list(DEPTH_METRICS) + ["pixels"]), rows


def run_depth_eval(model: nn.Module, train_set: Sequence, test_set: Sequence, cfg: DepthEvalConfig, fmt: str,
                   log: Callable[[dict], None] | None = None) -> dict[str, Any]:
    """Train a probe on ``train_set`` with the frozen ``model`` and evaluate on ``test_set``."""
    device = resolve_device(cfg.device)
    model = model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    max_depth = cfg.max_depth if cfg.max_depth > 0 else default_max_depth(fmt)
    t0 = time.perf_counter()
    train = prepare(model, train_set, cfg, device)
    test = prepare(model, test_set, cfg, device)
    t1 = time.perf_counter()
    probe, losses = train_probe(train, model.cfg, cfg, max_depth, device, log)
    t2 = time.perf_counter()
    metrics, per_image = evaluate_probe(probe, test, test_set, cfg, fmt, max_depth, device, model.cfg.img_size)
    tail = max(1, len(losses) // 10)
    return {
        "metrics": metrics,
        "train_images": len(train.names),
        "test_images": len(test.names),
        "max_depth": max_depth,
        "loss_first": float(np.mean(losses[:tail])),
        "loss_last": float(np.mean(losses[-tail:])),
        "steps": len(losses),
        "seconds": {"encode": t1 - t0, "train": t2 - t1, "evaluate": time.perf_counter() - t2},
        "per_image": per_image,
    }
