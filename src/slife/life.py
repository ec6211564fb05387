"""The life format: a random-access frame store for one person's ordered videos.

A life directory holds::

    life.json                  manifest (LifeManifest): fps, short side, one entry per finished video
    shards/NNNNN_<stem>.tar    one tar per source video: NNNNNN.jpg (+ NNNNNN.depth.png, uint16 mm)
    shards/NNNNN_<stem>.npz    per-frame index: local timestamps, byte offsets into the tar,
                               optional camera-to-world poses (OpenCV axes) and intrinsics (pixels of
                               the stored image)

The tar is a plain USTAR archive (``tar tf`` lists it), and the npz stores each member's data offset
so frames are read with one ``pread``. Shards are written to temporary names and renamed on commit,
then the manifest is replaced atomically: a video is either fully in the life or not at all.
Timestamps in shards are per video; global timestamps (seconds since the life started) are the
concatenation of the videos in manifest order.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

import numpy as np
from PIL import Image

from slife.atomic import write_text_atomic
from slife.errors import SlifeError
from slife.imagefile import open_image
from slife.npzfile import load_npz

MANIFEST = "life.json"
FORMAT = "slife-life/1"
SHARD_DIR = "shards"
DEPTH_SCALE = 1000.0  # depth PNGs store millimetres
_TAR_HEADER = 512
MAX_INDEX_BYTES = 1 << 30  # the arrays of one shard index (~250 bytes a frame), checked before they are read


class LifeFormatError(SlifeError):
    """A life directory or shard is missing or malformed; the message names the file."""


class Frame(NamedTuple):
    image: np.ndarray  # H x W x 3 uint8 RGB
    timestamp: float  # seconds since the life started


@dataclass
class VideoEntry:
    """One finished source video of a life."""

    source: str  # the source file as given (or a generator name for synthetic lives)
    shard: str  # tar path relative to the life directory
    index: str  # npz path relative to the life directory
    order: int  # position of this video in the life's ordered list
    frames: int
    duration: float  # seconds of video covered
    width: int
    height: int
    fingerprint: str = ""  # size:mtime_ns of the source, to notice changed inputs on resume
    warning: str | None = None  # e.g. a corrupt stream that was only partly recovered


@dataclass
class LifeManifest:
    name: str
    fps: float
    short_side: int
    kind: str = "video"  # video (ingested), world (synthetic), diverse (control clips; "nonlife" in older
    # renders), static (fixed cameras), screen (screen recordings), deadleaves (unrelated synthetic images)
    has_depth: bool = False
    has_poses: bool = False
    videos: list[VideoEntry] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    format: str = FORMAT

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1)

    def check(self, where: str) -> None:
        """Ranges the types do not say: positive rates and sizes, finite durations, unique orders."""
        if not (math.isfinite(self.fps) and self.fps > 0) or self.short_side < 1:
            raise LifeFormatError(f"{where}: fps must be > 0 and short_side >= 1, got {self.fps}, {self.short_side}")
        for v in self.videos:
            if v.frames < 0 or not (math.isfinite(v.duration) and v.duration >= 0) or v.width < 1 or v.height < 1:
                raise LifeFormatError(f"{where}: video {v.source!r}: frames, duration, width and height must be "
                                      f"non-negative and finite (sizes >= 1)")  # fmt: skip
        orders = [v.order for v in self.videos]
        if len(set(orders)) != len(orders):
            raise LifeFormatError(f"{where}: two videos share an order number: {sorted(orders)}")

    @classmethod
    def from_json(cls, text: str, where: str) -> "LifeManifest":
        """Parse and check a manifest: every field has its type and range, every path stays in the life."""
        from slife.config import ConfigError, from_dict

        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise LifeFormatError(f"{where}: malformed life manifest: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise LifeFormatError(f"{where}: not a slife life manifest (format {found!r})")
        try:
            manifest = from_dict(cls, data, "life.json")
        except ConfigError as exc:
            raise LifeFormatError(f"{where}: malformed life manifest: {exc}") from exc
        manifest.check(where)
        for v in manifest.videos:
            for rel in (v.shard, v.index):
                check_shard_path(rel, where)
        return manifest


def check_shard_path(rel: Any, where: str) -> None:
    """Refuse a manifest path that is not a plain file name under ``shards/``: slife reads and, on
    re-ingest, deletes the files a manifest names, so a crafted ``life.json`` must not reach outside."""
    parts = PurePosixPath(rel).parts if isinstance(rel, str) else ()
    ok = len(parts) == 2 and parts[0] == SHARD_DIR and not parts[1].startswith(".") and "\\" not in parts[1]
    if not ok:
        raise LifeFormatError(f"{where}: video file {rel!r} is not a file under {SHARD_DIR}/ of the life; refusing it")


def read_manifest(life_dir: str | Path) -> LifeManifest | None:
    """The manifest of ``life_dir``, or None if the directory holds no life yet."""
    path = Path(life_dir) / MANIFEST
    if not path.exists():
        return None
    manifest = LifeManifest.from_json(path.read_text(encoding="utf-8"), str(path))
    root = (Path(life_dir) / SHARD_DIR).resolve()
    for v in manifest.videos:
        for rel in (v.shard, v.index):
            if (Path(life_dir) / rel).resolve().parent != root:  # a symlink out of the life
                raise LifeFormatError(f"{path}: video file {rel!r} resolves outside {root}; refusing it")
    return manifest


def write_manifest(life_dir: str | Path, manifest: LifeManifest) -> None:
    """Atomically replace the manifest (write a temp file, fsync, rename)."""
    path = Path(life_dir) / MANIFEST
    write_text_atomic(path, manifest.to_json())


def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def decode_jpeg(data: bytes) -> np.ndarray:
    with open_image(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"))


def encode_depth_png(depth_m: np.ndarray) -> bytes:
    """Metric depth (metres, 0/inf/nan = invalid) -> 16-bit PNG in millimetres (0 = invalid)."""
    depth = np.nan_to_num(np.asarray(depth_m, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    mm = np.clip(np.round(depth * DEPTH_SCALE), 0, 65535).astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(mm).save(buf, format="PNG", compress_level=1)  # fast; ~40 % larger than level 6
    return buf.getvalue()


def decode_depth_png(data: bytes) -> np.ndarray:
    """16-bit PNG in millimetres -> float32 metres (0 = invalid)."""
    with open_image(io.BytesIO(data)) as img:
        return np.asarray(img, dtype=np.float32) / DEPTH_SCALE


def source_fingerprint(path: str | Path) -> str:
    st = Path(path).stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def _safe_stem(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(text).stem)[:60] or "video"


class ShardWriter:
    """Writes one video's frames into a tar shard + npz index; nothing is visible until ``commit``."""

    def __init__(self, life_dir: Path, stem: str, with_depth: bool = False, with_poses: bool = False):
        self.life_dir = Path(life_dir)
        (self.life_dir / SHARD_DIR).mkdir(parents=True, exist_ok=True)
        self.tar_rel = f"{SHARD_DIR}/{stem}.tar"
        self.npz_rel = f"{SHARD_DIR}/{stem}.npz"
        self._tmp_tar = self.life_dir / f"{self.tar_rel}.partial"
        self._tmp_npz = self.life_dir / f"{self.npz_rel}.partial"
        self.with_depth = with_depth
        self.with_poses = with_poses
        self._fh = open(self._tmp_tar, "wb")
        self._tar = tarfile.open(fileobj=self._fh, mode="w", format=tarfile.USTAR_FORMAT)
        self._timestamps: list[float] = []
        self._source_frames: list[int] = []
        self._jpeg: list[tuple[int, int]] = []
        self._depth: list[tuple[int, int]] = []
        self._poses: list[np.ndarray] = []
        self._intrinsics: list[np.ndarray] = []
        self.width = 0
        self.height = 0

    def __len__(self) -> int:
        return len(self._timestamps)

    def _add_member(self, name: str, data: bytes) -> tuple[int, int]:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        offset = self._tar.offset + _TAR_HEADER  # USTAR header for a short name is one block
        self._tar.addfile(info, io.BytesIO(data))
        return offset, len(data)

    def add(
        self,
        image: np.ndarray | None = None,
        timestamp: float = 0.0,
        *,
        jpeg: bytes | None = None,
        quality: int = 90,
        depth: np.ndarray | None = None,
        pose: np.ndarray | None = None,
        intrinsics: np.ndarray | None = None,
        source_frame: int = -1,
    ) -> None:
        """Append one frame (an RGB uint8 array, or already-encoded JPEG bytes) at a local timestamp."""
        if jpeg is None:
            if image is None:
                raise ValueError("ShardWriter.add needs an image or jpeg bytes")
            jpeg = encode_jpeg(image, quality)
        if image is not None:
            self.height, self.width = image.shape[:2]
        elif not self.width:
            with Image.open(io.BytesIO(jpeg)) as img:
                self.width, self.height = img.size
        i = len(self._timestamps)
        self._jpeg.append(self._add_member(f"{i:06d}.jpg", jpeg))
        if self.with_depth:
            if depth is None:
                raise ValueError("this shard stores depth: pass depth= for every frame")
            self._depth.append(self._add_member(f"{i:06d}.depth.png", encode_depth_png(depth)))
        if self.with_poses:
            if pose is None or intrinsics is None:
                raise ValueError("this shard stores poses: pass pose= and intrinsics= for every frame")
            self._poses.append(np.asarray(pose, dtype=np.float64).reshape(4, 4))
            self._intrinsics.append(np.asarray(intrinsics, dtype=np.float64).reshape(3, 3))
        self._timestamps.append(float(timestamp))
        self._source_frames.append(int(source_frame))

    def commit(self) -> None:
        """Close the tar, write the index, and rename both into place."""
        self.finish().commit()

    def finish(self) -> "FinishedShard":
        """Close the tar and write the index, still under their ``.partial`` names: a shard another
        process can commit (``slife ingest --jobs``: workers write, the life's writer commits in order)."""
        self._tar.close()
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        arrays: dict[str, np.ndarray] = {
            "timestamps": np.asarray(self._timestamps, dtype=np.float64),
            "source_frame": np.asarray(self._source_frames, dtype=np.int64),
            "jpeg": np.asarray(self._jpeg, dtype=np.int64).reshape(-1, 2),
        }
        if self.with_depth:
            arrays["depth"] = np.asarray(self._depth, dtype=np.int64).reshape(-1, 2)
        if self.with_poses:
            arrays["poses"] = np.asarray(self._poses, dtype=np.float64).reshape(-1, 4, 4)
            arrays["intrinsics"] = np.asarray(self._intrinsics, dtype=np.float64).reshape(-1, 3, 3)
        with open(self._tmp_npz, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        return FinishedShard(self.life_dir, self.tar_rel, self.npz_rel, len(self), self.width, self.height)

    def abort(self) -> None:
        """Drop everything written so far."""
        try:
            self._tar.close()
            self._fh.close()
        finally:
            for tmp in (self._tmp_tar, self._tmp_npz):
                tmp.unlink(missing_ok=True)

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None and not self._fh.closed:
            self.abort()


@dataclass(frozen=True)
class FinishedShard:
    """A written shard under its ``.partial`` names (picklable); :meth:`commit` renames it into place."""

    life_dir: Path
    tar_rel: str
    npz_rel: str
    frames: int
    width: int
    height: int

    def __len__(self) -> int:
        return self.frames

    def commit(self) -> None:
        os.replace(self.life_dir / f"{self.tar_rel}.partial", self.life_dir / self.tar_rel)
        os.replace(self.life_dir / f"{self.npz_rel}.partial", self.life_dir / self.npz_rel)

    def abort(self) -> None:
        for rel in (self.tar_rel, self.npz_rel):
            (self.life_dir / f"{rel}.partial").unlink(missing_ok=True)


class LifeWriter:
    """Creates or reopens a life directory and adds finished videos to its manifest.

    The writer holds the life's lock (slife.locking) from creation until :meth:`close` (or its end):
    a second writer into the same life is refused instead of deleting the first one's partial files.
    """

    def __init__(
        self,
        life_dir: str | Path,
        *,
        name: str | None = None,
        fps: float,
        short_side: int,
        kind: str = "video",
        has_depth: bool = False,
        has_poses: bool = False,
        meta: dict[str, Any] | None = None,
    ):
        from slife.locking import DirLock

        self.life_dir = Path(life_dir)
        self.life_dir.mkdir(parents=True, exist_ok=True)
        self._lock = DirLock(self.life_dir, "writing the life").acquire()
        existing = read_manifest(self.life_dir)
        if existing is None:
            self.manifest = LifeManifest(
                name=name or self.life_dir.name,
                fps=float(fps),
                short_side=int(short_side),
                kind=kind,
                has_depth=has_depth,
                has_poses=has_poses,
                meta=dict(meta or {}),
            )
            write_manifest(self.life_dir, self.manifest)
        else:
            where = self.life_dir / MANIFEST
            if abs(existing.fps - fps) > 1e-9 or existing.short_side != short_side:
                raise LifeFormatError(
                    f"{where}: life was made with fps={existing.fps}, short_side={existing.short_side}; "
                    f"refusing to add frames at fps={fps}, short_side={short_side} (use a new directory)"
                )
            if existing.has_depth != has_depth or existing.has_poses != has_poses or existing.kind != kind:
                raise LifeFormatError(f"{where}: existing life has kind/depth/poses that differ from this writer")
            self.manifest = existing
        self._clean_partials()

    def close(self) -> None:
        """Remove unfinished shards (a stopped write's) and release the life's lock (the manifest is
        already on disk after every video)."""
        try:
            self._clean_partials()
        finally:
            self._lock.release()

    def __enter__(self) -> "LifeWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _clean_partials(self) -> None:
        """Remove leftovers of an interrupted write (never finished files)."""
        shard_dir = self.life_dir / SHARD_DIR
        if shard_dir.is_dir():
            for leftover in shard_dir.glob("*.partial"):
                leftover.unlink(missing_ok=True)

    def finished(self, source: str, fingerprint: str = "") -> VideoEntry | None:
        """The manifest entry of ``source`` if it was already ingested from an unchanged file."""
        for entry in self.manifest.videos:
            if entry.source == source and entry.fingerprint == fingerprint:
                return entry
        return None

    def shard_stem(self, source: str, order: int) -> str:
        """File stem of a new shard for one video. A re-ingest gets fresh names (``-r1``, ...) so the
        files the manifest points to are never overwritten before the manifest itself is replaced."""
        base = f"{order:05d}_{_safe_stem(source)}"
        stem, n = base, 0
        shard_dir = self.life_dir / SHARD_DIR
        while (shard_dir / f"{stem}.tar").exists() or (shard_dir / f"{stem}.npz").exists():
            n += 1
            stem = f"{base}-r{n}"
        return stem

    def open_shard(self, source: str, order: int) -> ShardWriter:
        """A writer for one video's shard (see :meth:`shard_stem`)."""
        return ShardWriter(self.life_dir, self.shard_stem(source, order), self.manifest.has_depth, self.manifest.has_poses)

    def add_video(
        self,
        shard: "ShardWriter | FinishedShard",
        *,
        source: str,
        order: int,
        duration: float,
        fingerprint: str = "",
        warning: str | None = None,
    ) -> VideoEntry:
        """Commit ``shard`` and record it in the manifest (replacing an older entry of the same source)."""
        shard.commit()
        entry = VideoEntry(
            source=source,
            shard=shard.tar_rel,
            index=shard.npz_rel,
            order=order,
            frames=len(shard),
            duration=float(duration),
            width=shard.width,
            height=shard.height,
            fingerprint=fingerprint,
            warning=warning,
        )
        stale = [v for v in self.manifest.videos if v.source == source or v.order == order]
        self.manifest.videos = [v for v in self.manifest.videos if v not in stale]
        self.manifest.videos.append(entry)
        self.manifest.videos.sort(key=lambda v: v.order)
        write_manifest(self.life_dir, self.manifest)
        for old in stale:  # files of a replaced entry, unless the new entry reuses the same names
            for rel in (old.shard, old.index):
                if rel not in (entry.shard, entry.index):
                    (self.life_dir / rel).unlink(missing_ok=True)
        return entry

    def update_meta(self, **meta: Any) -> None:
        self.manifest.meta.update(meta)
        write_manifest(self.life_dir, self.manifest)


# kind -> meta list of cut segments
SEGMENT_META = {"diverse": "clips", "nonlife": "clips", "static": "cameras", "screen": "clips"}


def _segments_from_meta(life: "Life", key: str) -> np.ndarray:
    """Segment ids from ``life.meta[key]``: entries ``{video, start, end}`` (seconds of the video's local
    time; an entry without start and end spans its whole video) that must cover every frame once."""
    where = f"{life.dir}: meta {key!r}"
    entries = life.meta.get(key)
    if not isinstance(entries, list) or not entries:
        raise LifeFormatError(f"{where}: a {life.kind} life must list its segments (a non-empty list), got "
                              f"{type(entries).__name__}")  # fmt: skip
    videos = life.manifest.videos
    spans: list[tuple[int, float, float, int]] = []
    for k, e in enumerate(entries):
        if not isinstance(e, dict):
            raise LifeFormatError(f"{where}[{k}]: not a mapping")
        v = e.get("video")
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < len(videos):
            raise LifeFormatError(f"{where}[{k}]: video {v!r} is not a video number in [0, {len(videos)})")
        if "start" not in e and "end" not in e:  # static lives rendered before cameras had times
            spans.append((v, 0.0, math.inf, k))
            continue
        t = [e.get("start"), e.get("end")]
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in t):
            raise LifeFormatError(f"{where}[{k}]: start and end must be finite numbers of seconds, got {t}")
        if not 0 <= t[0] < t[1]:
            raise LifeFormatError(f"{where}[{k}]: need 0 <= start < end, got start {t[0]}, end {t[1]}")
        spans.append((v, float(t[0]), float(t[1]), k))
    spans.sort()
    tol = min(1e-3, 0.25 / life.fps)  # seconds: boundaries are frame times up to rounding
    for a, b in zip(spans, spans[1:]):
        if a[0] == b[0] and b[1] < a[2] - tol:
            raise LifeFormatError(f"{where}[{a[3]}] and [{b[3]}] overlap in video {a[0]} "
                                  f"([{a[1]}, {a[2]}) and [{b[1]}, {b[2]}) s)")  # fmt: skip
    out = np.full(len(life), -1, np.int64)
    for seg, (v, start, end, _) in enumerate(spans):
        idx = life.video_frames(v)
        ts = life.local_timestamps[idx]
        out[idx[(ts >= start - tol) & (ts < end - tol)]] = seg
    if (out < 0).any():
        i = int(np.flatnonzero(out < 0)[0])
        raise LifeFormatError(f"{where}: {int((out < 0).sum())} frames lie in no segment, the first at "
                              f"{life.local_timestamps[i]:.3f} s of video {int(life.video_index[i])}")  # fmt: skip
    return np.unique(out, return_inverse=True)[1].astype(np.int64).ravel()  # 0, 1, ... (empty entries dropped)


class Life:
    """Random access to the frames of a life: ``life[i]`` -> Frame(image, timestamp).

    File handles are opened lazily and reopened after a fork, so one Life can be handed to
    DataLoader workers.
    """

    def __init__(self, life_dir: Path, manifest: LifeManifest):
        self.dir = Path(life_dir)
        self.manifest = manifest
        videos = manifest.videos
        starts = np.cumsum([0.0] + [v.duration for v in videos])[:-1]
        local_ts, video_idx, local_idx, jpeg, depth, poses, intr = [], [], [], [], [], [], []
        for v_i, entry in enumerate(videos):
            npz_path = self.dir / entry.index
            try:
                with load_npz(npz_path, MAX_INDEX_BYTES) as idx:
                    n = len(idx["timestamps"])
                    if n != entry.frames:
                        raise LifeFormatError(f"{npz_path}: index has {n} frames, manifest says {entry.frames}")
                    local_ts.append(idx["timestamps"])
                    jpeg.append(idx["jpeg"])
                    if manifest.has_depth:
                        depth.append(idx["depth"])
                    if manifest.has_poses:
                        poses.append(idx["poses"])
                        intr.append(idx["intrinsics"])
            except LifeFormatError:
                raise
            except Exception as exc:  # zipfile / numpy raise many types for a corrupt index
                raise LifeFormatError(f"{npz_path}: cannot read shard index: {exc}") from exc
            video_idx.append(np.full(n, v_i, dtype=np.int64))
            local_idx.append(np.arange(n, dtype=np.int64))
        cat = lambda parts, shape, dtype: np.concatenate(parts) if parts else np.zeros(shape, dtype)  # noqa: E731
        self.local_timestamps = cat(local_ts, (0,), np.float64)
        self.video_index = cat(video_idx, (0,), np.int64)
        self._local_index = cat(local_idx, (0,), np.int64)
        self._video_starts = starts
        self.timestamps = self.local_timestamps + (starts[self.video_index] if len(videos) else 0.0)
        self._jpeg = cat(jpeg, (0, 2), np.int64)
        self._depth = cat(depth, (0, 2), np.int64) if manifest.has_depth else None
        self.poses: np.ndarray | None = cat(poses, (0, 4, 4), np.float64) if manifest.has_poses else None
        self.intrinsics: np.ndarray | None = cat(intr, (0, 3, 3), np.float64) if manifest.has_poses else None
        self._fds: dict[int, int] = {}
        self._pid = os.getpid()
        self._segments: np.ndarray | None = None

    @classmethod
    def open(cls, life_dir: str | Path) -> "Life":
        life_dir = Path(life_dir)
        manifest = read_manifest(life_dir)
        if manifest is None:
            raise LifeFormatError(f"{life_dir}: not a life directory (no {MANIFEST}); run `slife ingest` first")
        return cls(life_dir, manifest)

    # ---- metadata -------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def fps(self) -> float:
        return self.manifest.fps

    @property
    def kind(self) -> str:
        return self.manifest.kind

    @property
    def meta(self) -> dict[str, Any]:
        return self.manifest.meta

    @property
    def has_depth(self) -> bool:
        return self.manifest.has_depth

    @property
    def has_poses(self) -> bool:
        return self.manifest.has_poses

    @property
    def seconds(self) -> float:
        return float(sum(v.duration for v in self.manifest.videos))

    @property
    def hours(self) -> float:
        return self.seconds / 3600.0

    def __len__(self) -> int:
        return len(self.timestamps)

    def video_frames(self, video: int) -> np.ndarray:
        """Global frame indices of video number ``video`` (position in ``manifest.videos``)."""
        return np.flatnonzero(self.video_index == video)

    @property
    def segment_index(self) -> np.ndarray:
        """(N,) int64 id of each frame's continuous take, numbered 0, 1, ... in frame order: pairs of
        consecutive frames in one segment show the same place with no cut in between. A video, except
        in the controls whose meta lists hard cuts: each clip of a ``diverse`` life (``meta["clips"]``),
        each camera of a ``static`` life (``meta["cameras"]``) and each app of a ``screen`` life
        (``meta["clips"]``; screen lives rendered before it have none: a video each) is its own segment."""
        if self._segments is None:
            key = SEGMENT_META.get(self.kind)
            if self.kind == "screen" and key not in self.meta:  # rendered before screen cuts were recorded
                key = None
            self._segments = self.video_index.copy() if key is None else _segments_from_meta(self, key)
        return self._segments

    def info(self) -> dict[str, Any]:
        sizes = sorted({(v.width, v.height) for v in self.manifest.videos})
        return {
            "name": self.name,
            "kind": self.kind,
            "hours": round(self.hours, 4),
            "frames": len(self),
            "videos": len(self.manifest.videos),
            "fps": self.fps,
            "short_side": self.manifest.short_side,
            "resolutions": [f"{w}x{h}" for w, h in sizes],
            "depth": self.has_depth,
            "poses": self.has_poses,
            **({"frames_without_pose": int((~np.isfinite(self.poses).all(axis=(1, 2))).sum())} if self.poses is not None else {}),
            "warnings": [f"{v.source}: {v.warning}" for v in self.manifest.videos if v.warning],
        }

    # ---- frame access ---------------------------------------------------------------------------
    def _fd(self, video: int) -> int:
        if self._pid != os.getpid():  # forked into a DataLoader worker: do not share descriptors
            self._fds = {}
            self._pid = os.getpid()
        fd = self._fds.get(video)
        if fd is None:
            path = self.dir / self.manifest.videos[video].shard
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError as exc:
                raise LifeFormatError(f"{path}: cannot open shard: {exc}") from exc
            self._fds[video] = fd
        return fd

    def _read(self, i: int, table: np.ndarray) -> bytes:
        if not 0 <= i < len(self):
            raise IndexError(f"frame {i} out of range for life {self.name!r} with {len(self)} frames")
        video = int(self.video_index[i])
        offset, size = (int(x) for x in table[i])
        data = os.pread(self._fd(video), size, offset)
        if len(data) != size:
            raise LifeFormatError(f"{self.dir / self.manifest.videos[video].shard}: truncated at frame {i}")
        return data

    def jpeg(self, i: int) -> bytes:
        return self._read(int(i), self._jpeg)

    def where(self, i: int) -> str:
        """Where frame ``i`` is stored, for messages: ``LIFE/shards/X.tar, frame k of video v (life frame i)``."""
        video = int(self.video_index[i])
        shard = self.dir / self.manifest.videos[video].shard
        return f"{shard}, frame {int(self._local_index[i])} of video {video} (life frame {i})"

    def image(self, i: int) -> np.ndarray:
        """Frame ``i`` as H x W x 3 uint8 RGB."""
        data = self.jpeg(i)
        try:
            return decode_jpeg(data)
        except (OSError, ValueError, SyntaxError) as exc:  # PIL's errors for a corrupt image
            raise LifeFormatError(f"{self.where(int(i))}: cannot decode the JPEG: {exc}") from exc

    def depth(self, i: int) -> np.ndarray:
        """Metric depth of frame ``i`` (float32 metres, 0 = invalid)."""
        if self._depth is None:
            raise LifeFormatError(f"{self.dir}: life {self.name!r} has no depth")
        data = self._read(int(i), self._depth)
        try:
            return decode_depth_png(data)
        except (OSError, ValueError, SyntaxError) as exc:
            raise LifeFormatError(f"{self.where(int(i))}: cannot decode the depth PNG: {exc}") from exc

    def verify(self, progress: bool = False) -> list[str]:
        """Read and decode every frame (and depth map), checking it against the manifest and the index,
        like ``git fsck``: the problems found, one line each naming shard and frame ([] = all good)."""
        problems: list[str] = []
        for v, entry in enumerate(self.manifest.videos):
            ts = self.local_timestamps[self.video_frames(v)]
            if len(ts) > 1 and not np.all(np.diff(ts) > 0):
                problems.append(f"{self.dir / entry.index}: timestamps are not increasing")
        if self.poses is not None:  # a frame without a pose (ingested Aria video) has an all-NaN pose
            partial = np.isfinite(self.poses).any(axis=(1, 2)) & ~np.isfinite(self.poses).all(axis=(1, 2))
            if partial.any() or np.isinf(self.poses).any() or not np.isfinite(self.intrinsics).all():
                problems.append(f"{self.dir}: poses or intrinsics hold infinity or partly NaN matrices")
        frames = range(len(self))
        if progress:
            from tqdm import tqdm

            frames = tqdm(frames, desc=f"verify {self.name}", unit="frame")
        for i in frames:
            entry = self.manifest.videos[int(self.video_index[i])]
            try:
                h, w = self.image(i).shape[:2]
                if (w, h) != (entry.width, entry.height):
                    problems.append(f"{self.where(i)}: image is {w}x{h}, the manifest says {entry.width}x{entry.height}")
                depth_shape = self.depth(i).shape if self._depth is not None else (h, w)
                if depth_shape != (h, w):
                    problems.append(f"{self.where(i)}: depth map is {depth_shape}, the image {(h, w)}")
            except LifeFormatError as exc:
                problems.append(str(exc))
        return problems

    def __getitem__(self, i: int) -> Frame:
        i = int(i)
        if i < 0:
            i += len(self)
        return Frame(self.image(i), float(self.timestamps[i]))

    def close(self) -> None:
        if self._pid == os.getpid():
            for fd in self._fds.values():
                os.close(fd)
        self._fds = {}

    def __getstate__(self) -> dict[str, Any]:  # picklable for spawn-based workers
        state = self.__dict__.copy()
        state["_fds"] = {}
        return state

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
