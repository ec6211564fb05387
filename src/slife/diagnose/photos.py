"""Real photographs shipped with scikit-image, split into training and held-out evaluation photos.

The split is fixed [ours]: the evaluation photos (a cat, coins, a motorcycle) share no content with the
training photos, so a model can only score on them by matching, not by remembering.
"""

from __future__ import annotations

import numpy as np

TRAIN_PHOTOS = (
    "astronaut", "coffee", "rocket", "immunohistochemistry", "retina", "hubble_deep_field",
    "camera", "moon", "brick", "grass", "gravel", "text", "page", "cell",
)  # fmt: skip
EVAL_PHOTOS = ("chelsea", "coins", "stereo_motorcycle")


def load_photo(name: str) -> np.ndarray:
    """One photo as (H, W, 3) uint8 RGB (grey photos are repeated over the channels)."""
    import skimage.data

    img = getattr(skimage.data, name)()
    if isinstance(img, tuple):  # stereo_motorcycle -> (left, right, disparity): the left view
        img = img[0]
    img = np.asarray(img)
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return np.ascontiguousarray(img[:, :, :3].astype(np.uint8))


def load_photos(names: tuple[str, ...]) -> list[np.ndarray]:
    return [load_photo(n) for n in names]
