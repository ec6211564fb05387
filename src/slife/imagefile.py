"""Opening image files someone else made (frames in a life, evaluation data): the size the header
declares is checked before any pixel is decoded, so a few bytes cannot claim gigabytes."""

from __future__ import annotations

import contextlib
import warnings
from typing import IO, Iterator

from PIL import Image

MAX_IMAGE_PIXELS = 1 << 26  # 67 M pixels (8192 x 8192); evaluation images and frames are far smaller


@contextlib.contextmanager
def open_image(source: str | IO[bytes]) -> Iterator[Image.Image]:
    """``with open_image(path_or_file) as img:`` PIL's image, not yet decoded; ValueError when its
    header declares more than MAX_IMAGE_PIXELS pixels (PIL's OSError for a file it cannot read)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(source)
        except Image.DecompressionBombError as exc:
            raise ValueError(f"image too large: {exc}") from None
    with img:
        w, h = img.size
        if w * h > MAX_IMAGE_PIXELS:
            raise ValueError(f"image of {w} x {h} pixels, above slife's limit of {MAX_IMAGE_PIXELS} pixels")
        yield img
