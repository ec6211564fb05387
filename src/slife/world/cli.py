"""``slife world make|diverse|static|screen|deadleaves``: render synthetic lives and the controls;
``slife world export-mps``: a life in the Aria MPS / HD-EPIC layout."""

from __future__ import annotations

import argparse
from pathlib import Path

from slife.config import add_config_arguments


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", type=Path, help="life directory to create")
    p.add_argument("--minutes", type=float, default=10.0, help="minutes of video (default 10)")
    p.add_argument("--fps", type=float, default=2.0, help="frames per second (default 2)")
    p.add_argument("--seed", type=int, default=0, help="world seed: fixes textures and places (default 0)")
    p.add_argument("--size", type=int, default=256, help="side of the square frames in pixels (default 256)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_config_arguments(p)


def _config(args: argparse.Namespace):
    from slife.config import load_config
    from slife.world.config import WorldConfig

    return load_config(WorldConfig, args.config, args.overrides)


def _make(args: argparse.Namespace) -> int:
    from slife.life import Life
    from slife.world.generate import make_life

    out = make_life(args.out, life=args.life, minutes=args.minutes, fps=args.fps, seed=args.seed, size=args.size,
                    progress=not args.quiet, config=_config(args))
    info = Life.open(out).info()
    print(f"{out}: {info['name']} ({info['kind']}), {info['frames']} frames, {info['videos']} videos, {info['hours']:.3f} h")
    return 0


def _diverse(args: argparse.Namespace) -> int:
    import sys

    from slife.life import Life
    from slife.world.generate import make_diverse

    if args.world_command == "nonlife":
        print("slife world nonlife: deprecated name, use `slife world diverse` (short clips with hard cuts are "
              "the paper's diverse-data control)", file=sys.stderr)
    out = make_diverse(args.out, minutes=args.minutes, fps=args.fps, seed=args.seed, size=args.size,
                       clip_seconds=(args.clip_min, args.clip_max), progress=not args.quiet, config=_config(args))
    info = Life.open(out).info()
    print(f"{out}: diverse-data control, {info['frames']} frames, {info['videos']} videos, {len(Life.open(out).meta['clips'])} clips")
    return 0


def _static(args: argparse.Namespace) -> int:
    from slife.life import Life
    from slife.world.generate import make_static

    out = make_static(args.out, minutes=args.minutes, fps=args.fps, seed=args.seed, size=args.size,
                      time_lapse=args.time_lapse, camera_seconds=(args.camera_min, args.camera_max),
                      progress=not args.quiet, config=_config(args))
    life = Life.open(out)
    print(f"{out}: non-life control (static cameras), {len(life)} frames, {len(life.meta['cameras'])} cameras, "
          f"{len(life.manifest.videos)} videos")
    return 0


def _deadleaves(args: argparse.Namespace) -> int:
    from slife.life import Life
    from slife.world.deadleaves import make_deadleaves

    out = make_deadleaves(args.out, minutes=args.minutes, fps=args.fps, seed=args.seed, size=args.size,
                          progress=not args.quiet)
    life = Life.open(out)
    print(f"{out}: dead-leaves null (unrelated images), {len(life)} frames, {len(life.manifest.videos)} videos")
    return 0


def _screen(args: argparse.Namespace) -> int:
    from slife.life import Life
    from slife.world.screen import make_screen

    out = make_screen(args.out, minutes=args.minutes, fps=args.fps, seed=args.seed, size=args.size,
                      progress=not args.quiet, content=args.content)  # fmt: skip
    life = Life.open(out)
    print(f"{out}: non-life control (screen recordings), {len(life)} frames, {len(life.manifest.videos)} videos, "
          f"content {life.meta.get('content', 'apps')}")
    return 0


def _export_mps(args: argparse.Namespace) -> int:
    from slife.errors import SlifeError
    from slife.life import Life
    from slife.world.mps_export import export_mps

    life = Life.open(args.life)
    if not (life.has_depth and life.has_poses):
        raise SlifeError(f"{args.life}: exporting in the MPS layout needs a life with depth and poses")
    if args.out.exists() and any(args.out.iterdir()):
        raise SlifeError(f"{args.out}: exists and is not empty; export into a new folder")
    ex = export_mps(life, args.out, size=args.size, seed=args.seed, rotate=args.rotate, as_zip=not args.folder)
    times = " ".join(str(t) for t in ex.time_sync)
    print(f"{args.out}: {len(ex.videos)} fisheye videos, MPS outputs in {ex.mps}. Ingest them with:\n"
          f"slife ingest LIFE {' '.join(str(v) for v in ex.videos)} --fps {life.fps:g} --short-side {args.size} "
          f"--aria-mps {ex.mps} --aria-time {times}" + (f" --set aria.rotate={args.rotate}" if args.rotate else ""))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``slife world make|diverse|static|screen|deadleaves`` (``nonlife``: deprecated alias of ``diverse``)."""
    world = sub.add_parser("world", help="render synthetic lives with depth and poses (offline default data)")
    wsub = world.add_subparsers(dest="world_command", required=True)
    make = wsub.add_parser("make", help="render one life <family>-<place> (families: kitchen, street)")
    _common(make)
    make.add_argument("--life", default="kitchen-1", help="life name <family>-<place>, e.g. kitchen-1, street-2")
    make.set_defaults(func=_make)
    for name, text in (("diverse", "render the diverse-data control (the paper's Kinetics analogue): unrelated "
                                   "short clips of many places with hard cuts"),
                       ("nonlife", "deprecated name of `diverse`")):  # fmt: skip
        non = wsub.add_parser(name, help=text)
        _common(non)
        non.add_argument("--clip-min", type=float, default=2.0, help="shortest clip in seconds (default 2)")
        non.add_argument("--clip-max", type=float, default=10.0, help="longest clip in seconds (default 10)")
        non.set_defaults(func=_diverse)
    static = wsub.add_parser("static", help="render a non-life control: fixed (surveillance) cameras in the lives' "
                                            "places, a new one every few seconds; only the light changes")
    _common(static)
    static.add_argument("--time-lapse", type=float, default=120.0,
                        help="hours of daylight per hour of video (default 120: 6 seconds span 12 minutes)")
    static.add_argument("--camera-min", type=float, default=4.0, help="shortest camera shot in seconds (default 4)")
    static.add_argument("--camera-max", type=float, default=8.0, help="longest camera shot in seconds (default 8)")
    static.set_defaults(func=_static)
    screen = wsub.add_parser("screen", help="render a non-life control: screen recordings (2D content that scrolls, "
                                            "pans and cuts; no 3D motion, no depth)")
    _common(screen)
    screen.add_argument("--content", choices=("apps", "world"), default="apps",
                        help="apps: documents, code, sheets, photos (default); world: canvases made from the "
                             "world's own texture pool (same textures as the lives, no 3D motion)")  # fmt: skip
    screen.set_defaults(func=_screen)
    leaves = wsub.add_parser("deadleaves", help="render the shift-only null: independent dead-leaves images "
                                                "(occluding random discs), no depth or poses")
    for flag, kind, default, text in (("--minutes", float, 10.0, "minutes of frames (default 10)"),
                                      ("--fps", float, 2.0, "frames per second (default 2)"),
                                      ("--seed", int, 0, "seed of the images (default 0)"),
                                      ("--size", int, 256, "side of the square frames in pixels (default 256)")):
        leaves.add_argument(flag, type=kind, default=default, help=text)
    leaves.add_argument("out", type=Path, help="life directory to create")
    leaves.add_argument("--quiet", action="store_true", help="no progress bar")
    leaves.set_defaults(func=_deadleaves)
    mps = wsub.add_parser("export-mps", help="write a life with depth and poses in the Aria MPS / HD-EPIC layout "
                                             "(fisheye MP4s, 1 kHz trajectory, calibration, semi-dense points, time sync)")
    mps.add_argument("life", type=Path, help="a life with depth and poses (e.g. from slife world make)")
    mps.add_argument("out", type=Path, help="new folder for Videos/ and SLAM/")
    mps.add_argument("--size", type=int, default=256, help="side of the square fisheye videos (default 256)")
    mps.add_argument("--seed", type=int, default=0, help="seed of the points' noise (default 0)")
    mps.add_argument("--rotate", type=int, default=0, choices=(0, 1, 2, 3),
                     help="clockwise quarter turns from the sensor image to the videos (default 0)")
    mps.add_argument("--folder", action="store_true", help="MPS outputs as a folder, not a zip")
    mps.set_defaults(func=_export_mps)
