"""Read COLMAP text models (cameras.txt, images.txt, points3D.txt) for spatial pairing.

Only what pairing needs is kept: per registered image its name, camera-to-world pose (OpenCV axes,
as COLMAP uses) and the ids of the 3D points it observes. Frame matching (``match_frames``): a COLMAP
image name maps to a life frame through an optional mapping file (lines ``NAME FRAME_INDEX``), or
else through the last integer in the name's file stem, read as the global frame index (the naming
``slife pairs export-frames`` produces: ``000123.jpg`` = frame 123).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from slife.errors import SlifeError


@dataclass
class ColmapImage:
    image_id: int
    name: str
    cam_to_world: np.ndarray  # 4 x 4
    point_ids: np.ndarray  # (M,) int64 ids of observed 3D points (POINT3D_ID != -1), unique


@dataclass
class ColmapModel:
    cameras: dict[int, dict]  # camera_id -> {"model", "width", "height", "params"}
    images: list[ColmapImage]
    points: dict[int, np.ndarray]  # point3D_id -> xyz


def _lines(path: Path) -> list[tuple[int, str]]:
    if not path.is_file():
        raise SlifeError(f"{path}: COLMAP text model file not found (need cameras.txt, images.txt, points3D.txt)")
    out = []
    for no, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            out.append((no, line.strip()))
    return out


def quat_to_rotation(q: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z) -> 3 x 3 rotation matrix."""
    from slife.geometry import quaternions_to_rotations

    return quaternions_to_rotations(q)[0]


def read_colmap_text(model_dir: str | Path) -> ColmapModel:
    """Parse a COLMAP text model directory; malformed lines raise SlifeError naming file and line."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise SlifeError(f"{model_dir}: COLMAP model directory not found")
    cameras: dict[int, dict] = {}
    path = model_dir / "cameras.txt"
    for no, line in _lines(path):
        parts = line.split()
        try:
            cameras[int(parts[0])] = {
                "model": parts[1],
                "width": int(parts[2]),
                "height": int(parts[3]),
                "params": [float(p) for p in parts[4:]],
            }
        except (IndexError, ValueError) as exc:
            raise SlifeError(f"{path}:{no}: malformed camera line: {exc}") from exc

    points: dict[int, np.ndarray] = {}
    path = model_dir / "points3D.txt"
    for no, line in _lines(path):
        parts = line.split()
        try:
            points[int(parts[0])] = np.array([float(v) for v in parts[1:4]])
            if len(parts) < 8:
                raise ValueError("expected POINT3D_ID X Y Z R G B ERROR TRACK[]")
            if not np.isfinite(points[int(parts[0])]).all():
                raise ValueError("the point's coordinates are not finite")
        except (IndexError, ValueError) as exc:
            raise SlifeError(f"{path}:{no}: malformed point line: {exc}") from exc

    images: list[ColmapImage] = []
    path = model_dir / "images.txt"
    lines = _lines(path)
    # images.txt has two lines per image; the POINTS2D line may be empty (then _lines dropped it)
    raw = path.read_text(encoding="utf-8", errors="replace").splitlines()
    no_idx = 0
    while no_idx < len(lines):
        no, header = lines[no_idx]
        parts = header.split()
        try:
            image_id = int(parts[0])
            q = np.array([float(v) for v in parts[1:5]])
            t = np.array([float(v) for v in parts[5:8]])
            camera_id = int(parts[8])
            name = " ".join(parts[9:])
            if not name:
                raise ValueError("missing NAME")
            if len(q) != 4 or len(t) != 3 or not (np.isfinite(q).all() and np.isfinite(t).all()):
                raise ValueError("QW QX QY QZ TX TY TZ must be 7 finite numbers")
            if not np.linalg.norm(q) > 1e-12:
                raise ValueError("the rotation quaternion is zero")
        except (IndexError, ValueError) as exc:
            raise SlifeError(f"{path}:{no}: malformed image line: {exc}") from exc
        if camera_id not in cameras:
            raise SlifeError(f"{path}:{no}: image {name!r} refers to unknown camera {camera_id}")
        points_line = raw[no] if no < len(raw) else ""  # the physical line after the header
        values = points_line.split()
        if len(values) % 3:
            raise SlifeError(f"{path}:{no + 1}: POINTS2D line must hold triples X Y POINT3D_ID")
        try:
            ids = np.array([int(v) for v in values[2::3]], dtype=np.int64)
        except ValueError as exc:
            raise SlifeError(f"{path}:{no + 1}: malformed POINTS2D line: {exc}") from exc
        ids = np.unique(ids[ids != -1])
        unknown = np.setdiff1d(ids, np.fromiter(points.keys(), dtype=np.int64, count=len(points)))
        if len(unknown):
            raise SlifeError(f"{path}:{no + 1}: image {name!r} observes unknown 3D point(s) {unknown[:5].tolist()}")
        world_to_cam = np.eye(4)
        world_to_cam[:3, :3] = quat_to_rotation(q)
        world_to_cam[:3, 3] = t
        images.append(ColmapImage(image_id, name, np.linalg.inv(world_to_cam), ids))
        # skip the POINTS2D line if it was non-empty (it is then the next entry of ``lines``)
        no_idx += 1
        if no_idx < len(lines) and lines[no_idx][0] == no + 1:
            no_idx += 1
    return ColmapModel(cameras=cameras, images=images, points=points)


def read_name_map(path: str | Path) -> dict[str, int]:
    """A mapping file: one ``NAME FRAME_INDEX`` per line (``#`` comments allowed)."""
    path = Path(path)
    mapping: dict[str, int] = {}
    for no, line in _lines(path):
        name, _, index = line.rpartition(" ")
        try:
            mapping[name.strip()] = int(index)
        except ValueError as exc:
            raise SlifeError(f"{path}:{no}: expected 'NAME FRAME_INDEX', got {line!r}") from exc
    return mapping


_LAST_INT = re.compile(r"(\d+)(?!.*\d)")


def match_frames(
    model: ColmapModel, num_frames: int, name_map: dict[str, int] | None = None, where: str = "COLMAP model"
) -> np.ndarray:
    """Global life frame index of each image of ``model`` (same order as ``model.images``).

    Unmatched names (no mapping entry / no integer in the stem / index out of range / two images on one
    frame) raise SlifeError listing a few of them.
    """
    frames = np.empty(len(model.images), dtype=np.int64)
    bad: list[str] = []
    for k, image in enumerate(model.images):
        if name_map is not None:
            idx = name_map.get(image.name, name_map.get(Path(image.name).name, -1))
        else:
            match = _LAST_INT.search(Path(image.name).stem)
            idx = int(match.group(1)) if match else -1
        if not 0 <= idx < num_frames:
            bad.append(image.name)
        frames[k] = idx
    if bad:
        how = "the name map" if name_map is not None else "the last integer of the file name as frame index"
        raise SlifeError(
            f"{where}: {len(bad)} image name(s) do not match a frame of the life ({num_frames} frames) "
            f"using {how}, e.g. {bad[:5]}; pass a mapping file with lines 'NAME FRAME_INDEX'"
        )
    uniq, counts = np.unique(frames, return_counts=True)
    if (counts > 1).any():
        raise SlifeError(f"{where}: several images map to the same frame(s) {uniq[counts > 1][:5].tolist()}")
    return frames
