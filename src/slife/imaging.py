"""Image geometry and normalisation shared by training, alignment and evaluation.

``resize_center_crop`` is the deterministic view every evaluation uses; it returns the affine map
from original pixel coordinates to crop coordinates so that ground truth (depth, poses, flow,
keypoints) can follow the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class CropMap:
    """x_crop = x_orig * scale_x - offset_x, y_crop = y_orig * scale_y - offset_y (continuous pixel
    coordinates: the centre of pixel (i, j) is at (j + 0.5, i + 0.5))."""

    scale_x: float
    scale_y: float
    offset_x: float
    offset_y: float

    def apply(self, xy: np.ndarray) -> np.ndarray:
        """Map (..., 2) pixel coordinates (x, y) of the original image into the crop."""
        xy = np.asarray(xy, dtype=np.float64)
        return xy * np.array([self.scale_x, self.scale_y]) - np.array([self.offset_x, self.offset_y])

    def invert(self, xy: np.ndarray) -> np.ndarray:
        """Map (..., 2) crop coordinates back to the original image."""
        xy = np.asarray(xy, dtype=np.float64)
        return (xy + np.array([self.offset_x, self.offset_y])) / np.array([self.scale_x, self.scale_y])

    def intrinsics(self, K: np.ndarray) -> np.ndarray:
        """Camera intrinsics of the crop, given those of the original image."""
        out = np.asarray(K, dtype=np.float64).copy()
        out[0, :] *= self.scale_x
        out[1, :] *= self.scale_y
        out[0, 2] -= self.offset_x
        out[1, 2] -= self.offset_y
        return out


@dataclass(frozen=True)
class AffineCropMap:
    """x_crop = A @ x_orig + b for a general 2 x 3 affine ``[A | b]`` (same conventions as CropMap):
    the map of a crop that is rotated or zoomed relative to its frame."""

    matrix: tuple[tuple[float, float, float], tuple[float, float, float]]

    def _ab(self) -> tuple[np.ndarray, np.ndarray]:
        m = np.asarray(self.matrix, dtype=np.float64)
        return m[:, :2], m[:, 2]

    def apply(self, xy: np.ndarray) -> np.ndarray:
        a, b = self._ab()
        return np.asarray(xy, dtype=np.float64) @ a.T + b

    def invert(self, xy: np.ndarray) -> np.ndarray:
        a, b = self._ab()
        return (np.asarray(xy, dtype=np.float64) - b) @ np.linalg.inv(a).T

    def intrinsics(self, K: np.ndarray) -> np.ndarray:
        """Intrinsics of the crop (with skew when rotated): the affine map composed with ``K``."""
        a, b = self._ab()
        s = np.eye(3)
        s[:2, :2], s[:2, 2] = a, b
        return s @ np.asarray(K, dtype=np.float64)


def rotated_zoomed_crop(image: np.ndarray, size: int, angle_deg: float, zoom: float) -> tuple[np.ndarray, AffineCropMap]:
    """The ``resize_center_crop`` view rotated by ``angle_deg`` (counter-clockwise on screen) and
    magnified by ``zoom`` about the crop centre; what falls outside the frame is black."""
    import cv2

    h, w = image.shape[:2]
    base = center_crop_map(h, w, size)
    c = size / 2.0
    t = np.deg2rad(angle_deg)
    rot = zoom * np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])  # y points down
    a = rot @ np.diag([base.scale_x, base.scale_y])
    b = rot @ (np.array([-base.offset_x, -base.offset_y]) - c) + c
    # shrink first with area averaging (no aliasing), then warp about 1:1 from the smaller image
    f = min(1.0, zoom * min(base.scale_x, base.scale_y))
    small = image if f == 1.0 else cv2.resize(image, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    s_xy = np.array([small.shape[1] / w, small.shape[0] / h])
    a_small = a / s_xy[None, :]  # x_orig = x_small / s_xy
    # OpenCV samples pixel centres at integer coordinates; ours sit at +0.5
    shift = np.array([0.5, 0.5])
    m_cv = np.hstack([a_small, (b + a_small @ shift - shift)[:, None]])
    out = cv2.warpAffine(np.ascontiguousarray(small), m_cv, (size, size), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))  # fmt: skip
    return np.ascontiguousarray(out), AffineCropMap(tuple(map(tuple, np.hstack([a, b[:, None]]).tolist())))


def _center_crop_size(h: int, w: int, size: int) -> tuple[int, int, int, int]:
    """(new_w, new_h, x0, y0): the resized frame whose short side is ``size`` and its central crop's corner."""
    scale = size / min(h, w)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    return new_w, new_h, (new_w - size) // 2, (new_h - size) // 2


def center_crop_map(h: int, w: int, size: int) -> CropMap:
    """The map of :func:`resize_center_crop` for an ``h`` x ``w`` frame, without resizing anything."""
    new_w, new_h, x0, y0 = _center_crop_size(h, w, size)
    return CropMap(new_w / w, new_h / h, float(x0), float(y0))


def resize_center_crop(image: np.ndarray, size: int, resample: int = Image.BICUBIC) -> tuple[np.ndarray, CropMap]:
    """Resize so the short side is ``size``, then take the central ``size`` x ``size`` crop."""
    h, w = image.shape[:2]
    new_w, new_h, x0, y0 = _center_crop_size(h, w, size)
    resized = np.asarray(Image.fromarray(image).resize((new_w, new_h), resample))
    crop = resized[y0 : y0 + size, x0 : x0 + size]
    return np.ascontiguousarray(crop), center_crop_map(h, w, size)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """H x W x 3 uint8 RGB -> 3 x H x W float tensor, ImageNet-normalised."""
    return to_tensors(np.ascontiguousarray(image)[None])[0]


def to_tensors(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(B, H, W, 3) uint8 RGB (an array, or a tensor on any device) -> (B, 3, H, W) float32,
    ImageNet-normalised: the one normalisation of model input (:func:`to_tensor` is one image of it)."""
    # a numpy batch is converted to float by numpy (the copy .float() would make), so a read-only array
    # (a memory-mapped test set) never becomes a tensor that shares its memory
    t = torch.from_numpy(images.astype(np.float32)) if isinstance(images, np.ndarray) else images.float()
    t = t.permute(0, 3, 1, 2).div_(255.0)
    mean = torch.tensor(IMAGENET_MEAN, device=t.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=t.device).view(1, 3, 1, 1)
    return t.sub_(mean).div_(std)


def to_image(tensor: torch.Tensor) -> np.ndarray:
    """Inverse of ``to_tensor`` (3 x H x W normalised) -> H x W x 3 uint8."""
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    t = (tensor.detach().cpu().float() * std + mean).clamp(0, 1)
    return (t.permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
