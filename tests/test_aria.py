"""Aria MPS / HD-EPIC ingest (issue #20), tested against a synthetic life exported in the MPS layout."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from slife.errors import SlifeError
from slife.geometry import interpolate_poses, quaternions_to_rotations, rotations_to_quaternions
from slife.ingest import IngestConfig
from slife.ingest.aria.fisheye import Fisheye624, to_aria_pixels, to_stored_pixels
from slife.ingest.aria.frames import AriaConfig, rotation_display_from_raw
from slife.ingest.aria.table import read_table
from slife.ingest.pipeline import ingest_life
from slife.life import Life
from lives import make_test_life
from slife.world.mps_export import export_mps

# Aria-like RGB lens (2880 px calibration): monotonic well past 60 degrees
ARIA = np.array([1216.0, 1439.5, 1441.2, 0.38, -0.21, 0.05, 0.12, -0.09, 0.02, 4e-4, -2e-4, -6e-4, 1e-4, 5e-4, -1e-4])


def _rays(theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    return np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], axis=1)


# ---- the fisheye model ---------------------------------------------------------------------------
def test_fisheye_values_at_known_angles():
    p = ARIA.copy()
    p[3:] = 0.0  # no distortion: equidistant, radius = f * theta
    m = Fisheye624(p)
    for theta in (0.0, 0.3, 0.8, 1.2):
        xy = m.project(_rays(np.array([theta]), np.array([0.0])) * 5.0)[0]
        assert xy == pytest.approx([1439.5 + 1216.0 * theta, 1441.2], abs=1e-9)
    # radial terms: theta_d = theta (1 + k0 theta^2 + ... + k5 theta^12), along +y
    m = Fisheye624(np.concatenate([ARIA[:9], np.zeros(6)]))
    t = 0.7
    td = t * (1 + sum(k * t ** (2 * (i + 1)) for i, k in enumerate(ARIA[3:9])))
    assert m.project(_rays(np.array([t]), np.array([np.pi / 2])))[0] == pytest.approx([1439.5, 1441.2 + 1216.0 * td], abs=1e-9)
    # tangential + thin prism at a point on the x axis (u1 = 0): dx = p0 (3 r^2) + s0 r^2 + s1 r^4, dy = p1 r^2 + s2 r^2 + s3 r^4
    m = Fisheye624(ARIA)
    td = t * (1 + sum(k * t ** (2 * (i + 1)) for i, k in enumerate(ARIA[3:9])))
    p0, p1, s0, s1, s2, s3 = ARIA[9:]
    r2 = td * td
    want = [1439.5 + 1216.0 * (td + 3 * p0 * r2 + s0 * r2 + s1 * r2 * r2), 1441.2 + 1216.0 * (p1 * r2 + s2 * r2 + s3 * r2 * r2)]
    assert m.project(_rays(np.array([t]), np.array([0.0])))[0] == pytest.approx(want, abs=1e-9)


def test_fisheye_project_unproject_identity():
    m = Fisheye624(ARIA)
    rng = np.random.default_rng(0)
    rays = _rays(rng.uniform(0, 1.0, 2000), rng.uniform(0, 2 * np.pi, 2000))
    xy = m.project(rays * rng.uniform(0.2, 30, (2000, 1)))
    assert np.abs(m.unproject(xy) - rays).max() < 1e-9
    pix = rng.uniform(300, 2580, (2000, 2))
    assert np.abs(m.project(m.unproject(pix)) - pix).max() < 1e-6


def test_fisheye_pixel_convention_and_scaling():
    stored = to_stored_pixels(ARIA, 2880, 256)
    s = 256 / 2880
    assert stored.params[:3] == pytest.approx([1216.0 * s, 1440.0 * s, 1441.7 * s])
    assert stored.params[3:] == pytest.approx(ARIA[3:])
    assert to_aria_pixels(stored, 256, 2880) == pytest.approx(ARIA)
    ray = _rays(np.array([0.4]), np.array([1.0]))
    aria_xy = Fisheye624(ARIA).project(ray)[0]
    assert stored.project(ray)[0] == pytest.approx((aria_xy + 0.5) * s)  # Aria pixel centres are integers


# ---- rotations and interpolation ------------------------------------------------------------------
def test_quaternions_and_slerp():
    rng = np.random.default_rng(1)
    q = rng.normal(size=(200, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    q *= np.sign(q[:, :1])
    R = quaternions_to_rotations(q)
    assert np.abs(rotations_to_quaternions(R) - q).max() < 1e-12
    assert np.abs(R @ R.transpose(0, 2, 1) - np.eye(3)).max() < 1e-12
    # 0 -> 90 degrees about z, translation 0 -> (1, 2, 3): at 1/3 of the time, 30 degrees and 1/3 of the way
    half = np.sqrt(0.5)
    poses, inside = interpolate_poses(np.array([-1.0, 1.0, 3.0, 4.0]), np.array([0.0, 3.0]),
                                      np.array([[0.0, 0, 0], [1, 2, 3]]), np.array([[1.0, 0, 0, 0], [half, 0, 0, half]]))
    assert inside.tolist() == [False, True, True, False]
    assert np.isnan(poses[0]).all() and np.isnan(poses[3]).all()
    assert poses[1][:3, 3] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert np.rad2deg(np.arctan2(poses[1][1, 0], poses[1][0, 0])) == pytest.approx(30.0)
    assert poses[2][:3, :3] == pytest.approx(quaternions_to_rotations([half, 0, 0, half])[0])


# ---- the CSV reader -----------------------------------------------------------------------------
def _table_bytes(rows: int, rng: np.random.Generator) -> bytes:
    lines = ["graph_uid,tracking_timestamp_us,tx_world_device,quality_score"]
    for k in range(rows):
        uid = "aa-11" if k < rows // 2 else "bb-22"
        lines.append(f"{uid},{1000 + k},{rng.normal():.6f},{rng.uniform():.3f}")
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("crlf", [False, True])
def test_table_fast_and_row_by_row_agree(monkeypatch, crlf):
    from slife.ingest.aria import table as tab

    data = _table_bytes(5000, np.random.default_rng(2))
    data = data.replace(b"\n", b"\r\n") if crlf else data
    body = io.BytesIO(data)
    header = body.readline().decode().strip().split(",")
    assert tab._fast(body, header, ["tracking_timestamp_us"], ["graph_uid"], "x.csv") is not None  # numpy's parser took it
    fast = read_table(lambda: io.BytesIO(data), "x.csv", ["tracking_timestamp_us", "tx_world_device"], strings=["graph_uid"])
    monkeypatch.setattr(tab, "_fast", lambda *a: None)
    slow = read_table(lambda: io.BytesIO(data), "x.csv", ["tracking_timestamp_us", "tx_world_device"], strings=["graph_uid"])
    for c in fast.numbers:
        assert np.array_equal(fast.numbers[c], slow.numbers[c])
    assert fast.values["graph_uid"] == slow.values["graph_uid"] == ["aa-11", "bb-22"]
    assert np.array_equal(fast.strings["graph_uid"], slow.strings["graph_uid"])
    assert fast.strings["graph_uid"].tolist() == [0] * 2500 + [1] * 2500


@pytest.mark.parametrize("bad, message", [
    ("aa,12,,0.5", "line 3: column tx_world_device is '', not a number"),
    ("aa,12,nan,0.5", "line 3: column tx_world_device is nan"),
    ("aa,12,1.0", "line 3: 3 fields, the header has 4"),
])  # fmt: skip
def test_table_bad_rows_name_the_line(bad, message):
    data = f"graph_uid,tracking_timestamp_us,tx_world_device,quality_score\naa,11,1.0,0.5\n{bad}\naa,13,1.0,0.5\n".encode()
    with pytest.raises(SlifeError, match=r"^t\.csv: " + message.replace("(", r"\(").replace(")", r"\)")):
        read_table(lambda: io.BytesIO(data), "t.csv", ["tracking_timestamp_us", "tx_world_device"], strings=["graph_uid"])


# ---- end to end: a synthetic life exported in the MPS layout --------------------------------------
@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("aria")
    gt = make_test_life(root / "gt", durations=(6.0, 5.0), fps=4.0, width=64, height=48)
    ex = export_mps(gt, root / "mps", size=64)
    return gt, ex


def _ingest(ex, out: Path, **aria) -> Life:
    sync = aria.pop("time_sync", [str(s) for s in ex.time_sync])
    cfg = IngestConfig(fps=4.0, short_side=64, threads=0, aria=AriaConfig(mps=str(aria.pop("mps", ex.mps)), time_sync=sync, **aria))
    report = ingest_life(out, ex.videos, cfg, progress=False)
    assert not report.failed
    return Life.open(out)


def _angle_deg(Ra: np.ndarray, Rb: np.ndarray) -> float:
    return float(np.rad2deg(np.arccos(np.clip((np.trace(Ra.T @ Rb) - 1) / 2, -1, 1))))


def test_mps_ingest_gives_back_the_poses_and_intrinsics(exported, tmp_path):
    gt, ex = exported
    life = _ingest(ex, tmp_path / "life")
    assert len(life) == len(gt) == 44 and life.has_poses and not life.has_depth
    posed = np.isfinite(life.poses).all(axis=(1, 2))
    assert (~posed).sum() == 2 and not posed[-2:].any()  # the last video's trajectory ends 2 frames early
    assert life.info()["frames_without_pose"] == 2
    for i in np.flatnonzero(posed):
        want = ex.world_of_graph[ex.graph_of_video[int(life.video_index[i])]] @ gt.poses[i]
        assert np.linalg.norm(life.poses[i][:3, 3] - want[:3, 3]) < 1e-3  # < 1 mm
        assert _angle_deg(life.poses[i][:3, :3], want[:3, :3]) < 0.1
    K = life.intrinsics[0]
    f, cx, cy = ex.model.params[:3]
    assert K == pytest.approx(np.array([[f, 0, cx], [0, f, cy], [0, 0, 1]]), abs=1e-6)
    with np.load(life.dir / life.manifest.videos[0].index) as d:
        assert d["camera"][0] == pytest.approx(ex.model.params, abs=1e-6)
        assert set(d["graph"].tolist()) == {0}
    assert life.verify() == []


def _jaccard_matrix(sets) -> np.ndarray:
    A = sets.incidence.astype(np.float64)
    inter = (A @ A.T).toarray()
    size = np.asarray(A.sum(axis=1)).ravel()
    return inter / np.maximum(size[:, None] + size[None, :] - inter, 1)


def test_mps_spatial_pairs_agree_with_depth_pairs(exported, tmp_path):
    from scipy.stats import spearmanr

    from slife.pairs.points import points_visible_sets
    from slife.pairs.spatial import SpatialConfig, depth_visible_sets, spatial_index

    gt, ex = exported
    life = _ingest(ex, tmp_path / "life")
    cfg = SpatialConfig()
    pts, depth = points_visible_sets(life, cfg), depth_visible_sets(gt, cfg)
    jp, jd = _jaccard_matrix(pts), _jaccard_matrix(depth)
    iu = np.triu_indices(len(life), 1)
    posed = np.isfinite(life.poses[:, 0, 0])
    same = (pts.groups[:, None] == pts.groups[None, :])[iu] & posed[iu[0]] & posed[iu[1]]
    x, y = jd[iu][same], jp[iu][same]
    seen = (x > 0) | (y > 0)
    assert seen.sum() > 100
    assert spearmanr(x[seen], y[seen]).correlation >= 0.9
    index = spatial_index(life, cfg)
    assert len(index.pairs) > 20
    graph = np.asarray([ex.graph_of_video[v] for v in life.video_index])
    assert (graph[index.pairs[:, 0]] == graph[index.pairs[:, 1]]).all()  # never across graph_uids
    assert posed[index.pairs].all()
    assert index.params["source"] == "points"


def test_mps_folder_layout_old_calibration_and_beside_video_sync(exported, tmp_path):
    gt, _ = exported
    ex = export_mps(gt, tmp_path / "mps", size=64, as_zip=False)
    life = _ingest(ex, tmp_path / "life", time_sync=[])  # HD-EPIC naming: found beside each video
    ref = _ingest(exported[1], tmp_path / "ref")
    assert np.allclose(life.poses, ref.poses, equal_nan=True, atol=1e-9)


def test_mps_rotated_video(exported, tmp_path):
    gt, _ = exported
    ex = export_mps(gt, tmp_path / "mps", size=64, rotate=1)
    life = _ingest(ex, tmp_path / "life", rotate=1)
    turn = np.eye(4)
    turn[:3, :3] = rotation_display_from_raw(1).T
    for i in np.flatnonzero(np.isfinite(life.poses[:, 0, 0])):
        want = ex.world_of_graph[ex.graph_of_video[int(life.video_index[i])]] @ gt.poses[i] @ turn
        assert np.linalg.norm(life.poses[i][:3, 3] - want[:3, 3]) < 1e-3
        assert _angle_deg(life.poses[i][:3, :3], want[:3, :3]) < 0.1
    f, cx, cy = ex.model.params[:3]
    assert life.intrinsics[0][:2, 2] == pytest.approx([64 - cy, cx])


def test_cli_ingest_with_aria_mps(exported, tmp_path):
    _, ex = exported
    out = tmp_path / "life"
    cmd = [sys.executable, "-m", "slife", "ingest", str(out), *map(str, ex.videos), "--fps", "4", "--short-side", "64",
           "--aria-mps", str(ex.mps), "--aria-time", *map(str, ex.time_sync), "--quiet"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "2 of 20 frames have no pose" in done.stderr
    life = Life.open(out)
    assert life.has_poses and np.isfinite(life.poses[:-2]).all()
    from slife.pairs.config import PairsConfig, resolve_weights

    assert resolve_weights(life, PairsConfig()) == {"temporal": 0.5, "spatial": 0.5}
    info = subprocess.run([sys.executable, "-m", "slife", "info", str(out)], capture_output=True, text=True, timeout=60)
    assert "poses       yes (2 frames without a pose)" in info.stdout


# ---- bad input: one line naming the file, the row and the problem; nothing written ---------------
def _edit_zip(src: Path, dst: Path, name: str, edit) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.namelist():
            data = zin.read(item)
            if item.endswith(name):
                data = edit(data)
            zout.writestr(item, data)
    return dst


def _lines_edit(fn):
    def edit(data: bytes) -> bytes:
        lines = data.decode().splitlines()
        return ("\n".join(fn(lines)) + "\n").encode()
    return edit


def _gz_edit(fn):
    return lambda data: gzip.compress(_lines_edit(fn)(gzip.decompress(data)))


def _swap(lines, a, b):
    lines[a], lines[b] = lines[b], lines[a]
    return lines


def _set_field(lines, row, col, value):
    parts = lines[row].split(",")
    parts[col] = value
    lines[row] = ",".join(parts)
    return lines


def _calib_without_rgb(lines):
    out = []
    for line in lines:
        obj = json.loads(line)
        obj = json.loads(obj) if isinstance(obj, str) else obj
        obj["CameraCalibrations"] = [c for c in obj["CameraCalibrations"] if c["Label"] != "camera-rgb"]
        out.append(json.dumps(obj))
    return out


TRAJ = "0/slam/closed_loop_trajectory.csv"
BAD_MPS = [
    (TRAJ, _lines_edit(lambda ls: [ls[0].replace("tx_world_device", "tx_world"), *ls[1:]]),
     r"closed_loop_trajectory\.csv: line 1: missing column\(s\) tx_world_device"),
    (TRAJ, _lines_edit(lambda ls: _swap(ls, 10, 11)), r"closed_loop_trajectory\.csv: line 12: tracking_timestamp_us \d+ goes back"),
    (TRAJ, _lines_edit(lambda ls: ls[:11] + ls[10:]), r"closed_loop_trajectory\.csv: line 12: tracking_timestamp_us \d+ repeats"),
    (TRAJ, _lines_edit(lambda ls: _set_field(ls, 7, 4, "nan")), r"closed_loop_trajectory\.csv: line 8: column ty_world_device is nan"),
    ("0/slam/online_calibration.jsonl", _lines_edit(_calib_without_rgb), r"online_calibration\.jsonl: line 1: no camera-rgb calibration"),
    ("0/slam/semidense_points.csv.gz", _gz_edit(lambda ls: _set_field(ls, 5, 1, "ffff-not-a-graph")),
     r"semidense_points\.csv\.gz: line 6: graph_uid ffff-not-a-graph is in no trajectory graph"),
]  # fmt: skip


@pytest.mark.parametrize("name, edit, message", BAD_MPS, ids=["renamed-column", "unsorted", "duplicate", "nan", "no-rgb", "no-graph"])
def test_bad_mps_files_are_refused_before_anything_is_written(exported, tmp_path, name, edit, message):
    _, ex = exported
    bad = _edit_zip(ex.mps, tmp_path / "bad.zip", name, edit)
    out = tmp_path / "life"
    cfg = IngestConfig(fps=4.0, short_side=64, threads=0, aria=AriaConfig(mps=str(bad), time_sync=[str(s) for s in ex.time_sync]))
    with pytest.raises(SlifeError, match=f"^{bad}:multi/.*{message}") as err:
        ingest_life(out, ex.videos, cfg, progress=False)
    assert "\n" not in str(err.value)
    assert not out.exists()


def test_time_sync_of_another_video_is_refused(exported, tmp_path):
    _, ex = exported
    out = tmp_path / "life"
    swapped = [str(ex.time_sync[1]), str(ex.time_sync[0])]
    cfg = IngestConfig(fps=4.0, short_side=64, threads=0, aria=AriaConfig(mps=str(ex.mps), time_sync=swapped))
    with pytest.raises(SlifeError, match=r"_mp4_to_vrs_time_ns\.csv: covers 5\.00 s of MP4 time \(20 rows\), but .*gt-0\.mp4 "
                                         r"lasts 6\.00 s; a time-sync file for another video\?"):  # fmt: skip
        ingest_life(out, ex.videos, cfg, progress=False)
    assert not out.exists()
    shutil.copy(ex.time_sync[0], tmp_path / "sync.csv")  # the right length, but frame times that do not match
    lines = (tmp_path / "sync.csv").read_text().splitlines()
    parts = lines[5].split(",")
    parts[0] = str(int(parts[0]) + 200_000_000)
    lines[5] = ",".join(parts)
    (tmp_path / "sync.csv").write_text("\n".join(lines) + "\n")
    cfg = IngestConfig(fps=4.0, short_side=64, threads=0, aria=AriaConfig(mps=str(ex.mps), time_sync=[str(tmp_path / "sync.csv"), str(ex.time_sync[1])]))
    with pytest.raises(SlifeError, match=r"sync\.csv: line 6: mp4_time_ns says 1\.200 s, but frame 4 of .*gt-0\.mp4 is at 1\.000 s"):
        ingest_life(out, ex.videos, cfg, progress=False)
    life = Life.open(out)
    assert len(life.manifest.videos) == 0  # the video whose geometry failed was not committed


def test_missing_time_sync_and_unknown_recording(exported, tmp_path):
    _, ex = exported
    video = tmp_path / "other.mp4"
    shutil.copy(ex.videos[0], video)
    cfg = IngestConfig(fps=4.0, short_side=64, aria=AriaConfig(mps=str(ex.mps)))
    with pytest.raises(SlifeError, match=r"other\.mp4: no time-sync file \(give --aria-time"):
        ingest_life(tmp_path / "life", [video], cfg, progress=False)
    shutil.copy(ex.time_sync[0], tmp_path / "other_mp4_to_vrs_time_ns.csv")
    with pytest.raises(SlifeError, match=r"multi\.zip:multi/vrs_to_multi_slam\.json: no recording named other for video"):
        ingest_life(tmp_path / "life", [video], cfg, progress=False)
    assert not (tmp_path / "life").exists()


def test_study_entry_ingests_an_aria_life(exported, tmp_path):
    import yaml

    from slife.study.config import LifeSpec, load_study
    from slife.study.plan import StudyPaths, prepare_lives

    _, ex = exported
    entry = {"name": "aria", "videos": [str(v) for v in ex.videos], "aria_mps": str(ex.mps),
             "aria_time": [str(s) for s in ex.time_sync], "family": "kitchen"}  # fmt: skip
    data = {"name": "real", "world": {"fps": 4.0, "frame_size": 64}, "lives": [entry], "controls": [],
            "testset": {"lives": ["kitchen-9"], "minutes": 0.5}}  # fmt: skip
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(data))
    cfg, root = load_study(tmp_path / "study.yaml")
    dirs = prepare_lives(cfg, root, StudyPaths(tmp_path / "out"), progress=False)
    life = Life.open(dirs["aria"])
    assert dirs["aria"] == tmp_path / "out" / "lives" / "aria"
    assert len(life) == 44 and life.has_poses and np.isfinite(life.poses[:-2]).all()
    mtime = (dirs["aria"] / "life.json").stat().st_mtime_ns
    prepare_lives(cfg, root, StudyPaths(tmp_path / "out"), progress=False)  # a rerun ingests nothing
    assert (dirs["aria"] / "life.json").stat().st_mtime_ns == mtime
    with pytest.raises(SlifeError, match="aria_mps and aria_time need the entry's videos"):
        LifeSpec(name="x", aria_mps="m")
    with pytest.raises(SlifeError, match="an entry with videos is ingested from them"):
        LifeSpec(name="x", videos=["a.mp4"], kind="static")


def test_rerun_skips_and_other_aria_settings_are_refused(exported, tmp_path):
    _, ex = exported
    life = _ingest(ex, tmp_path / "life")
    poses = life.poses.copy()
    cfg = IngestConfig(fps=4.0, short_side=64, threads=0, aria=AriaConfig(mps=str(ex.mps), time_sync=[str(s) for s in ex.time_sync]))
    report = ingest_life(tmp_path / "life", ex.videos, cfg, progress=False)
    assert [v.status for v in report.videos] == ["skipped", "skipped"]
    cfg.aria.max_gap = 0.2
    with pytest.raises(SlifeError, match=r"life\.json: the life was ingested with Aria settings .* use a new directory"):
        ingest_life(tmp_path / "life", ex.videos, cfg, progress=False)
    assert np.array_equal(Life.open(tmp_path / "life").poses, poses, equal_nan=True)
    with pytest.raises(SlifeError, match="existing life has kind/depth/poses that differ"):
        ingest_life(tmp_path / "life", ex.videos, IngestConfig(fps=4.0, short_side=64), progress=False)


def test_non_square_video_is_refused_and_not_committed(exported, tmp_path):
    from slife.ingest.synth import write_index_video

    _, ex = exported
    video = write_index_video(tmp_path / "gt-0.mp4", [k / 4 for k in range(24)], size=(64, 48))
    cfg = IngestConfig(fps=4.0, short_side=48, threads=0, aria=AriaConfig(mps=str(ex.mps), time_sync=[str(ex.time_sync[0])]))
    with pytest.raises(SlifeError, match=r"gt-0\.mp4: aria: stored frames are 64x48; the Aria RGB calibration is for square images"):
        ingest_life(tmp_path / "life", [video], cfg, progress=False)
    assert Life.open(tmp_path / "life").manifest.videos == []
    assert not list((tmp_path / "life" / "shards").glob("*"))


def test_mps_without_points_gives_poses_and_temporal_pairs_only(exported, tmp_path):
    from slife.pairs.config import PairsConfig, resolve_weights
    from slife.pairs.points import has_points

    _, ex = exported
    bare = tmp_path / "bare.zip"
    with zipfile.ZipFile(ex.mps) as zin, zipfile.ZipFile(bare, "w") as zout:
        for item in zin.namelist():
            if not item.endswith("semidense_points.csv.gz"):
                zout.writestr(item, zin.read(item))
    life = _ingest(ex, tmp_path / "life", mps=bare)
    assert np.isfinite(life.poses[:-2]).all() and not has_points(life)
    assert resolve_weights(life, PairsConfig()) == {"temporal": 1.0}
    assert has_points(_ingest(ex, tmp_path / "full"))


def test_ingest_videos_from_a_list_file(exported, tmp_path, capsys):
    from slife.cli import main

    _, ex = exported
    (tmp_path / "videos.txt").write_text(f"# walking tours, in order\n{ex.videos[1]}\n\n{ex.videos[0]}\n")
    assert main(["ingest", str(tmp_path / "life"), "--fps", "4", "--quiet", f"@{tmp_path / 'videos.txt'}"]) == 0
    life = Life.open(tmp_path / "life")
    assert [Path(v.source).name for v in life.manifest.videos] == ["gt-1.mp4", "gt-0.mp4"] and not life.has_poses
    (tmp_path / "empty.txt").write_text("# nothing\n")
    assert main(["ingest", str(tmp_path / "x"), f"@{tmp_path / 'empty.txt'}"]) == 2
    assert main(["ingest", str(tmp_path / "x"), f"@{tmp_path / 'missing.txt'}"]) == 2
    err = capsys.readouterr().err
    assert "empty.txt: the video list names no video" in err and "missing.txt: cannot read the video list" in err
    assert not (tmp_path / "x").exists()


def test_world_export_mps_command_prints_a_working_ingest(exported, tmp_path, capsys):
    import shlex

    from slife.cli import main

    gt, _ = exported
    assert main(["world", "export-mps", str(gt.dir), str(tmp_path / "mps"), "--size", "64"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("slife ingest LIFE ")
    argv = shlex.split(line)[1:]
    argv[1] = str(tmp_path / "life")
    assert main([*argv, "--quiet"]) == 0
    life = Life.open(tmp_path / "life")
    assert len(life) == len(gt) and int((~np.isfinite(life.poses[:, 0, 0])).sum()) == 2
    assert main(["world", "export-mps", str(gt.dir), str(tmp_path / "mps")]) == 2  # not empty: refused


def test_parallel_ingest_stores_the_same_geometry(exported, tmp_path):
    _, ex = exported
    one = _ingest(ex, tmp_path / "one")
    cfg = IngestConfig(fps=4.0, short_side=64, threads=0, jobs=2,
                       aria=AriaConfig(mps=str(ex.mps), time_sync=[str(s) for s in ex.time_sync]))  # fmt: skip
    assert not ingest_life(tmp_path / "two", ex.videos, cfg, progress=False).failed
    two = Life.open(tmp_path / "two")
    assert np.array_equal(one.poses, two.poses, equal_nan=True) and np.array_equal(one.intrinsics, two.intrinsics)


def test_recordings_of_one_graph_pair_across_videos(tmp_path):
    """Multi-SLAM: recordings that share a graph_uid share a world frame, so revisits pair across videos."""
    from slife.pairs.spatial import SpatialConfig, spatial_index

    gt = make_test_life(tmp_path / "gt", durations=(3.0, 37.0, 3.0), fps=4.0, width=64, height=48)  # the walk repeats every 40 s
    ex = export_mps(gt, tmp_path / "mps", size=64, drop_tail=0)
    assert ex.graph_of_video == [0, 1, 0]
    life = _ingest(ex, tmp_path / "life")
    pairs = spatial_index(life, SpatialConfig()).pairs
    video = life.video_index[pairs]
    assert ((video[:, 0] == 0) & (video[:, 1] == 2)).sum() > 5  # revisits across recordings of graph 0
    assert not ((video == 1).any(axis=1) & (video != 1).any(axis=1)).any()  # never with graph 1's video
    for i in range(len(life)):
        want = ex.world_of_graph[ex.graph_of_video[int(life.video_index[i])]] @ gt.poses[i]
        assert np.linalg.norm(life.poses[i][:3, 3] - want[:3, 3]) < 1e-3


@pytest.mark.parametrize("rows, message", [
    (["0,0,100", "250000000,250000000,100"], r"line 3: vrs_device_time_ns 100 is not after 100 on line 2"),
    (["0,0,100", "0,0,200"], r"line 3: mp4_time_ns 0 is not after 0 on line 2"),
    (["0,0,100", "250000000,0,inf"], r"line 3: column vrs_device_time_ns is inf"),
])  # fmt: skip
def test_bad_time_sync_rows(tmp_path, rows, message):
    from slife.ingest.aria.mps import read_time_sync

    path = tmp_path / "v_mp4_to_vrs_time_ns.csv"
    path.write_text("mp4_time_ns,relative_vrs_device_time_ns,vrs_device_time_ns\n" + "\n".join(rows) + "\n")
    with pytest.raises(SlifeError, match=f"^{path}: {message}"):
        read_time_sync(path)


def test_bad_calibration_params_are_named(exported, tmp_path):
    def five_params(lines):
        out = []
        for line in lines:
            obj = json.loads(line)
            obj = json.loads(obj) if isinstance(obj, str) else obj
            obj["CameraCalibrations"][1]["Projection"]["Params"] = [1.0, 2.0, 3.0, 4.0, 5.0]
            out.append(json.dumps(obj))
        return out

    _, ex = exported
    bad = _edit_zip(ex.mps, tmp_path / "bad.zip", "1/slam/online_calibration.jsonl", _lines_edit(five_params))
    cfg = IngestConfig(fps=4.0, short_side=64, aria=AriaConfig(mps=str(bad), time_sync=[str(s) for s in ex.time_sync]))
    with pytest.raises(SlifeError, match=r"1/slam/online_calibration\.jsonl: line 1: camera-rgb Params must be 15 finite numbers"):
        ingest_life(tmp_path / "life", ex.videos, cfg, progress=False)
