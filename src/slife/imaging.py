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


def resize_center_crop(image: np.ndarray, size: int, resample: int = Image.BICUBIC) -> tuple[np.ndarray, CropMap]:
    """Resize so the short side is ``size``, then take the central ``size`` x ``size`` crop."""
    h, w = image.shape[:2]
    scale = size / min(h, w)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    pil = Image.fromarray(image)
    resized = np.asarray(pil.resize((new_w, new_h), resample))
    x0, y0 = (new_w - size) // 2, (new_h - size) // 2
    crop = resized[y0 : y0 + size, x0 : x0 + size]
    return np.ascontiguousarray(crop), CropMap(new_w / w, new_h / h, float(x0), float(y0))


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """H x W x 3 uint8 RGB -> 3 x H x W float tensor, ImageNet-normalised."""
    t = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(255.0)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (t - mean) / std


def to_image(tensor: torch.Tensor) -> np.ndarray:
    """Inverse of ``to_tensor`` (3 x H x W normalised) -> H x W x 3 uint8."""
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    t = (tensor.detach().cpu().float() * std + mean).clamp(0, 1)
    return (t.permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
