"""Configuration of ``slife ingest``."""

from __future__ import annotations

from dataclasses import dataclass, field

from slife.ingest.aria.frames import AriaConfig

from slife.names import name_problem

MAX_FPS = 1000.0  # above any camera's rate; the sampling grid is duration x fps long

@dataclass
class IngestConfig:
    fps: float = 2.0  # frames kept per second of video (nearest-timestamp sampling)
    short_side: int = 256  # stored frames are resized so the short side is this (never upscaled)
    jpeg_quality: int = 90  # 1..95 (Pillow's scale)
    name: str | None = None  # life name (default: the directory name)
    threads: int = 2  # threads converting + JPEG-encoding kept frames (0 = in the decoding thread)
    decode_threads: bool = True  # FFmpeg frame/slice-threaded decoding
    interpolation: str = "AREA"  # swscale filter for downscaling: AREA, BILINEAR, BICUBIC, LANCZOS
    autorotate: bool = True  # apply the display rotation stored with phone videos
    # Skip decoding frames no other frame depends on (FFmpeg's skip_frame = NONREF: non-reference
    # B-frames): "auto" when the stream's rate is >= SKIP_MIN_RATIO x fps and its codec supports it,
    # "nonref" always, "none" never. The kept frames are then the nearest *reference* frames to the
    # sampling grid, with their exact timestamps (docs/ingest.md).
    skip_frames: str = "auto"
    # Videos decoded at once, in worker processes with the cores split between them (1 = one after
    # the other in this process, with threaded decoding); each is committed in life order.
    jobs: int = 1
    # Aria MPS poses, calibration and semi-dense points for every video (docs/real_lives.md); off unless
    # aria.mps is set (``--aria-mps``)
    aria: AriaConfig = field(default_factory=AriaConfig)

    def __post_init__(self) -> None:
        if not 0 < self.fps <= MAX_FPS:
            raise ValueError(f"fps must be in (0, {MAX_FPS:g}], got {self.fps}")
        if self.name is not None and name_problem(self.name):
            raise ValueError(f"name {self.name!r} {name_problem(self.name)}")
        if self.short_side < 16:
            raise ValueError(f"short_side must be >= 16, got {self.short_side}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be in 1..100, got {self.jpeg_quality}")
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0, got {self.threads}")
        if self.jobs < 1:
            raise ValueError(f"jobs must be >= 1, got {self.jobs}")
        if self.skip_frames not in ("auto", "nonref", "none"):
            raise ValueError(f"skip_frames {self.skip_frames!r}: use auto, nonref or none")
        if self.interpolation.upper() not in {"AREA", "BILINEAR", "BICUBIC", "LANCZOS", "FAST_BILINEAR", "POINT"}:
            raise ValueError(f"interpolation {self.interpolation!r}: use AREA, BILINEAR, BICUBIC or LANCZOS")
