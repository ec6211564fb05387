"""Generator knobs of the synthetic world (``slife world make --config/--set``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

GENERATOR_VERSION = "slife-world/1"


@dataclass
class WorldConfig:
    """Everything that shapes a rendered life besides (life, seed, minutes, fps, size).

    Changing any field changes the frames, so the whole config is recorded in the life's meta.
    """

    hfov_deg: float = 65.0  # horizontal (= vertical: images are square) field of view
    eye_height: float = 1.6  # mean eye height (m); each life's person varies by +-0.08 m
    walk_speed: float = 1.4  # mean walking speed (m/s); each person varies by +-10 %
    pause_seconds: tuple[float, float] = (2.0, 8.0)  # standing still at a place, looking around
    revisit_prob: float = 0.6  # chance that the next destination is a place already visited
    head_yaw_deg: float = 18.0  # amplitude of the head's looking around while walking
    head_pitch_deg: float = 6.0  # amplitude of the head's up/down motion
    head_yaw_seconds: float = 0.8  # correlation time of the head's yaw motion
    head_pitch_seconds: float = 0.7  # correlation time of the head's pitch motion
    head_roll_deg: float = 1.5  # amplitude of the head's roll
    head_roll_seconds: float = 1.0  # correlation time of the roll
    head_bob: float = 0.02  # vertical head bob while walking (m)
    walk_pitch_deg: float = math.degrees(-0.12)  # gaze pitch while walking (-0.12 rad: a little down)
    # at the end of a pause the gaze leaves the object of interest: yaw within +-glance_yaw_deg of
    # it, pitch in glance_pitch_deg (defaults are today's +-1.2 rad and [-0.35, 0.15] rad exactly)
    glance_yaw_deg: float = math.degrees(1.2)
    glance_pitch_deg: tuple[float, float] = (math.degrees(-0.35), math.degrees(0.15))
    session_minutes: tuple[float, float] = (2.0, 4.0)  # one "video" = one recording session
    day_hours: tuple[float, float] = (7.0, 20.0)  # sessions are spread over this time of day
    texture_size: int = 256  # side of every texture layer (mipmapped)
    jpeg_quality: int = 90
    far: float = 60.0  # far clipping plane (m); farther geometry reads as sky (depth 0)
    street_fog: float = 0.012  # exponential haze density outdoors (1/m); indoors there is none
    nonlife_video_minutes: tuple[float, float] = (1.0, 2.0)  # length of each edited non-life video
    # Wear and grime on every surface [ours]: non-repeating value noise anchored to world coordinates
    # (the same on a surface from every view), modulating albedo by up to +-surface_detail. Tiled
    # procedural materials alone are so predictable that a model can complete a view from itself
    # and never needs the other view (docs/results/world); 0 keeps the plain materials.
    surface_detail: float = 0.0
    surface_detail_freq: float = 8.0  # cycles per metre of the coarsest octave (then 2x, 4x)

    def __post_init__(self) -> None:
        if not 30.0 <= self.hfov_deg <= 120.0:
            raise ValueError(f"hfov_deg must be in [30, 120], got {self.hfov_deg}")
        if not 0.5 <= self.eye_height <= 2.2:
            raise ValueError(f"eye_height must be in [0.5, 2.2] m, got {self.eye_height}")
        if not 0.1 <= self.walk_speed <= 5.0:
            raise ValueError(f"walk_speed must be in [0.1, 5] m/s, got {self.walk_speed}")
        for name in ("pause_seconds", "session_minutes", "day_hours", "nonlife_video_minutes"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi:
                raise ValueError(f"{name} must be (low, high) with 0 <= low <= high, got {(lo, hi)}")
        if self.session_minutes[1] <= 0 or self.nonlife_video_minutes[1] <= 0:
            raise ValueError("session_minutes and nonlife_video_minutes must allow a positive length")
        if not 0.0 <= self.revisit_prob <= 1.0:
            raise ValueError(f"revisit_prob must be in [0, 1], got {self.revisit_prob}")
        if self.texture_size not in (64, 128, 256, 512, 1024):
            raise ValueError(f"texture_size must be a power of two in [64, 1024], got {self.texture_size}")
        if not 0.0 <= self.surface_detail <= 1.0:
            raise ValueError(f"surface_detail must be in [0, 1], got {self.surface_detail}")
        if not 0.1 <= self.surface_detail_freq <= 100.0:
            raise ValueError(f"surface_detail_freq must be in [0.1, 100] cycles/m, got {self.surface_detail_freq}")
        head = {"head_yaw_deg": (0.0, 90.0), "head_pitch_deg": (0.0, 45.0), "head_roll_deg": (0.0, 30.0),
                "head_yaw_seconds": (0.05, 60.0), "head_pitch_seconds": (0.05, 60.0), "head_roll_seconds": (0.05, 60.0),
                "head_bob": (0.0, 0.2), "walk_pitch_deg": (-60.0, 60.0), "glance_yaw_deg": (0.0, 180.0)}
        for name, (lo, hi) in head.items():
            value = getattr(self, name)
            if not (math.isfinite(value) and lo <= value <= hi):
                raise ValueError(f"{name} must be finite and in [{lo:g}, {hi:g}], got {value}")
        g_lo, g_hi = self.glance_pitch_deg
        if not (math.isfinite(g_lo) and math.isfinite(g_hi) and -90.0 <= g_lo <= g_hi <= 90.0):
            raise ValueError(f"glance_pitch_deg must be (low, high) with -90 <= low <= high <= 90, got {(g_lo, g_hi)}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be in [1, 100], got {self.jpeg_quality}")
        if not 1.0 <= self.far <= 65.0:
            raise ValueError(f"far must be in [1, 65] m (depth is stored as uint16 mm), got {self.far}")
        if self.street_fog < 0:
            raise ValueError(f"street_fog must be >= 0, got {self.street_fog}")
