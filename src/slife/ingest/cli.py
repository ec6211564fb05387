"""``slife ingest LIFE_DIR VIDEO...``: turn an ordered list of videos into a life."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from slife.config import add_config_arguments

# shortcut flag -> IngestConfig field (applied after --config and --set)
_FLAG_FIELDS = (
    ("fps", "fps"),
    ("short_side", "short_side"),
    ("quality", "jpeg_quality"),
    ("name", "name"),
    ("threads", "threads"),
    ("jobs", "jobs"),
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``slife ingest`` to the top-level parser (``slife info`` lives in slife.cli)."""
    p = sub.add_parser(
        "ingest",
        help="decode videos (in life order) into a life directory",
        description=(
            "Decode each VIDEO at --fps (nearest frame to each k/fps), resize to --short-side, JPEG-encode, "
            "and store one shard per video in LIFE_DIR. Re-running skips finished videos; a corrupt video "
            "keeps the frames that could be recovered. Exit status 1 if a video failed completely."
        ),
    )
    p.add_argument("life_dir", type=Path, help="life directory (created if missing)")
    p.add_argument("videos", nargs="+", type=Path, metavar="VIDEO",
                   help="video files, in life order; @FILE stands for the videos FILE names, one per line "
                        "(# comments; relative paths are relative to FILE)")
    p.add_argument("--fps", type=float, default=None, help="frames kept per second of video (default 2)")
    p.add_argument("--short-side", type=int, default=None, help="short side of stored frames (default 256)")
    p.add_argument("--quality", type=int, default=None, help="JPEG quality 1..100 (default 90)")
    p.add_argument("--name", default=None, help="life name (default: directory name)")
    p.add_argument("--threads", type=int, default=None, help="JPEG encoding threads (default 2; 0 = none)")
    p.add_argument("--jobs", type=int, default=None,
                   help="videos decoded at once in worker processes, the cores split between them (default 1)")
    p.add_argument("--aria-mps", default=None, metavar="MPS_DIR",
                   help="Aria MPS SLAM output (folder, zip, or HD-EPIC's folder of zips): store each frame's pose, "
                        "intrinsics and the semi-dense points (docs/real_lives.md)")
    p.add_argument("--aria-time", nargs="+", default=None, metavar="CSV",
                   help="one *_mp4_to_vrs_time_ns.csv per video, in video order (default: the one beside each video)")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary table")
    add_config_arguments(p)
    p.set_defaults(func=_ingest)


def _ingest(args: argparse.Namespace) -> int:
    from slife.config import load_config
    from slife.ingest.config import IngestConfig
    from slife.ingest.pipeline import ingest_life

    from slife.errors import SlifeError

    args.videos = expand_video_lists(args.videos)
    given = [(key, getattr(args, attr)) for attr, key in _FLAG_FIELDS if getattr(args, attr) is not None]
    flags = [f"{key}={_yaml_scalar(value)}" for key, value in given]
    cfg = load_config(IngestConfig, args.config, [*args.overrides, *flags])
    if args.aria_mps is not None or args.aria_time is not None:
        import dataclasses

        aria = dataclasses.replace(cfg.aria, mps=args.aria_mps if args.aria_mps is not None else cfg.aria.mps,
                                   time_sync=list(args.aria_time) if args.aria_time else cfg.aria.time_sync)  # fmt: skip
        if aria.mps is None:
            raise SlifeError("--aria-time needs --aria-mps (the MPS folder the device times refer to)")
        cfg = dataclasses.replace(cfg, aria=aria)
    report = ingest_life(args.life_dir, args.videos, cfg, progress=not args.quiet)
    for video in report.videos:
        if video.status == "failed":
            print(f"slife ingest: error: {video.message}", file=sys.stderr)
        elif video.message:
            print(f"slife ingest: warning: {video.source}: {video.message}", file=sys.stderr)
    if not args.quiet:
        print(format_report(report))
    return 1 if report.failed else 0


def expand_video_lists(videos: list[Path]) -> list[Path]:
    """Each ``@FILE`` argument (that is not itself a file) replaced by the videos FILE names."""
    out: list[Path] = []
    for v in videos:
        text = str(v)
        if text.startswith("@") and not v.exists():
            out.extend(read_video_list(Path(text[1:])))
        else:
            out.append(v)
    return out


def read_video_list(path: Path) -> list[Path]:
    """The videos named in ``path``, one per line (blank lines and ``#`` comments skipped; relative paths
    relative to the file's folder)."""
    from slife.errors import SlifeError

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SlifeError(f"{path}: cannot read the video list: {exc}") from exc
    videos = []
    for line in text.splitlines():
        name = line.strip()
        if name and not name.startswith("#"):
            p = Path(name).expanduser()
            videos.append(p if p.is_absolute() else path.parent / p)
    if not videos:
        raise SlifeError(f"{path}: the video list names no video")
    return videos


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, str):  # quote so that names like "yes" or "1e3" stay strings
        return "'" + value.replace("'", "''") + "'"
    return str(value)


def format_report(report: Any) -> str:
    """A plain-text summary table of an IngestReport."""
    rows = [("#", "status", "frames", "decoded", "seconds", "wall s", "video")]
    for v in report.videos:
        rows.append(
            (
                str(v.order + 1),
                v.status,
                str(v.frames),
                str(v.decoded) if v.status != "skipped" else "-",
                f"{v.duration:.2f}" if v.status != "failed" else "-",
                f"{v.seconds:.2f}",
                v.source,
            )
        )
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]) - 1)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths)) + "  " + r[-1] for r in rows]
    rate = report.decoded / report.seconds if report.seconds > 0 else 0.0
    counts = {s: sum(v.status == s for v in report.videos) for s in ("ingested", "recovered", "skipped", "failed")}
    lines.append(
        f"{report.life_dir}: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        + f"; {report.frames} new frames from {report.decoded} decoded"
        + f" in {report.seconds:.1f} s ({rate:.0f} frames/s)"
    )
    for source in report.unlisted:
        lines.append(f"note: {source} is in the life but was not listed in this run (kept)")
    return "\n".join(lines)
