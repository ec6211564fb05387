"""Rendered lives and the diverse-data control, written in the life format with depth and poses."""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from slife.config import to_dict
from slife.errors import SlifeError
from slife.life import LifeWriter
from slife.world.config import GENERATOR_VERSION, WorldConfig
from slife.world.families import FAMILIES, make_layout, parse_life_name, place_rng
from slife.world.path import Person, Planner, Track, walk_track
from slife.world.render import Renderer, lighting
from slife.world.requests import check_render_args, normalise_request, prepare_output, split_frames
from slife.world.scene import Layout, box_mesh
from slife.world.textures import build_texture_pool

WORLD_FRAME = "x, y horizontal, z up, metres; floor / street level at z = 0"
_PIPELINE = 16  # frames in flight between the renderer and the encoder thread


@dataclass
class _Segment:
    """A stretch of frames rendered from one track in one place."""

    layout: Layout
    track: Track
    start: float  # track time of the segment's first frame
    frames: int
    hour: float  # time of day at the segment's first frame
    azimuth: float  # orientation of the place relative to the sun path
    time_scale: float = 1.0  # hours of daylight that pass per hour of video (a time-lapse > 1)


def _render_segments(
    renderer: Renderer,
    writer: LifeWriter,
    videos: list[tuple[int, str, list[_Segment]]],
    cfg: WorldConfig,
    fps: float,
    progress: bool,
    fingerprint: str,
) -> None:
    """Render and commit each (order, source, segments) video; frames are encoded in a second thread."""
    from tqdm import tqdm

    total = sum(s.frames for _, _, segs in videos for s in segs)
    bar = tqdm(total=total, unit="frame", disable=not progress, desc="render")
    K = renderer.K
    with ThreadPoolExecutor(max_workers=1) as pool:
        for order, source, segments in videos:
            shard = writer.open_shard(source, order)
            pending: deque[Future] = deque()
            try:
                local = 0
                for seg in segments:
                    renderer.set_scene(*box_mesh(seg.layout.boxes))
                    times = seg.start + np.arange(seg.frames) / fps
                    poses = seg.track.poses(times)
                    for k in range(seg.frames):
                        light = lighting(seg.hour + seg.time_scale * k / fps / 3600.0, seg.layout.outdoor,
                                         seg.layout.lamps, cfg.street_fog, seg.azimuth)
                        rgb, depth = renderer.render(poses[k], light)
                        pending.append(pool.submit(shard.add, rgb, (local + k) / fps, depth=depth, pose=poses[k],
                                                   intrinsics=K, quality=cfg.jpeg_quality))
                        while len(pending) > _PIPELINE:
                            pending.popleft().result()
                        bar.update(1)
                    local += seg.frames
                while pending:
                    pending.popleft().result()
            except BaseException:
                for fut in pending:
                    fut.cancel()
                shard.abort()
                raise
            writer.add_video(shard, source=source, order=order, duration=local / fps, fingerprint=fingerprint)
    bar.close()


def _render_videos(writer: LifeWriter, todo: list[tuple[int, str, list[_Segment]]], pool: Any, size: int,
                   cfg: WorldConfig, fps: float, progress: bool) -> None:
    """Render the videos still to do with one renderer (none: no GL context is made)."""
    if todo:
        with Renderer(size, pool, cfg.hfov_deg, cfg.far, detail=cfg.surface_detail,
                      detail_freq=cfg.surface_detail_freq) as renderer:
            _render_segments(renderer, writer, todo, cfg, fps, progress, GENERATOR_VERSION)


def make_life(
    out_dir: str | Path,
    life: str = "kitchen-1",
    minutes: float = 10.0,
    fps: float = 2.0,
    seed: int = 0,
    size: int = 256,
    progress: bool = True,
    config: WorldConfig | None = None,
) -> Path:
    """Render ``minutes`` of the life ``life`` (``<family>-<place>``) of world ``seed`` into ``out_dir``.

    The life is split into recording sessions (videos) of ``config.session_minutes``; the person walks
    between places of interest, pauses, looks around and revisits places within and across sessions;
    sessions are spread over the day (lighting changes). Same arguments -> byte-identical frames; an
    identical request on an existing life only finishes missing videos.
    """
    cfg = config or WorldConfig()
    check_render_args(minutes, fps, size)
    family, place = parse_life_name(life)
    out = Path(out_dir)
    request = normalise_request({"generator": GENERATOR_VERSION, "kind": "world", "life": life, "seed": int(seed),
                          "minutes": float(minutes), "fps": float(fps), "size": int(size), "config": to_dict(cfg)})
    done = prepare_output(out, request)

    pool = build_texture_pool(seed, cfg.texture_size)
    layout = make_layout(seed, family, place, pool)
    rng = place_rng(seed, family, place, 1)
    person = Person.draw(rng, cfg)
    planner = Planner(layout)
    azimuth = float(rng.uniform(0, 2 * np.pi))
    total = max(1, int(round(minutes * 60 * fps)))
    counts = split_frames(total, rng, cfg.session_minutes[0] * 60 * fps, cfg.session_minutes[1] * 60 * fps)
    h0, h1 = cfg.day_hours
    visits = np.zeros(len(layout.pois), np.int64)
    videos, sessions = [], []
    for k, n in enumerate(counts):
        if k == 0:
            start = 0
        else:  # a new session starts at a place visited before, favouring frequent ones
            w = visits.astype(np.float64) + 1e-3
            start = int(rng.choice(len(w), p=w / w.sum()))
        track = walk_track(layout, planner, rng, cfg, person, n / fps, start, visits)
        hour = h0 + (h1 - h0) * (k + float(rng.uniform(0.1, 0.6))) / len(counts)
        sessions.append({"video": k, "frames": n, "start_hour": round(hour, 4), "start_poi": start})
        videos.append((k, f"world-{life}-session{k:03d}", [_Segment(layout, track, 0.0, n, hour, azimuth)]))

    meta = {"generator": GENERATOR_VERSION, "life": life, "family": family, "place": place, "world_seed": int(seed),
            "hfov_deg": cfg.hfov_deg, "image": f"square {size}x{size}", "world_frame": WORLD_FRAME,
            "sessions": sessions, "places_of_interest": len(layout.pois), "request": request}
    writer = LifeWriter(out, name=life, fps=fps, short_side=size, kind="world", has_depth=True, has_poses=True, meta=meta)
    todo = [v for v in videos if v[0] not in done]
    with writer:  # holds the life's lock until the videos are written
        _render_videos(writer, todo, pool, size, cfg, fps, progress)
    return out


def _nonlife_clips(seed: int, total: int, fps: float, clip_seconds: tuple[float, float],
                   cfg: WorldConfig) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """Plan videos of hard-cut clips: yields (video frames, clip dicts) until ``total`` frames."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x90DE]))
    families = list(FAMILIES)
    lo, hi = cfg.nonlife_video_minutes
    left = total
    while left > 0:
        target = min(left, max(1, int(round(rng.uniform(lo, hi) * 60 * fps))))
        if left - target < lo * 30 * fps:
            target = left
        clips = []
        for n in split_frames(target, rng, clip_seconds[0] * fps, clip_seconds[1] * fps):
            clips.append({"frames": n, "family": families[int(rng.integers(len(families)))],
                          "place": int(rng.integers(1000, 10**6)), "hour": round(float(rng.uniform(*cfg.day_hours)), 4),
                          "seed": int(rng.integers(2**31))})
        yield target, clips
        left -= target


def make_diverse(
    out_dir: str | Path,
    minutes: float = 10.0,
    fps: float = 2.0,
    seed: int = 0,
    size: int = 256,
    clip_seconds: tuple[float, float] = (2.0, 10.0),
    progress: bool = True,
    config: WorldConfig | None = None,
) -> Path:
    """The diverse-data control (the paper's Kinetics-400 analogue, which aligns *well*): unrelated
    ``clip_seconds`` clips, each from a different random place of the same world (random family),
    edited into videos of ``config.nonlife_video_minutes`` with hard cuts. Cut times are recorded only
    in ``meta["clips"]``. The life's kind is ``diverse``."""
    cfg = config or WorldConfig()
    check_render_args(minutes, fps, size)
    lo, hi = (float(c) for c in clip_seconds)
    if not 0 < lo <= hi:
        raise SlifeError(f"clip_seconds {clip_seconds}: must be (low, high) with 0 < low <= high")
    out = Path(out_dir)
    request = normalise_request({"generator": GENERATOR_VERSION, "kind": "diverse", "seed": int(seed), "minutes": float(minutes),
                          "fps": float(fps), "size": int(size), "clip_seconds": [lo, hi], "config": to_dict(cfg)})
    done = prepare_output(out, request)
    pool = build_texture_pool(seed, cfg.texture_size)
    total = max(1, int(round(minutes * 60 * fps)))
    plan = list(_nonlife_clips(seed, total, fps, (lo, hi), cfg))
    clip_meta = []
    for v, (_, clips) in enumerate(plan):
        t = 0
        for c in clips:
            clip_meta.append({"video": v, "start": t / fps, "end": (t + c["frames"]) / fps, "family": c["family"],
                              "place": c["place"], "hour": c["hour"]})
            t += c["frames"]
    meta = {"generator": GENERATOR_VERSION, "world_seed": int(seed), "hfov_deg": cfg.hfov_deg, "image": f"square {size}x{size}",
            "world_frame": WORLD_FRAME + " (each clip has its own place and coordinates)",
            "clip_seconds": [lo, hi], "clips": clip_meta, "request": request}
    writer = LifeWriter(out, name=out.name, fps=fps, short_side=size, kind="diverse", has_depth=True, has_poses=True, meta=meta)

    def segments(clips: list[dict[str, Any]]) -> Iterator[_Segment]:
        for c in clips:
            layout = make_layout(seed, c["family"], c["place"], pool)
            crng = np.random.default_rng(c["seed"])
            lead_in = float(crng.uniform(0.0, 20.0))  # start anywhere: walking, pausing, turning
            visits = np.zeros(len(layout.pois), np.int64)
            track = walk_track(layout, Planner(layout), crng, cfg, Person.draw(crng, cfg), lead_in + c["frames"] / fps,
                               int(crng.integers(len(layout.pois))), visits)
            yield _Segment(layout, track, lead_in, c["frames"], c["hour"], float(crng.uniform(0, 2 * np.pi)))

    todo = [(v, f"diverse-video{v:03d}", list(segments(clips))) for v, (_, clips) in enumerate(plan) if v not in done]
    with writer:  # holds the life's lock until the videos are written
        _render_videos(writer, todo, pool, size, cfg, fps, progress)
    return out


def _fixed_track(track: Track, at: float, seconds: float) -> Track:
    """A camera that stays where ``track`` is at time ``at``, for ``seconds``."""
    pose = [np.interp(at, track.t, a) for a in (track.yaw, track.pitch, track.roll)]
    pos = np.array([np.interp(at, track.t, track.pos[:, k]) for k in range(3)])
    t = np.array([0.0, max(seconds, 1e-6)])
    return Track(t, np.stack([pos, pos]), *(np.full(2, a) for a in pose))


LIFE_PLACES = range(1, 9)  # place numbers of the lives the static cameras are matched to (9: held-out test places)


def _life_person_and_sun(seed: int, family: str, place: int, cfg: WorldConfig) -> tuple[Person, float]:
    """The person and sun azimuth ``make_life`` draws for ``<family>-<place>`` (same stream, same order)."""
    rng = place_rng(seed, family, place, 1)
    person = Person.draw(rng, cfg)
    return person, float(rng.uniform(0, 2 * np.pi))


def make_static(
    out_dir: str | Path,
    minutes: float = 10.0,
    fps: float = 2.0,
    seed: int = 0,
    size: int = 256,
    time_lapse: float = 120.0,
    camera_seconds: tuple[float, float] = (4.0, 8.0),
    progress: bool = True,
    config: WorldConfig | None = None,
) -> Path:
    """A *non-life* control (the paper's surveillance video): fixed cameras, matched to the lives.

    A new fixed camera every ``camera_seconds`` (hard cuts between cameras), edited into videos of
    ``config.nonlife_video_minutes``. Each camera stands in one of the places the lives use (a random
    family of :data:`FAMILIES`, place 1-8 of the same world ``seed``; place 9 is held out for tests),
    posed where that place's person would stand and look on a walk there, and never moves: only the
    light changes, ``time_lapse`` times faster than real time (120: 6 s span 12 minutes of the day),
    with the place's own sun azimuth. So the control has about as many distinct views and the same
    places as a life, but no camera motion. Depth and poses are written as for a life; pairs within a
    camera see the same view (identical pixels up to light and JPEG, not after independent crops).
    ``meta["cameras"]`` lists each camera's ``video``, ``start``/``end`` (seconds of the video),
    family, place and start hour. The life's kind is ``static``."""
    cfg = config or WorldConfig()
    check_render_args(minutes, fps, size)
    if not 1.0 <= time_lapse <= 10000.0:
        raise SlifeError(f"time_lapse {time_lapse}: must be in [1, 10000]")
    lo, hi = (float(c) for c in camera_seconds)
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo <= hi <= 3600.0):
        raise SlifeError(f"camera_seconds {tuple(camera_seconds)}: must be (low, high) with 0 < low <= high <= 3600")
    out = Path(out_dir)
    request = normalise_request({"generator": GENERATOR_VERSION, "kind": "static", "seed": int(seed), "minutes": float(minutes),
                          "fps": float(fps), "size": int(size), "time_lapse": float(time_lapse),
                          "camera_seconds": [lo, hi], "config": to_dict(cfg)})  # fmt: skip
    done = prepare_output(out, request)
    pool = build_texture_pool(seed, cfg.texture_size)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x57A8]))
    total = max(1, int(round(minutes * 60 * fps)))
    families = list(FAMILIES)
    places: dict[tuple[str, int], tuple[Layout, Planner, Person, float]] = {}
    videos, cameras = [], []
    v_lo, v_hi = cfg.nonlife_video_minutes
    h0, h1 = cfg.day_hours
    left, v = total, 0
    while left > 0:
        target = min(left, max(1, int(round(rng.uniform(v_lo, v_hi) * 60 * fps))))
        if left - target < v_lo * 30 * fps:
            target = left
        segments, t = [], 0
        for n in split_frames(target, rng, lo * fps, hi * fps):
            family, place = families[int(rng.integers(len(families)))], LIFE_PLACES[int(rng.integers(len(LIFE_PLACES)))]
            if (family, place) not in places:
                layout = make_layout(seed, family, place, pool)
                places[(family, place)] = (layout, Planner(layout), *_life_person_and_sun(seed, family, place, cfg))
            layout, planner, person, azimuth = places[(family, place)]
            crng = np.random.default_rng(int(rng.integers(2**31)))
            walk = walk_track(layout, planner, crng, cfg, person, 30.0, int(crng.integers(len(layout.pois))),
                              np.zeros(len(layout.pois), np.int64))
            at = float(crng.uniform(0.0, 30.0))
            hour = float(crng.uniform(h0, max(h0, h1 - time_lapse * n / fps / 3600.0)))
            cameras.append({"video": v, "start": t / fps, "end": (t + n) / fps, "family": family, "place": place,
                            "start_hour": round(hour, 4)})
            segments.append(_Segment(layout, _fixed_track(walk, at, n / fps), 0.0, n, hour, azimuth, time_lapse))
            t += n
        videos.append((v, f"static-video{v:03d}", segments))
        left -= target
        v += 1
    meta = {"generator": GENERATOR_VERSION, "world_seed": int(seed), "hfov_deg": cfg.hfov_deg, "image": f"square {size}x{size}",
            "world_frame": WORLD_FRAME + " (cameras at the same family and place share one)", "cameras": cameras,
            "camera_seconds": [lo, hi], "time_lapse": time_lapse, "request": request}  # fmt: skip
    writer = LifeWriter(out, name=out.name, fps=fps, short_side=size, kind="static", has_depth=True, has_poses=True, meta=meta)
    todo = [x for x in videos if x[0] not in done]
    with writer:  # holds the life's lock until the videos are written
        _render_videos(writer, todo, pool, size, cfg, fps, progress)
    return out


def make_nonlife(*args: Any, **kwargs: Any) -> Path:
    """Deprecated name of :func:`make_diverse` (many short clips with hard cuts are the paper's
    *diverse-data* control, not its non-life one)."""
    import warnings

    warnings.warn("make_nonlife is deprecated: use make_diverse (the diverse-data control)", DeprecationWarning, stacklevel=2)
    return make_diverse(*args, **kwargs)
