"""CroCo augmentation of a frame: resize, independent random crop, colour jitter, normalisation.

[ours where the method is silent] The frame is resized so its short side is
``round(img_size * 256 / 224)`` (CroCo's 224-from-256 crop ratio at every model size), a random
``img_size`` x ``img_size`` crop is taken, then brightness, contrast and saturation are scaled by
factors drawn from ``[1 - jitter, 1 + jitter]`` (0.4 -> [0.6, 1.4]) in that fixed order; no flips.
Everything random comes from the ``rng`` passed in, so an augmentation is a pure function of the
generator's state.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

_GRAY = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def resize_side(img_size: int) -> int:
    """Short side the frame is resized to before cropping."""
    return int(round(img_size * 256 / 224))


def load_resized(jpeg: bytes, short_side: int) -> np.ndarray:
    """Decode a JPEG and resize it so its short side is ``short_side`` (H x W x 3 uint8 RGB).

    Decoding uses libjpeg's DCT-domain downscaling (1/2, 1/4, 1/8) as far as it keeps the short side
    >= ``short_side``; the remaining factor (< 2) is a bilinear resize.
    """
    import cv2

    # OpenCV's own thread pool would be inherited half-alive by forked processes (DataLoader workers,
    # fork-started DDP ranks) and deadlock them; slife parallelises across processes instead
    cv2.setNumThreads(1)
    buf = np.frombuffer(jpeg, dtype=np.uint8)
    with Image.open(io.BytesIO(jpeg)) as probe:  # reads the header only
        approx_short = min(probe.size)
    flag = cv2.IMREAD_COLOR
    for factor, reduced in ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4), (2, cv2.IMREAD_REDUCED_COLOR_2)):
        if approx_short // factor >= short_side + 1:  # libjpeg rounds reduced sizes up
            flag = reduced
            break
    img = cv2.imdecode(buf, flag)
    if img is None:
        raise ValueError("cannot decode JPEG frame")
    h, w = img.shape[:2]
    scale = short_side / min(h, w)
    size = (max(short_side, round(w * scale)), max(short_side, round(h * scale)))
    if size != (w, h):
        img = cv2.resize(img, size, interpolation=cv2.INTER_LINEAR if scale > 0.5 else cv2.INTER_AREA)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_resized(life, i: int, short_side: int) -> np.ndarray:
    """Frame ``i`` of ``life`` decoded and resized to ``short_side`` (:func:`load_resized`); a frame that
    cannot be decoded is a ``LifeFormatError`` naming where it is stored (as ``Life.image``)."""
    data = life.jpeg(i)
    try:
        return load_resized(data, short_side)
    except (OSError, ValueError, SyntaxError) as exc:  # PIL or cv2 could not decode it
        from slife.life import LifeFormatError

        raise LifeFormatError(f"{life.where(int(i))}: cannot decode the JPEG: {exc}") from exc


def draw_crop(h: int, w: int, size: int, rng: np.random.Generator) -> tuple[int, int]:
    """Top-left corner (y, x) of a random ``size`` crop of an ``h`` x ``w`` image (draws y, then x)."""
    if h < size or w < size:
        raise ValueError(f"image {w}x{h} is smaller than the crop {size}")
    return int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))


def random_crop(image: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    y, x = draw_crop(image.shape[0], image.shape[1], size, rng)
    return image[y : y + size, x : x + size]


def draw_jitter(rng: np.random.Generator, jitter: float) -> tuple[float, float, float]:
    """Brightness, contrast, saturation factors b, c, s ~ U[1 - jitter, 1 + jitter]."""
    b, c, s = (float(v) for v in rng.uniform(1.0 - jitter, 1.0 + jitter, size=3))
    return b, c, s


def color_jitter(image: np.ndarray, rng: np.random.Generator, jitter: float = 0.4) -> np.ndarray:
    """Colour jitter with factors from :func:`draw_jitter` (see :func:`apply_jitter`)."""
    return apply_jitter(image, *draw_jitter(rng, jitter))


def apply_jitter(image: np.ndarray, b: float, c: float, s: float) -> np.ndarray:
    """Brightness, contrast, saturation by factors b, c, s, in that order, as one affine map of each
    pixel x (gray(x) = Rec.601 luma, m = mean luma): brightness x -> b x; contrast x -> c x + (1 - c) m;
    saturation x -> s x + (1 - s) gray(x); clipped to [0, 255] once at the end [ours: no intermediate
    clipping, for speed]. slife.pairs.resident applies the same map to a batch on a device.
    """
    x = image.astype(np.float32)
    gray = x @ _GRAY
    m = b * float(gray.mean())
    offset = gray * np.float32((1 - s) * c * b) + np.float32((1 - c) * m + 0.5)
    out = x * np.float32(s * c * b) + offset[..., None]
    np.clip(out, 0, 255, out=out)
    return out.astype(np.uint8)


def augment(image: np.ndarray, img_size: int, rng: np.random.Generator, jitter: float = 0.4) -> np.ndarray:
    """Random crop + colour jitter of an already resized frame -> img_size x img_size uint8."""
    crop = random_crop(image, img_size, rng)
    return color_jitter(crop, rng, jitter) if jitter > 0 else np.ascontiguousarray(crop)
