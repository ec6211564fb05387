"""Rendered lives: the life format round trip, reprojection ground truth, determinism, idempotence,
paths, and the non-life control."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from slife.cli import main
from slife.config import ConfigError, load_config
from slife.errors import SlifeError
from slife.geometry import backproject, correspondences, pixel_centers, project
from slife.life import Life
from slife.world import WorldConfig, make_diverse, make_life, make_nonlife, parse_life_name
from slife.world.families import make_layout, place_rng
from slife.world.path import DT, Person, Planner, walk_track
from slife.world.textures import build_texture_pool

SMALL = WorldConfig(texture_size=64, session_minutes=(0.25, 0.4))


@pytest.fixture(scope="module")
def kitchen(tmp_path_factory):
    """~1 minute of kitchen-3 at 2 fps, 128 px, full-size textures, in several sessions."""
    out = tmp_path_factory.mktemp("world") / "kitchen-3"
    return Life.open(make_life(out, "kitchen-3", minutes=1.0, fps=2.0, seed=0, size=128, progress=False,
                               config=WorldConfig(session_minutes=(0.3, 0.5))))


@pytest.fixture(scope="module")
def street(tmp_path_factory):
    out = tmp_path_factory.mktemp("world") / "street-1"
    return Life.open(make_life(out, "street-1", minutes=0.5, fps=2.0, seed=0, size=64, progress=False, config=SMALL))


def test_life_reads_back_with_depth_and_poses(kitchen):
    assert kitchen.kind == "world" and kitchen.has_depth and kitchen.has_poses
    assert len(kitchen) == 120 and kitchen.fps == 2.0
    assert kitchen.meta["family"] == "kitchen" and kitchen.meta["place"] == 3 and kitchen.meta["world_seed"] == 0
    assert len(kitchen.manifest.videos) == len(kitchen.meta["sessions"]) >= 2
    assert np.all(np.diff(kitchen.timestamps) > 0)
    img, depth = kitchen.image(7), kitchen.depth(7)
    assert img.shape == (128, 128, 3) and depth.shape == (128, 128) and depth.dtype == np.float32
    assert (depth > 0).all() and depth.max() < 15.0  # indoors: every pixel hits a wall, metres
    R = kitchen.poses[:, :3, :3]
    assert np.allclose(R.transpose(0, 2, 1) @ R, np.eye(3), atol=1e-9)
    assert np.allclose(kitchen.intrinsics[0], kitchen.intrinsics[-1]) and kitchen.intrinsics[0][0, 2] == 64.0
    assert 1.4 < kitchen.poses[:, 2, 3].mean() < 1.8  # eye height


def _bilinear(img: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Sample (H, W, C) at continuous pixel coordinates (pixel centres at +0.5)."""
    coords = [xy[:, 1] - 0.5, xy[:, 0] - 0.5]
    return np.stack([ndimage.map_coordinates(img[..., c].astype(np.float64), coords, order=1, mode="nearest")
                     for c in range(img.shape[2])], axis=1)


def _pairs(life: Life, gap: int):
    for v in range(len(life.manifest.videos)):
        idx = life.video_frames(v)
        for a in idx[: len(idx) - gap : 7]:
            yield int(a), int(a + gap)


def test_reprojection_lands_on_the_same_textured_point(kitchen):
    """Back-project frame a with depth/K/pose, project into frame b: where visible, the depth agrees
    exactly and the colour matches; a 2-pixel error in the projection makes the colours disagree."""
    xy = pixel_centers(128, 128, stride=2)
    errs, ctrl, depth_err, n_valid = [], [], [], 0
    for a, b in _pairs(kitchen, gap=2):
        Ka, Kb, Pa, Pb = kitchen.intrinsics[a], kitchen.intrinsics[b], kitchen.poses[a], kitchen.poses[b]
        da, db = kitchen.depth(a), kitchen.depth(b)
        xy_b, valid = correspondences(xy, da, Ka, Pa, db, Kb, Pb, rel_tol=0.02)
        # keep points away from depth edges, where a nearest-pixel lookup may hit the other surface
        edges = ndimage.maximum_filter(db, 3) - ndimage.minimum_filter(db, 3) > 0.05 * db
        inner = valid & (xy_b >= 2).all(1) & (xy_b < 126).all(1)
        inner[inner] &= ~edges[xy_b[inner, 1].astype(int), xy_b[inner, 0].astype(int)]
        if inner.sum() < 200:
            continue
        n_valid += int(inner.sum())
        pts = backproject(xy[inner], da[xy[inner, 1].astype(int), xy[inner, 0].astype(int)].astype(np.float64), Ka, Pa)
        _, z_b = project(pts, Kb, Pb)
        depth_err.append(np.median(np.abs(_bilinear(db[..., None], xy_b[inner])[:, 0] - z_b) / z_b))
        ia, ib = kitchen.image(a).astype(np.float64), kitchen.image(b).astype(np.float64)
        col_a = ia[xy[inner, 1].astype(int), xy[inner, 0].astype(int)]
        errs.append(np.abs(_bilinear(ib, xy_b[inner]) - col_a).mean())
        ctrl.append(np.abs(_bilinear(ib, xy_b[inner] + [2.0, 0.0]) - col_a).mean())
    assert len(errs) >= 5 and n_valid > 5000
    assert np.median(depth_err) < 0.003  # z-depth of the reprojected point == the depth map there
    err, wrong = float(np.median(errs)), float(np.median(ctrl))
    assert err < 10.0, f"photometric error {err:.1f} / 255"
    assert wrong > 1.4 * err, f"textures too weak to test: correct {err:.1f} vs shifted {wrong:.1f}"


def test_walking_pausing_and_revisits():
    cfg = WorldConfig(texture_size=64)
    pool = build_texture_pool(0, 64)
    layout = make_layout(0, "street", 2, pool)
    rng = place_rng(0, "street", 2, 1)
    person = Person.draw(rng, cfg)
    visits = np.zeros(len(layout.pois), np.int64)
    track = walk_track(layout, Planner(layout), rng, cfg, person, 600.0, 0, visits)
    speed = np.linalg.norm(np.diff(track.pos[:, :2], axis=0), axis=1) / DT
    walking = speed > 0.5
    assert 0.3 < walking.mean() < 0.95  # both walking and pausing
    assert 1.15 < np.median(speed[walking]) < 1.65  # ~1.4 m/s
    assert speed.max() < 2.5
    assert (visits >= 2).any() and visits.sum() > (visits > 0).sum()  # places revisited
    assert np.ptp(track.yaw) > np.pi and np.degrees(np.ptp(track.pitch)) > 10  # looks around
    assert layout.is_walkable(track.pos[::10, :2]).mean() > 0.97  # stays on the walkable area


def test_street_has_sky_and_bounded_depth(street):
    depths = np.stack([street.depth(i) for i in range(0, len(street), 3)])
    assert (depths == 0).any(), "no sky visible in a street"
    assert depths.max() <= 60.0 + 1e-3 and (depths > 20).any()


def test_same_seed_identical_different_seed_differs(tmp_path):
    args = dict(minutes=0.1, fps=2.0, size=64, progress=False, config=SMALL)
    a = Life.open(make_life(tmp_path / "a", "kitchen-1", seed=0, **args))
    b = Life.open(make_life(tmp_path / "b", "kitchen-1", seed=0, **args))
    c = Life.open(make_life(tmp_path / "c", "kitchen-1", seed=1, **args))
    d = Life.open(make_life(tmp_path / "d", "kitchen-2", seed=0, **args))
    assert len(a) == len(b) == len(c) == 12
    for i in range(len(a)):
        assert a.jpeg(i) == b.jpeg(i)
        assert np.array_equal(a.depth(i), b.depth(i))
    assert np.array_equal(a.poses, b.poses)
    assert sum(a.jpeg(i) != c.jpeg(i) for i in range(12)) == 12
    assert sum(a.jpeg(i) != d.jpeg(i) for i in range(12)) == 12
    assert not np.allclose(a.poses, c.poses)


def test_identical_request_is_idempotent_and_different_is_refused(tmp_path):
    args = dict(minutes=0.05, fps=2.0, size=64, progress=False, config=SMALL)
    out = make_life(tmp_path / "l", "kitchen-1", seed=0, **args)
    tar = out / Life.open(out).manifest.videos[0].shard
    before = (tar.stat().st_mtime_ns, tar.read_bytes())
    make_life(out, "kitchen-1", seed=0, **args)
    assert (tar.stat().st_mtime_ns, tar.read_bytes()) == before
    with pytest.raises(SlifeError, match="different life"):
        make_life(out, "kitchen-1", seed=1, **args)
    with pytest.raises(SlifeError, match="different life"):
        make_diverse(out, minutes=0.05, fps=2.0, size=64, progress=False, config=SMALL)
    assert tar.read_bytes() == before[1]
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("keep me")
    with pytest.raises(SlifeError, match="not an empty directory"):
        make_life(tmp_path / "other", "kitchen-1", **args)


def test_resume_finishes_missing_videos(tmp_path):
    args = dict(minutes=1.0, fps=1.0, size=64, progress=False, config=SMALL)
    ref = Life.open(make_life(tmp_path / "ref", "street-2", **args))
    out = make_life(tmp_path / "cut", "street-2", **args)
    from slife.life import read_manifest, write_manifest

    m = read_manifest(out)
    assert len(m.videos) >= 2
    m.videos = m.videos[:1]  # as if interrupted after the first session
    write_manifest(out, m)
    resumed = Life.open(make_life(out, "street-2", **args))
    assert len(resumed) == len(ref)
    assert all(resumed.jpeg(i) == ref.jpeg(i) for i in range(len(ref)))


def test_diverse_clips_cut_hard_and_are_recorded_only_in_meta(tmp_path):
    cfg = WorldConfig(texture_size=64, nonlife_video_minutes=(0.3, 0.5))
    with pytest.deprecated_call():  # the old name still works
        life = Life.open(make_nonlife(tmp_path / "nl", minutes=1.5, fps=2.0, seed=0, size=64, progress=False, config=cfg))
    assert life.kind == "diverse" and life.has_depth and life.has_poses and len(life) == 180
    clips = life.meta["clips"]
    assert len(life.manifest.videos) >= 3 and len(clips) >= 9
    assert {c["family"] for c in clips} == {"kitchen", "street"} and len({c["place"] for c in clips}) == len(clips)
    for v, entry in enumerate(life.manifest.videos):
        vc = [c for c in clips if c["video"] == v]
        assert vc[0]["start"] == 0 and np.isclose(vc[-1]["end"], entry.duration)
        assert all(np.isclose(x["end"], y["start"]) for x, y in zip(vc, vc[1:]))
        assert all(2.0 <= c["end"] - c["start"] <= 10.0 + 2.0 for c in vc)
    # within a clip the camera moves like a walker; across a cut it jumps to an unrelated place/view
    pos, ts = life.poses[:, :3, 3], life.local_timestamps
    starts = {(c["video"], c["start"]) for c in clips if c["start"] > 0}
    is_cut = np.array([(int(life.video_index[i]), float(ts[i])) in starts for i in range(len(life))])
    step = np.r_[0, np.linalg.norm(np.diff(pos, axis=0), axis=1)]
    same_video = np.r_[False, life.video_index[1:] == life.video_index[:-1]]
    assert step[same_video & ~is_cut].max() < 1.5
    jump = step[is_cut] + np.r_[0, np.abs(np.diff(life.poses[:, :3, 2], axis=0)).sum(1)][is_cut]
    assert np.median(jump) > 1.5


def test_life_names_and_config_errors():
    assert parse_life_name("kitchen-12") == ("kitchen", 12)
    for bad in ("kitchen", "garden-1", "kitchen-x", "Kitchen-1"):
        with pytest.raises(SlifeError):
            parse_life_name(bad)
    with pytest.raises(ConfigError, match="far"):
        load_config(WorldConfig, overrides=["far=100"])
    assert load_config(WorldConfig, overrides=["session_minutes=[1,2]"]).session_minutes == (1.0, 2.0)


def test_cli_make_and_errors(tmp_path, capsys):
    out = tmp_path / "cli"
    rc = main(["world", "make", str(out), "--life", "street-4", "--minutes", "0.05", "--size", "32", "--quiet",
               "--set", "texture_size=64"])
    assert rc == 0 and len(Life.open(out)) == 6
    assert main(["world", "make", str(tmp_path / "bad"), "--life", "garden-1", "--minutes", "0.05", "--quiet"]) == 2
    assert "unknown family" in capsys.readouterr().err
    assert main(["world", "make", str(out), "--life", "street-4", "--minutes", "0.1", "--size", "32", "--quiet",
                 "--set", "texture_size=64"]) == 2
    assert "different life" in capsys.readouterr().err


def test_static_cameras_never_move_and_only_the_light_changes(tmp_path):
    """A new fixed camera every few seconds, in the lives' places (1-8 of both families), cut hard
    inside videos; within a camera only the light changes."""
    from slife.world import make_static

    cfg = WorldConfig(texture_size=64, nonlife_video_minutes=(0.2, 0.3))
    life = Life.open(make_static(tmp_path / "cams", minutes=1.0, fps=2.0, seed=0, size=64, time_lapse=3600.0,
                                 camera_seconds=(2.0, 4.0), progress=False, config=cfg))
    assert life.kind == "static" and life.has_depth and life.has_poses and len(life) == 120
    cams = life.meta["cameras"]
    assert life.meta["camera_seconds"] == [2.0, 4.0] and life.meta["request"]["camera_seconds"] == [2.0, 4.0]
    assert 2 <= len(life.manifest.videos) < len(cams) and 15 <= len(cams) <= 30
    assert {c["family"] for c in cams} == {"kitchen", "street"} and {c["place"] for c in cams} <= set(range(1, 9))
    for v, entry in enumerate(life.manifest.videos):
        vc = [c for c in cams if c["video"] == v]
        assert vc[0]["start"] == 0 and np.isclose(vc[-1]["end"], entry.duration)
        assert all(np.isclose(x["end"], y["start"]) for x, y in zip(vc, vc[1:]))
        assert all(2.0 <= c["end"] - c["start"] <= 6.0 for c in vc)
    seg = life.segment_index
    assert seg.max() + 1 == len(cams)
    change = []
    for k in range(len(cams)):
        idx = np.flatnonzero(seg == k)
        assert np.allclose(life.poses[idx], life.poses[idx[0]])  # the camera is fixed
        first, last = life.image(int(idx[0])).astype(float), life.image(int(idx[-1])).astype(float)
        change.append(np.abs(first - last).mean())
        assert np.allclose(life.depth(int(idx[0])), life.depth(int(idx[-1])))  # the scene itself does not
    assert min(change) > 0 and np.median(change) > 1.0  # an hour of daylight per second changes the light
    starts = [int(np.flatnonzero(seg == k)[0]) for k in range(len(cams))]
    assert len({tuple(np.round(life.poses[i].ravel(), 6)) for i in starts}) == len(cams)  # every camera differs
    # standing where the lives' person stands: eye height, inside the place
    assert 1.4 < life.poses[starts, 2, 3].min() and life.poses[starts, 2, 3].max() < 1.8
    with pytest.raises(SlifeError, match="time_lapse"):
        make_static(tmp_path / "bad", minutes=0.1, size=64, time_lapse=0.5, progress=False, config=cfg)
    with pytest.raises(SlifeError, match="camera_seconds"):
        make_static(tmp_path / "bad", minutes=0.1, size=64, camera_seconds=(5.0, 2.0), progress=False, config=cfg)


def test_static_cameras_stand_in_the_lives_places_and_light(tmp_path):
    """A camera at kitchen-k sees the same geometry as the life kitchen-k of the same world (depth from
    the camera's pose in the life's own layout), lit with the life's sun azimuth."""
    from slife.world import make_static
    from slife.world.generate import _life_person_and_sun

    cfg = WorldConfig(texture_size=64)
    life = Life.open(make_static(tmp_path / "cams", minutes=0.1, fps=2.0, seed=3, size=64, camera_seconds=(2.0, 3.0),
                                 progress=False, config=cfg))
    cam = life.meta["cameras"][0]
    idx = np.flatnonzero(life.segment_index == 0)
    person, _ = _life_person_and_sun(3, cam["family"], cam["place"], cfg)
    assert np.isclose(life.poses[idx[0], 2, 3], person.eye_height, atol=0.05)  # the life's wearer
    layout = make_layout(3, cam["family"], cam["place"], build_texture_pool(3, 64))
    assert layout.is_walkable(life.poses[idx[:1], :2, 3]).all()


def test_cli_static_and_camera_flags(tmp_path, capsys):
    out = tmp_path / "cams"
    rc = main(["world", "static", str(out), "--minutes", "0.1", "--size", "32", "--quiet", "--camera-min", "2",
               "--camera-max", "3", "--set", "texture_size=64"])
    assert rc == 0 and "cameras" in capsys.readouterr().out
    life = Life.open(out)
    assert len(life) == 12 and life.meta["camera_seconds"] == [2.0, 3.0] and len(life.meta["cameras"]) >= 2
    assert main(["world", "static", str(out), "--minutes", "0.1", "--size", "32", "--quiet", "--camera-min", "3",
                 "--set", "texture_size=64"]) == 2
    assert "different life" in capsys.readouterr().err


def test_head_motion_config_is_validated():
    cfg = WorldConfig()
    assert np.deg2rad(cfg.glance_yaw_deg) == 1.2 and tuple(np.deg2rad(cfg.glance_pitch_deg)) == (-0.35, 0.15)
    assert np.deg2rad(cfg.walk_pitch_deg) == -0.12
    for bad in ("glance_yaw_deg=nan", "glance_yaw_deg=-1", "head_yaw_seconds=0", "head_bob=1",
                "glance_pitch_deg=[10,-10]", "glance_pitch_deg=[-100,0]", "head_roll_deg=inf"):
        with pytest.raises(ConfigError, match=bad.split("=")[0]):
            load_config(WorldConfig, overrides=[bad])


def test_head_motion_config_changes_the_path():
    pool = build_texture_pool(0, 64)
    layout = make_layout(0, "kitchen", 2, pool)

    def track(cfg):
        rng = place_rng(0, "kitchen", 2, 1)
        return walk_track(layout, Planner(layout), rng, cfg, Person.draw(rng, cfg), 120.0, 0,
                          np.zeros(len(layout.pois), np.int64))

    base = track(WorldConfig(texture_size=64))
    calm = track(WorldConfig(texture_size=64, glance_yaw_deg=0.0, head_yaw_deg=0.0, head_roll_deg=0.0))
    assert np.array_equal(base.pos[:, :2], calm.pos[:, :2])  # same walk, only the head differs
    assert np.abs(np.diff(calm.yaw)).sum() < np.abs(np.diff(base.yaw)).sum() and (calm.roll == 0).all()


def test_lives_rendered_before_new_config_fields_still_resume(tmp_path):
    """A life whose recorded config lacks fields added since (their defaults reproduce its frames) is
    the same request: resuming it is a no-op, not a refusal."""
    from slife.life import read_manifest, write_manifest

    args = dict(minutes=0.05, fps=2.0, size=64, progress=False, config=SMALL)
    out = make_life(tmp_path / "l", "kitchen-1", seed=0, **args)
    m = read_manifest(out)
    for key in ("glance_yaw_deg", "glance_pitch_deg", "head_yaw_seconds", "head_bob"):
        del m.meta["request"]["config"][key]
    write_manifest(out, m)
    make_life(out, "kitchen-1", seed=0, **args)
    m.meta["request"]["config"]["head_yaw_deg"] = 30.0  # but a recorded non-default value is a different life
    write_manifest(out, m)
    with pytest.raises(SlifeError, match="different life"):
        make_life(out, "kitchen-1", seed=0, **args)
