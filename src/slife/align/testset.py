"""Fixed test-pair sets for CAS: pairs of cropped frames saved in one self-contained ``.npz`` file.

A test set is made once (``make_testset``) and then shared by every model that is scored on it, so
scores are comparable across runs. It holds:

- ``src``, ``tgt``: (P, S, S, 3) uint8 images, ``resize_center_crop(frame, S)`` of the two frames;
- provenance: life name and directory, frame indices and timestamps of both frames, video index;
- when every life has depth + poses: ``gt`` (P, N) int64, for every target patch centre the index of
  the source patch where that 3D point is seen (row-major grid), or -1 if it is not visible there;
  plus the crop intrinsics and camera-to-world poses of both frames.

Pairs [ours]: temporal pairs within one take (``Life.segment_index``: a video, or a clip or camera
of the controls, so no pair crosses a cut), |Δt| in ``gap`` seconds (default 0.5-5 s, the training
default for temporal pairs, so the views overlap), anchors spread evenly over each life, the order of
the two frames random. With ground truth, pairs where fewer than ``min_overlap`` of the target patches
have a visible correspondence are redrawn. Each life draws from its own seed (``seed`` and a hash of
the life's name), so adding a life does not change the pairs of the others.

Temporal pairs a few seconds apart mostly move little, so the identity map ("attend to the same
position") scores well on them. The ``spatial`` sampler draws frames from anywhere in the life whose
visible 3D points overlap (the spatial pair index), and ``min_moving`` requires a fraction of the
target patches to move by >= 2 patches: test sets with real motion, where only correspondence scores.
"""

from __future__ import annotations

import io
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from slife.errors import SlifeError

FORMAT = "slife-testset/1"
MAX_BYTES = 1 << 30  # the arrays of a test set file, decompressed (32 pairs x 20 lives at 224 px: ~0.2 GB)


class TestSetError(SlifeError):
    """A test-set file is missing, malformed, or does not fit the model being scored."""

    __test__ = False


@dataclass
class TestSet:
    """A fixed set of (source, target) image pairs with provenance and optional ground truth."""

    __test__ = False  # not a pytest test class

    src: np.ndarray  # (P, S, S, 3) uint8
    tgt: np.ndarray  # (P, S, S, 3) uint8
    patch_size: int
    life: np.ndarray  # (P,) str: life name of each pair
    src_index: np.ndarray  # (P,) int64 frame indices in the life
    tgt_index: np.ndarray
    src_time: np.ndarray  # (P,) float64 seconds since the life started
    tgt_time: np.ndarray
    video: np.ndarray  # (P,) int64 video index within the life
    gt: np.ndarray | None = None  # (P, N) int64 source patch of each target patch centre, -1 = not visible
    src_K: np.ndarray | None = None  # (P, 3, 3) intrinsics of the crops
    tgt_K: np.ndarray | None = None
    src_pose: np.ndarray | None = None  # (P, 4, 4) camera-to-world
    tgt_pose: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # seed, gap, life dirs, ...
    path: str | None = None  # file it was loaded from (not saved)

    def __post_init__(self) -> None:
        where = self.path or "test set"
        if self.src.shape != self.tgt.shape or self.src.ndim != 4 or self.src.shape[-1] != 3:
            raise TestSetError(f"{where}: src/tgt must both be (P, S, S, 3), got {self.src.shape}, {self.tgt.shape}")
        if self.src.shape[1] != self.src.shape[2]:
            raise TestSetError(f"{where}: images must be square, got {self.src.shape[1:3]}")
        if self.src.dtype != np.uint8 or self.tgt.dtype != np.uint8:
            raise TestSetError(f"{where}: src/tgt must be uint8 images, got {self.src.dtype}, {self.tgt.dtype}")
        if not 1 <= self.patch_size <= self.img_size:
            raise TestSetError(f"{where}: patch_size must be in [1, img_size {self.img_size}], got {self.patch_size}")
        if self.img_size % self.patch_size:
            raise TestSetError(f"{where}: img_size {self.img_size} is not a multiple of patch_size {self.patch_size}")
        n = len(self)
        for name in ("life", "src_index", "tgt_index", "src_time", "tgt_time", "video"):
            value = np.asarray(getattr(self, name))
            if value.shape != (n,):
                raise TestSetError(f"{where}: {name} must have one entry per pair ({n}), got shape {value.shape}")
        for name, shape in (("src_K", (3, 3)), ("tgt_K", (3, 3)), ("src_pose", (4, 4)), ("tgt_pose", (4, 4))):
            value = getattr(self, name)
            if value is not None and (np.asarray(value).shape != (n, *shape) or not np.isfinite(value).all()):
                raise TestSetError(f"{where}: {name} must be finite with shape {(n, *shape)}, got {np.asarray(value).shape}")
        if self.gt is not None:
            if self.gt.shape != (n, self.num_patches):
                raise TestSetError(f"{where}: gt must be (P, N) = {(n, self.num_patches)}, got {self.gt.shape}")
            if not np.issubdtype(self.gt.dtype, np.integer) or (self.gt.size and (self.gt.min() < -1 or self.gt.max() >= self.num_patches)):
                raise TestSetError(f"{where}: gt must hold source patch indices in [-1, {self.num_patches}) (-1 = not visible)")
        if not isinstance(self.meta, dict):
            raise TestSetError(f"{where}: meta must be a JSON object, got {type(self.meta).__name__}")

    def __len__(self) -> int:
        return int(self.src.shape[0])

    @property
    def img_size(self) -> int:
        return int(self.src.shape[1])

    @property
    def grid(self) -> int:
        return self.img_size // self.patch_size

    @property
    def num_patches(self) -> int:
        return self.grid * self.grid

    @property
    def has_gt(self) -> bool:
        return self.gt is not None

    @property
    def gt_valid(self) -> np.ndarray | None:
        """(P, N) bool: target patches with a visible ground-truth correspondence."""
        return None if self.gt is None else self.gt >= 0

    def check_model(self, img_size: int, patch_size: int, who: str = "model") -> None:
        """Raise a clear error if a model with this input size / patch size cannot be scored here."""
        if img_size != self.img_size or patch_size != self.patch_size:
            raise TestSetError(
                f"{self.path or 'test set'}: made at img_size={self.img_size}, patch_size={self.patch_size}, "
                f"but {who} uses img_size={img_size}, patch_size={patch_size}; make a test set at that size "
                f"(slife align testset LIFE... --model RUN, or --img-size {img_size} --patch-size {patch_size})"
            )

    def subset(self, idx: Sequence[int] | np.ndarray) -> "TestSet":
        """The pairs ``idx`` as a new test set."""
        idx = np.asarray(idx, dtype=np.int64)
        opt = lambda a: None if a is None else a[idx]  # noqa: E731
        return TestSet(
            src=self.src[idx], tgt=self.tgt[idx], patch_size=self.patch_size, life=self.life[idx],
            src_index=self.src_index[idx], tgt_index=self.tgt_index[idx], src_time=self.src_time[idx],
            tgt_time=self.tgt_time[idx], video=self.video[idx], gt=opt(self.gt), src_K=opt(self.src_K),
            tgt_K=opt(self.tgt_K), src_pose=opt(self.src_pose), tgt_pose=opt(self.tgt_pose),
            meta=dict(self.meta), path=self.path,
        )  # fmt: skip

    def swapped(self) -> "TestSet":
        """The same pairs with the two views exchanged (the source view becomes the target): the
        swapped pass of CAS's ``source`` direction. Its ground truth, when this set has one, is
        :func:`inverse_gt` of this one's (source patch -> a target patch that sees the same point)."""
        return TestSet(
            src=self.tgt, tgt=self.src, patch_size=self.patch_size, life=self.life, src_index=self.tgt_index,
            tgt_index=self.src_index, src_time=self.tgt_time, tgt_time=self.src_time, video=self.video,
            gt=None if self.gt is None else inverse_gt(self.gt, self.grid), src_K=self.tgt_K, tgt_K=self.src_K,
            src_pose=self.tgt_pose, tgt_pose=self.src_pose, meta={**self.meta, "swapped": True}, path=self.path,
        )  # fmt: skip

    def summary(self) -> dict[str, Any]:
        lives, counts = np.unique(self.life, return_counts=True)
        gaps = np.abs(self.tgt_time - self.src_time)
        out: dict[str, Any] = {
            "path": self.path,
            "pairs": len(self),
            "img_size": self.img_size,
            "patch_size": self.patch_size,
            "lives": {str(n): int(c) for n, c in zip(lives, counts)},
            "gap_seconds": [float(gaps.min()), float(gaps.max())] if len(gaps) else None,
            "ground_truth": self.has_gt,
        }  # fmt: skip
        if "rotate" in self.meta:
            out["source_warp"] = {k: self.meta.get(k) for k in ("rotate", "zoom", "exposure")}
        if self.gt is not None:
            out["gt_visible_fraction"] = float((self.gt >= 0).mean()) if self.gt.size else 0.0
            out["displacement"] = displacement_histogram(self.gt, self.grid)
        return out

    # ---- file format --------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the test set to one ``.npz`` file atomically (temp file + rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {
            "format": np.array(FORMAT),
            "meta": np.array(json.dumps(self.meta)),
            "patch_size": np.array(self.patch_size, dtype=np.int64),
            "src": self.src, "tgt": self.tgt, "life": self.life.astype(str),
            "src_index": self.src_index, "tgt_index": self.tgt_index,
            "src_time": self.src_time, "tgt_time": self.tgt_time, "video": self.video,
        }  # fmt: skip
        for name in ("gt", "src_K", "tgt_K", "src_pose", "tgt_pose"):
            value = getattr(self, name)
            if value is not None:
                arrays[name] = value
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        from slife.atomic import write_bytes_atomic

        write_bytes_atomic(path, buf.getvalue())
        self.path = str(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "TestSet":
        path = Path(path)
        if not path.is_file():
            raise TestSetError(f"{path}: test set not found (make one with `slife align testset`)")
        from slife.npzfile import load_npz

        try:
            with load_npz(path, MAX_BYTES) as data:  # sizes checked before anything is decompressed
                if "format" not in data or str(data["format"]) != FORMAT:
                    raise TestSetError(f"{path}: not a slife test set (expected format {FORMAT})")
                arrays = {name: data[name] for name in data.files}
        except TestSetError:
            raise
        except Exception as exc:  # zipfile / numpy raise many types for corrupt files
            raise TestSetError(f"{path}: cannot read test set: {exc}") from exc
        if len(arrays.get("src", ())) == 0:
            raise TestSetError(f"{path}: the test set holds no pairs")
        try:
            return cls(
                src=arrays["src"], tgt=arrays["tgt"], patch_size=int(arrays["patch_size"]),
                life=arrays["life"], src_index=arrays["src_index"], tgt_index=arrays["tgt_index"],
                src_time=arrays["src_time"], tgt_time=arrays["tgt_time"], video=arrays["video"],
                gt=arrays.get("gt"), src_K=arrays.get("src_K"), tgt_K=arrays.get("tgt_K"),
                src_pose=arrays.get("src_pose"), tgt_pose=arrays.get("tgt_pose"),
                meta=json.loads(str(arrays["meta"])), path=str(path),
            )  # fmt: skip
        except KeyError as exc:
            raise TestSetError(f"{path}: test set lacks array {exc}") from exc
        except TestSetError:
            raise
        except (TypeError, ValueError) as exc:  # patch_size not a number, meta not JSON, arrays of the wrong kind
            raise TestSetError(f"{path}: malformed test set: {exc}") from exc


# ---- ground truth -------------------------------------------------------------------------------
def inverse_gt(gt: np.ndarray, grid: int) -> np.ndarray:
    """(P, N) target patch of each source patch from a target -> source ``gt`` (P, N), -1 where no
    target patch maps to it. [ours] Several target patches can map to one source patch (the source
    view is zoomed out); the one nearest (Euclidean, on the grid) to their mean position wins, ties to
    the lower index. Approximate: the true inverse would need the source view's depth."""
    gt = np.asarray(gt, dtype=np.int64)
    p, n = gt.shape
    rc = np.stack(np.divmod(np.arange(n), grid), axis=1).astype(np.float64)  # (N, 2)
    out = np.full((p, n), -1, dtype=np.int64)
    for i in range(p):
        valid = gt[i] >= 0
        tgt_idx, src_idx = np.nonzero(valid)[0], gt[i][valid]
        for s in np.unique(src_idx):
            members = tgt_idx[src_idx == s]
            d = ((rc[members] - rc[members].mean(axis=0)) ** 2).sum(axis=1)
            out[i, s] = members[np.argmin(d)]  # argmin: first (lowest index) among ties
    return out


def patch_centers(img_size: int, patch_size: int) -> np.ndarray:
    """(N, 2) continuous (x, y) centres of the patches of an ``img_size`` crop, row-major."""
    g = img_size // patch_size
    c = (np.arange(g) + 0.5) * patch_size
    gx, gy = np.meshgrid(c, c)
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def patch_index(xy: np.ndarray, img_size: int, patch_size: int) -> np.ndarray:
    """Row-major patch index of crop points ``xy`` (M, 2); -1 outside the crop."""
    g = img_size // patch_size
    finite = np.isfinite(xy).all(axis=1)
    xy = np.where(finite[:, None], xy, -1.0)
    col = np.floor(xy[:, 0] / patch_size).astype(np.int64)
    row = np.floor(xy[:, 1] / patch_size).astype(np.int64)
    ok = finite & (col >= 0) & (col < g) & (row >= 0) & (row < g)
    return np.where(ok, row * g + col, -1)


def gt_patch_correspondences(
    depth_tgt: np.ndarray,
    K_tgt: np.ndarray,
    pose_tgt: np.ndarray,
    crop_tgt: Any,
    depth_src: np.ndarray,
    K_src: np.ndarray,
    pose_src: np.ndarray,
    crop_src: Any,
    img_size: int,
    patch_size: int,
    rel_tol: float = 0.05,
) -> np.ndarray:
    """For each target patch centre of the crop, the source crop patch that sees the same 3D point.

    Geometry runs in the stored frames' pixel coordinates (their own depth and intrinsics, no depth
    resampling); crop coordinates follow through the CropMaps, which is the same as using
    ``CropMap.intrinsics``. -1 where the point has no depth, is occluded or outside the source crop.
    """
    from slife.geometry import correspondences

    xy_t = crop_tgt.invert(patch_centers(img_size, patch_size))
    xy_s, valid = correspondences(xy_t, depth_tgt, K_tgt, pose_tgt, depth_src, K_src, pose_src, rel_tol)
    idx = patch_index(crop_src.apply(np.where(valid[:, None], xy_s, np.nan)), img_size, patch_size)
    return np.where(valid, idx, -1)


# ---- pair picking -------------------------------------------------------------------------------
def life_seed(seed: int, name: str) -> np.random.Generator:
    """A generator for one life: independent of the other lives in the test set."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode("utf-8"))])


def temporal_candidates(timestamps: np.ndarray, video: np.ndarray, gap: tuple[float, float]) -> list[np.ndarray]:
    """For each frame, the frames of the same video whose time difference lies in ``gap``."""
    out = []
    for i in range(len(timestamps)):
        dt = np.abs(timestamps - timestamps[i])
        out.append(np.flatnonzero((video == video[i]) & (dt >= gap[0]) & (dt <= gap[1])))
    return out


def spatial_candidates(num_frames: int, pairs: np.ndarray) -> list[np.ndarray]:
    """For each frame, its partners in a spatial pair index ((P, 2) frame pairs, either order)."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    both = np.concatenate([pairs, pairs[:, ::-1]]) if len(pairs) else pairs
    order = np.lexsort((both[:, 1], both[:, 0])) if len(both) else np.zeros(0, np.int64)
    both = both[order]
    starts = np.searchsorted(both[:, 0], np.arange(num_frames + 1)) if len(both) else np.zeros(num_frames + 1, int)
    return [both[starts[i] : starts[i + 1], 1] for i in range(num_frames)]


def pick_pairs(
    cands: list[np.ndarray],
    n_pairs: int,
    rng: np.random.Generator,
    accept: Any = None,
    max_tries: int = 20,
) -> list[tuple[int, int]]:
    """``n_pairs`` distinct (source, target) frame pairs, anchors spread evenly over the life.

    ``cands[i]`` lists the frames that may pair with frame ``i``. The frames with a partner are split
    into ``n_pairs`` consecutive strata; each stratum gives one anchor, the partner is uniform among its
    candidates, and the order of the two is random. ``accept(src, tgt) -> bool`` can reject a pair
    (retried up to ``max_tries`` times per stratum, then drawn from anywhere).
    """
    anchors = np.array([i for i, c in enumerate(cands) if len(c)], dtype=np.int64)
    if len(anchors) == 0:
        return []
    strata = np.array_split(anchors, min(n_pairs, len(anchors)))
    pairs: list[tuple[int, int]] = []
    seen: set[tuple[int, int]] = set()

    def draw(pool: np.ndarray) -> tuple[int, int] | None:
        for _ in range(max_tries):
            a = int(rng.choice(pool))
            b = int(rng.choice(cands[a]))
            pair = (a, b) if rng.random() < 0.5 else (b, a)
            if pair in seen or (pair[1], pair[0]) in seen:
                continue
            if accept is None or accept(*pair):
                return pair
        return None

    for stratum in strata:
        pair = draw(stratum)
        if pair is None:
            pair = draw(anchors)
        if pair is not None:
            pairs.append(pair)
            seen.add(pair)
    while len(pairs) < n_pairs:  # fewer anchors than pairs: fill from anywhere
        pair = draw(anchors)
        if pair is None:
            break
        pairs.append(pair)
        seen.add(pair)
    return pairs


def pick_temporal_pairs(
    timestamps: np.ndarray,
    video: np.ndarray,
    n_pairs: int,
    gap: tuple[float, float],
    rng: np.random.Generator,
    accept: Any = None,
    max_tries: int = 20,
) -> list[tuple[int, int]]:
    """:func:`pick_pairs` among frames of the same video whose time difference lies in ``gap``."""
    cands = temporal_candidates(np.asarray(timestamps, np.float64), np.asarray(video), gap)
    return pick_pairs(cands, n_pairs, rng, accept, max_tries)


def gt_displacement(gt: np.ndarray, grid: int) -> np.ndarray:
    """Chebyshev distance, in patches, from each target patch (last axis, row-major) to its true source
    patch ``gt``; -1 where ``gt`` is -1. The identity map is exact exactly where it is 0."""
    gt = np.asarray(gt)
    own_r, own_c = np.divmod(np.arange(gt.shape[-1]), grid)
    tr, tc = np.divmod(gt, grid)
    d = np.maximum(np.abs(tr - own_r), np.abs(tc - own_c))
    return np.where(gt >= 0, d, -1)


MOVING_MIN_PATCHES = 2  # a target patch "moves" when its true source patch is >= 2 patches away


def displacement_histogram(gt: np.ndarray, grid: int, max_bin: int = 8) -> dict[str, Any]:
    """Target patches with GT counted by true displacement (patches, Chebyshev; the last bin is
    ``>= max_bin``), and the fraction that move (>= 2 patches): what the position prior cannot explain."""
    d = gt_displacement(gt, grid)
    d = d[d >= 0]
    counts = np.bincount(np.minimum(d, max_bin), minlength=max_bin + 1)
    return {
        "bins": [str(i) for i in range(max_bin)] + [f">={max_bin}"],
        "counts": counts.tolist(),
        "patches_with_gt": int(len(d)),
        "moving_fraction": float((d >= MOVING_MIN_PATCHES).mean()) if len(d) else float("nan"),
    }


SAMPLERS = ("temporal", "spatial")


def pair_warp(seed: int, life: str, src: int, tgt: int, rotate: float, zoom: float, exposure: float = 0.0
              ) -> tuple[float, float, tuple[float, float, float]]:
    """(degrees, zoom, (brightness, contrast, saturation)) of the source view of one test pair: |angle|
    uniform in [rotate/2, rotate] with a random sign, zoom log-uniform in [1/zoom, zoom], colour factors
    uniform in [1 - exposure, 1 + exposure]; a function of the pair alone, so the warp does not depend
    on which pairs were tried before."""
    from slife.pairs.augment import draw_jitter

    rng = np.random.default_rng([int(seed), zlib.crc32(life.encode("utf-8")), int(src), int(tgt), 0x3A9])
    angle = float(rng.uniform(rotate / 2.0, rotate) * rng.choice([-1.0, 1.0])) if rotate else 0.0
    z = float(np.exp(rng.uniform(-np.log(zoom), np.log(zoom)))) if zoom != 1.0 else 1.0
    bcs = draw_jitter(rng, exposure) if exposure else (1.0, 1.0, 1.0)
    return angle, z, bcs


def testset_grid(img_size: int | None = None, patch_size: int | None = None,
                 model: str | Path | None = None) -> tuple[int, int]:  # fmt: skip
    """The ``(img_size, patch_size)`` of a test set for ``model`` (a run directory or checkpoint file):
    the model's; without one, the sizes given, else the default model config's. A size given that is
    not the model's is refused (one line naming the checkpoint): the model could not read the set."""
    if model is None:
        from slife.model.config import ModelConfig

        default = ModelConfig()
        return (default.img_size if img_size is None else img_size, default.patch_size if patch_size is None else patch_size)
    from slife.model.checkpoint import read_meta, resolve_checkpoint

    path = resolve_checkpoint(model)
    cfg = read_meta(path).model()
    for flag, given, its in (("img-size", img_size, cfg.img_size), ("patch-size", patch_size, cfg.patch_size)):
        if given is not None and given != its:
            raise TestSetError(f"{path}: the model reads {cfg.img_size} px images in {cfg.patch_size} px patches, "
                               f"not --{flag} {given}; leave it out to size the test set for the model")  # fmt: skip
    return cfg.img_size, cfg.patch_size


def make_testset(
    life_dirs: Sequence[str | Path],
    n_pairs_per_life: int = 50,
    img_size: int | None = None,
    seed: int = 0,
    gap: tuple[float, float] = (0.5, 5.0),
    patch_size: int | None = None,
    min_overlap: float = 0.3,
    ground_truth: bool | None = None,
    sampler: str = "temporal",
    min_moving: float = 0.0,
    jaccard: tuple[float, float] = (0.3, 0.9),
    rotate: float = 0.0,
    zoom: float = 1.0,
    exposure: float = 0.0,
) -> TestSet:
    """Draw pairs from each life, crop them to ``img_size`` and (with depth + poses) add GT.

    ``img_size`` / ``patch_size``: the models' (None: the default model config's, :func:`testset_grid`).

    ``sampler``: ``temporal`` (frames of one take ``gap`` seconds apart) or ``spatial`` (frames
    anywhere in the life whose visible 3D point sets overlap with Jaccard in ``jaccard``, from the
    cached spatial pair index of slife.pairs.spatial; needs depth + poses).
    ``ground_truth``: None = when every life has depth and poses; True = require it; False = skip.
    ``min_overlap``: with GT, the least fraction of target patches that must see the source.
    ``min_moving``: with GT, the least fraction of those whose true source patch is >= 2 patches away
    (real motion, where the identity map is wrong).
    ``rotate``, ``zoom``: the source view of every pair is rotated by an angle of magnitude uniform in
    [rotate/2, rotate] degrees (random sign) and zoomed by a factor log-uniform in [1/zoom, zoom]
    about its centre, ground truth following (:func:`pair_warp`): a test set where matching by
    translation fails (pixel matching is weak there), on top of the viewpoint change of the pairs.
    ``exposure``: the source view's brightness, contrast and saturation are also scaled by factors in
    [1 - exposure, 1 + exposure] (slife.pairs.augment's colour jitter), as auto-exposure does between
    real views.
    """
    from slife.imaging import resize_center_crop, rotated_zoomed_crop
    from slife.pairs.augment import apply_jitter
    from slife.life import Life

    img_size, patch_size = testset_grid(img_size, patch_size)
    if not life_dirs:
        raise TestSetError("make_testset: give at least one life directory")
    if n_pairs_per_life < 1:
        raise TestSetError(f"make_testset: pairs per life must be >= 1, got {n_pairs_per_life}")
    if not 0 <= gap[0] <= gap[1] or gap[1] <= 0:
        raise TestSetError(f"make_testset: gap must be 0 <= min <= max (max > 0), got {tuple(gap)}")
    if not (1 <= patch_size <= img_size):
        raise TestSetError(f"make_testset: need 1 <= patch_size <= img_size, got patch_size {patch_size}, img_size {img_size}")
    if img_size % patch_size:
        raise TestSetError(f"make_testset: img_size {img_size} is not a multiple of patch_size {patch_size}")
    if sampler not in SAMPLERS:
        raise TestSetError(f"make_testset: sampler must be one of {list(SAMPLERS)}, got {sampler!r}")
    if not 0.0 <= min_moving <= 1.0:
        raise TestSetError(f"make_testset: min_moving must be in [0, 1], got {min_moving}")
    if not 0.0 <= rotate <= 180.0:
        raise TestSetError(f"make_testset: rotate must be in [0, 180] degrees, got {rotate}")
    if not 1.0 <= zoom <= 4.0:
        raise TestSetError(f"make_testset: zoom must be in [1, 4], got {zoom}")
    if not 0.0 <= exposure < 1.0:
        raise TestSetError(f"make_testset: exposure must be in [0, 1), got {exposure}")
    warped = bool(rotate or zoom != 1.0 or exposure)
    lives = [Life.open(d) for d in life_dirs]
    names = [life.name for life in lives]
    if len(set(names)) != len(names):
        raise TestSetError(f"make_testset: life names must be distinct, got {names}")
    all_gt = all(life.has_depth and life.has_poses for life in lives)
    if ground_truth and not all_gt:
        lacking = [str(life.dir) for life in lives if not (life.has_depth and life.has_poses)]
        raise TestSetError(f"{lacking[0]}: ground truth asked for but this life has no depth + poses")
    use_gt = all_gt if ground_truth is None else bool(ground_truth)
    if sampler == "spatial" and not all_gt:
        lacking = [str(life.dir) for life in lives if not (life.has_depth and life.has_poses)]
        raise TestSetError(f"{lacking[0]}: the spatial test-set sampler needs depth + poses")
    if min_moving > 0 and not use_gt:
        raise TestSetError("make_testset: min_moving needs ground truth (lives with depth + poses)")

    rows: dict[str, list[Any]] = {k: [] for k in ("src", "tgt", "life", "si", "ti", "st", "tt", "video",
                                                   "gt", "sK", "tK", "sP", "tP", "warp")}  # fmt: skip
    for life in lives:
        crop_cache: dict[int, tuple[np.ndarray, Any]] = {}

        def crop(i: int) -> tuple[np.ndarray, Any]:
            if i not in crop_cache:
                crop_cache[i] = resize_center_crop(life.image(i), img_size)
            return crop_cache[i]

        warp_cache: dict[tuple[int, int], tuple[np.ndarray, Any]] = {}

        def src_crop(s: int, t: int) -> tuple[np.ndarray, Any]:
            """The source view of the pair (s, t): the plain crop, or rotated and zoomed."""
            if not warped:
                return crop(s)
            if (s, t) not in warp_cache:
                angle, z, bcs = pair_warp(seed, life.name, s, t, rotate, zoom, exposure)
                image, where = rotated_zoomed_crop(life.image(s), img_size, angle, z)
                warp_cache[(s, t)] = (apply_jitter(image, *bcs) if exposure else image), where
            return warp_cache[(s, t)]

        gt_cache: dict[tuple[int, int], np.ndarray] = {}

        def gt_of(s: int, t: int) -> np.ndarray:
            if (s, t) not in gt_cache:
                gt_cache[(s, t)] = gt_patch_correspondences(
                    life.depth(t), life.intrinsics[t], life.poses[t], crop(t)[1],
                    life.depth(s), life.intrinsics[s], life.poses[s], src_crop(s, t)[1], img_size, patch_size,
                )  # fmt: skip
            return gt_cache[(s, t)]

        def accept_gt(s: int, t: int) -> bool:
            gt = gt_of(s, t)
            visible = gt >= 0
            if float(visible.mean()) < min_overlap or not visible.any():
                return False
            moving = gt_displacement(gt, img_size // patch_size)[visible] >= MOVING_MIN_PATCHES
            return float(moving.mean()) >= min_moving

        accept = accept_gt if use_gt and (min_overlap > 0 or min_moving > 0) else None
        rng = life_seed(seed, life.name)
        if sampler == "spatial":
            from slife.pairs.spatial import SpatialConfig, spatial_index

            index = spatial_index(life, SpatialConfig(lo=jaccard[0], hi=jaccard[1]))
            cands = spatial_candidates(len(life), index.pairs)
            pairs = pick_pairs(cands, n_pairs_per_life, rng, accept, max_tries=50)
            what = f"spatial pairs (Jaccard in [{jaccard[0]}, {jaccard[1]}], {len(index.pairs)} in the index)"
            widen = "widen --jaccard"
        else:
            pairs = pick_temporal_pairs(life.timestamps, life.segment_index, n_pairs_per_life, tuple(gap), rng, accept)
            what = f"pairs with a gap in [{gap[0]}, {gap[1]}] s within one take"
            widen = "widen --gap"
        if len(pairs) < n_pairs_per_life:
            hint = " or lower --min-overlap / --min-moving" if accept is not None else ""
            raise TestSetError(
                f"{life.dir}: found only {len(pairs)} of {n_pairs_per_life} {what}; ask for fewer pairs, {widen}{hint}"
            )
        for s, t in pairs:
            rows["src"].append(src_crop(s, t)[0])
            rows["tgt"].append(crop(t)[0])
            rows["life"].append(life.name)
            rows["si"].append(s)
            rows["ti"].append(t)
            rows["st"].append(life.timestamps[s])
            rows["tt"].append(life.timestamps[t])
            rows["video"].append(life.video_index[s])
            if warped:
                angle, z, bcs = pair_warp(seed, life.name, s, t, rotate, zoom, exposure)
                rows["warp"].append([round(angle, 4), round(z, 4), *(round(v, 4) for v in bcs)])
            if use_gt:
                rows["gt"].append(gt_of(s, t))
                rows["sK"].append(src_crop(s, t)[1].intrinsics(life.intrinsics[s]))
                rows["tK"].append(crop(t)[1].intrinsics(life.intrinsics[t]))
                rows["sP"].append(life.poses[s])
                rows["tP"].append(life.poses[t])
        life.close()

    stack = lambda key, dtype: np.stack(rows[key]).astype(dtype) if use_gt else None  # noqa: E731
    meta = {
        "seed": int(seed),
        "gap": [float(gap[0]), float(gap[1])],
        "pairs_per_life": int(n_pairs_per_life),
        "min_overlap": float(min_overlap) if use_gt else None,
        "min_moving": float(min_moving) if use_gt else None,
        "lives": {life.name: str(Path(life.dir).resolve()) for life in lives},
        "sampler": "temporal-stratified" if sampler == "temporal" else "spatial-stratified",
    }
    if warped:
        meta["rotate"], meta["zoom"], meta["exposure"] = float(rotate), float(zoom), float(exposure)
        meta["source_warp"] = rows["warp"]  # per pair: degrees, zoom, brightness, contrast, saturation
    if sampler == "spatial":
        meta["jaccard"] = [float(jaccard[0]), float(jaccard[1])]
    return TestSet(
        src=np.stack(rows["src"]).astype(np.uint8), tgt=np.stack(rows["tgt"]).astype(np.uint8),
        patch_size=patch_size, life=np.array(rows["life"], dtype=str),
        src_index=np.array(rows["si"], np.int64), tgt_index=np.array(rows["ti"], np.int64),
        src_time=np.array(rows["st"], np.float64), tgt_time=np.array(rows["tt"], np.float64),
        video=np.array(rows["video"], np.int64), gt=stack("gt", np.int64), src_K=stack("sK", np.float64),
        tgt_K=stack("tK", np.float64), src_pose=stack("sP", np.float64), tgt_pose=stack("tP", np.float64),
        meta=meta,
    )  # fmt: skip
