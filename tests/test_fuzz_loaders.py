"""Every loader of a user-supplied file, fuzzed (Hypothesis): a SlifeError naming the file, or a correct
result; never another exception, never a change to data already on disk (issue #12).

Each test writes a valid file once, then mutates it (bytes flipped, truncated, JSON values replaced)
and loads it. The example counts are bounded so that the suite stays a few seconds in `make test`.
"""

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slife.errors import SlifeError

FUZZ = settings(max_examples=40, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _digest(folder: Path, skip: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*"))
            if p.is_file() and p != skip and ".slife.lock" not in p.name}  # fmt: skip


@st.composite
def byte_mutations(draw, size: int):
    """A list of (offset, new byte) edits and an optional truncation length."""
    edits = draw(st.lists(st.tuples(st.integers(0, max(0, size - 1)), st.integers(0, 255)), max_size=8))
    cut = draw(st.one_of(st.none(), st.integers(0, size)))
    return edits, cut


def _loads_or_names(load, where: Path) -> None:
    """``load()`` either succeeds or raises a SlifeError whose message names ``where``."""
    try:
        load()
    except SlifeError as exc:
        assert str(where) in str(exc), exc


def _mutate(data: bytes, mutation) -> bytes:
    edits, cut = mutation
    out = bytearray(data)
    for offset, value in edits:
        if offset < len(out):
            out[offset] = value
    return bytes(out[:cut] if cut is not None else out)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def _replace_somewhere(data, path: list, value):
    """Replace the value at ``path`` (a list of keys/indices, followed as far as it goes) by ``value``."""
    if not path or not isinstance(data, (dict, list)) or not data:
        return value
    if isinstance(data, dict):
        key = sorted(data)[path[0] % len(data)]
        return {**data, key: _replace_somewhere(data[key], path[1:], value)}
    i = path[0] % len(data)
    return [*data[:i], _replace_somewhere(data[i], path[1:], value), *data[i + 1 :]]


# ---- life.json and shards -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def good_life(tmp_path_factory):
    from lives import make_test_life

    return make_test_life(tmp_path_factory.mktemp("fuzz") / "life", durations=(2.0, 1.0), fps=2.0).dir


def _load_life(folder: Path) -> None:
    from slife.life import Life

    life = Life.open(folder)
    life.verify()
    for i in range(len(life)):
        life[i]


@FUZZ
@given(path=st.lists(st.integers(0, 50), max_size=4), value=JSON_VALUES)
def test_fuzzed_manifest(good_life: Path, tmp_path_factory, path, value) -> None:
    folder = tmp_path_factory.mktemp("m") / "life"
    shutil.copytree(good_life, folder)
    manifest = folder / "life.json"
    manifest.write_text(json.dumps(_replace_somewhere(json.loads(manifest.read_text()), path, value)))
    before = _digest(folder.parent, manifest)
    _loads_or_names(lambda: _load_life(folder), folder)
    assert _digest(folder.parent, manifest) == before


@FUZZ
@given(which=st.sampled_from(["tar", "npz"]), data=st.data())
def test_fuzzed_shard_and_index(good_life: Path, tmp_path_factory, which, data) -> None:
    folder = tmp_path_factory.mktemp("s") / "life"
    shutil.copytree(good_life, folder)
    target = sorted((folder / "shards").glob(f"*.{which}"))[0]
    target.write_bytes(_mutate(target.read_bytes(), data.draw(byte_mutations(target.stat().st_size))))
    before = _digest(folder.parent, skip=Path("/nonexistent"))
    _loads_or_names(lambda: _load_life(folder), folder)
    assert _digest(folder.parent, skip=Path("/nonexistent")) == before


# ---- test sets -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def good_testset(tmp_path_factory):
    from slife.align.testset import TestSet

    rng = np.random.default_rng(0)
    n, s = 3, 16
    ts = TestSet(src=rng.integers(0, 255, (n, s, s, 3), dtype=np.uint8), tgt=rng.integers(0, 255, (n, s, s, 3), dtype=np.uint8),
                 patch_size=8, life=np.array(["a"] * n), src_index=np.arange(n), tgt_index=np.arange(n),
                 src_time=np.zeros(n), tgt_time=np.ones(n), video=np.zeros(n, np.int64),
                 gt=rng.integers(-1, 4, (n, 4)), meta={"seed": 0})  # fmt: skip
    return ts.save(tmp_path_factory.mktemp("ts") / "t.npz")


ARRAY_EDITS = st.sampled_from(["gt_out_of_range", "float_images", "short_life", "bad_meta", "zero_patch", "nan_pose", "drop"])


@FUZZ
@given(edit=ARRAY_EDITS, raw=st.one_of(st.none(), byte_mutations(4000)))
def test_fuzzed_testset(good_testset: Path, tmp_path_factory, edit, raw) -> None:
    from slife.align.analysis import gt_scores, rank
    from slife.align.matchers import IdentityMatcher
    from slife.align.testset import TestSet

    path = tmp_path_factory.mktemp("t") / "t.npz"
    with np.load(good_testset, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    if edit == "gt_out_of_range":
        arrays["gt"] = arrays["gt"] + 10
    elif edit == "float_images":
        arrays["src"] = arrays["src"].astype(np.float32)
    elif edit == "short_life":
        arrays["life"] = arrays["life"][:1]
    elif edit == "bad_meta":
        arrays["meta"] = np.array("{not json")
    elif edit == "zero_patch":
        arrays["patch_size"] = np.array(0)
    elif edit == "nan_pose":
        arrays["src_pose"] = np.full((3, 4, 4), np.nan)
    else:
        arrays.pop("tgt")
    np.savez(path, **arrays)
    if raw is not None:
        path.write_bytes(_mutate(path.read_bytes(), raw))
    def load_and_score() -> None:
        ts = TestSet.load(path)
        gt_scores(rank(IdentityMatcher().attention(ts), 1), ts, (0, 1))

    _loads_or_names(load_and_score, path)


# ---- checkpoints and exported models -------------------------------------------------------------
@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory):
    from slife.model.checkpoint import save_checkpoint
    from tests.test_integrity import _tiny_payload

    path = tmp_path_factory.mktemp("ck") / "run" / "checkpoints" / "last.pt"
    save_checkpoint(path, _tiny_payload())
    return path


@FUZZ
@given(mutation=byte_mutations(60000))
def test_fuzzed_checkpoint(good_checkpoint: Path, tmp_path_factory, mutation) -> None:
    from slife.model.checkpoint import load_model

    path = tmp_path_factory.mktemp("c") / "last.pt"
    path.write_bytes(_mutate(good_checkpoint.read_bytes(), mutation))
    _loads_or_names(lambda: load_model(path), path)


@FUZZ
@given(path=st.lists(st.integers(0, 50), max_size=3), value=JSON_VALUES, raw=st.one_of(st.none(), byte_mutations(3000)))
def test_fuzzed_export_folder(good_checkpoint: Path, tmp_path_factory, path, value, raw) -> None:
    from slife.model.export import export_model, from_pretrained

    out = export_model(good_checkpoint, tmp_path_factory.mktemp("e") / "model")
    cfg = out / "config.json"
    cfg.write_text(json.dumps(_replace_somewhere(json.loads(cfg.read_text()), path, value)))
    if raw is not None:
        weights = out / "model.safetensors"
        weights.write_bytes(_mutate(weights.read_bytes(), raw))
    _loads_or_names(lambda: from_pretrained(out), out)


# ---- configs --------------------------------------------------------------------------------------
@FUZZ
@given(path=st.lists(st.integers(0, 50), max_size=3), value=JSON_VALUES, suffix=st.sampled_from([".yaml", ".toml"]))
def test_fuzzed_train_config(tmp_path_factory, path, value, suffix) -> None:
    from slife.config import load_config, to_dict
    from slife.train import TrainConfig

    data = _replace_somewhere(to_dict(load_config(TrainConfig, Path("configs/train_cpu.yaml"))), path, value)
    f = tmp_path_factory.mktemp("cfg") / f"c{suffix}"
    if suffix == ".yaml":
        import yaml

        f.write_text(yaml.safe_dump(data))
    else:
        f.write_text(_toml(data))
    try:
        load_config(TrainConfig, f)
    except SlifeError as exc:
        assert str(f) in str(exc) or "must" in str(exc) or "set exactly one" in str(exc)


def _toml(data, prefix: str = "") -> str:
    """Just enough TOML for the fuzzed configs (tables and JSON-like values; unserialisable -> a string)."""
    plain = {k: v for k, v in data.items() if not isinstance(v, dict)} if isinstance(data, dict) else {"value": data}
    lines = [f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in plain.items()]
    for k, v in (data.items() if isinstance(data, dict) else []):
        if isinstance(v, dict):
            lines += ["", f"[{prefix}{json.dumps(str(k))}]", _toml(v, f"{prefix}{json.dumps(str(k))}.")]
    return "\n".join(lines)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)) and np.isfinite(v):
        return repr(v)
    if isinstance(v, list) and all(isinstance(x, (int, float, str, bool)) for x in v):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(str(v))


# ---- COLMAP text models ---------------------------------------------------------------------------
@FUZZ
@given(which=st.sampled_from(["cameras.txt", "images.txt", "points3D.txt"]),
       line=st.integers(0, 12), token=st.integers(0, 12),
       value=st.sampled_from(["", "nan", "inf", "-1", "1e308", "x", "0", "999", "1 2", "#"]))  # fmt: skip
def test_fuzzed_colmap_model(tmp_path_factory, which, line, token, value) -> None:
    from slife.pairs.colmap import read_colmap_text
    from tests.test_pairs_spatial import _write_colmap

    model = tmp_path_factory.mktemp("colmap") / "sparse"
    _write_colmap(model, ["a.jpg", "b.jpg", "c.jpg"], [[1, 2, 3], [2, 3, 4], [3, 4, 5]])
    path = model / which
    lines = path.read_text().splitlines()
    row = lines[line % len(lines)].split()
    if row:
        row[token % len(row)] = value
    lines[line % len(lines)] = " ".join(row)
    path.write_text("\n".join(lines) + "\n")
    with np.errstate(all="raise"):  # a NaN or degenerate pose must be refused, not computed
        _loads_or_names(lambda: read_colmap_text(model), model)


# ---- evaluation data: HPatches, NYU-Depth-v2 .mat, ScanNet export ------------------------------------
def _read_all(dataset) -> None:
    for i in range(len(dataset)):
        dataset[i]


@pytest.fixture(scope="module")
def good_eval_data(tmp_path_factory):
    import h5py
    import scipy.io
    from PIL import Image

    root = tmp_path_factory.mktemp("evaldata")
    from tests.test_eval_datasets import write_hpatches

    write_hpatches(root / "hpatches", {"v_astro": "astronaut"}, ks=(2,), size=(24, 32))
    rng = np.random.default_rng(0)
    (root / "nyu").mkdir()
    with h5py.File(root / "nyu" / "nyu_depth_v2_labeled.mat", "w") as f:  # MATLAB v7.3 layout, tiny
        f["images"] = rng.integers(0, 255, (3, 3, 16, 12), dtype=np.uint8)
        f["depths"] = rng.uniform(0.5, 5, (3, 16, 12)).astype(np.float32)
    scipy.io.savemat(root / "nyu" / "splits.mat", {"trainNdxs": np.array([[1.0], [2.0]]), "testNdxs": np.array([[3.0]])})
    scene = root / "scannet" / "scene0000_00"
    (scene / "color").mkdir(parents=True)
    (scene / "depth").mkdir()
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)).save(scene / "color" / f"{i}.jpg")
        Image.fromarray(rng.integers(500, 5000, (12, 16)).astype(np.uint16)).save(scene / "depth" / f"{i}.png")
    return root


EVAL_FILES = {
    "hpatches": ["v_astro/H_1_2", "v_astro/1.ppm", "v_astro/2.ppm"],
    "nyu": ["nyu_depth_v2_labeled.mat", "splits.mat"],
    "scannet": ["scene0000_00/color/0.jpg", "scene0000_00/depth/1.png"],
}


def _load_eval(kind: str, folder: Path) -> None:
    from slife.evaluate.datasets import HPatchesPairs, NYUDepthV2, ScanNetFrames, scannet_scenes

    if kind == "hpatches":
        _read_all(HPatchesPairs(folder))
    elif kind == "nyu":
        for split in ("train", "test"):
            _read_all(NYUDepthV2(folder / "nyu_depth_v2_labeled.mat", split))
    else:
        _read_all(ScanNetFrames(scannet_scenes(folder)))


@pytest.mark.filterwarnings("ignore:.*pair\\(s\\) skipped, no homography file")  # the fixture has pair (1, 2) only
@FUZZ
@given(which=st.sampled_from([(k, f) for k, fs in EVAL_FILES.items() for f in fs]), data=st.data())
def test_fuzzed_evaluation_data(good_eval_data: Path, tmp_path_factory, which, data) -> None:
    kind, name = which
    folder = tmp_path_factory.mktemp("e") / kind
    shutil.copytree(good_eval_data / kind, folder)
    target = folder / name
    target.write_bytes(_mutate(target.read_bytes(), data.draw(byte_mutations(target.stat().st_size))))
    before = _digest(folder.parent, skip=Path("/nonexistent"))
    _loads_or_names(lambda: _load_eval(kind, folder), folder)
    assert _digest(folder.parent, skip=Path("/nonexistent")) == before


# ---- study files, YAML text, run logs, resume state, weights (issue #23) ---------------------------
def _tiny_study_data() -> dict:
    return {"name": "tiny", "world": {"minutes": 0.5, "fps": 2.0, "frame_size": 128}, "lives": ["kitchen-1", "street-1"],
            "controls": ["static"], "nulls": ["shift-only"], "replicates": ["kitchen-1"],
            "train": {"config": "train_cpu.yaml", "overrides": {"steps": 6}, "milestones": [0.5, 1.0]},
            "testset": {"lives": ["kitchen-9"], "minutes": 0.5, "pairs_per_life": 4}, "analysis": {"read_masks": 2}}  # fmt: skip


@FUZZ
@given(path=st.lists(st.integers(0, 50), max_size=4), value=JSON_VALUES, raw=st.one_of(st.none(), byte_mutations(600)))
def test_fuzzed_study_file(tmp_path_factory, path, value, raw) -> None:
    import yaml

    from slife.study.config import load_study

    f = tmp_path_factory.mktemp("study") / "study.yaml"
    text = yaml.safe_dump(_replace_somewhere(_tiny_study_data(), path, value)).encode()
    f.write_bytes(text if raw is None else _mutate(text, raw))
    try:
        load_study(f)
    except SlifeError as exc:
        assert str(exc).startswith(str(f)) and "\n" not in str(exc), exc


@FUZZ
@given(depth=st.integers(1, 9), width=st.integers(1, 12), nest=st.integers(0, 80), cycle=st.booleans())
def test_fuzzed_yaml_aliases_and_nesting(tmp_path_factory, depth, width, nest, cycle) -> None:
    """Alias chains (width ** depth values once expanded), deep nesting and self-reference: refused
    with the file's name, or read to data of bounded size."""
    from slife.config import MAX_NODES, ConfigError, read_config_file

    lines = ["l0: &l0 [" + ", ".join(["x"] * width) + "]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]" for i in range(1, depth)]
    lines.append("deep: " + "[" * nest + "1" + "]" * nest)
    if cycle:
        lines.append("loop: &loop [*loop]")
    f = tmp_path_factory.mktemp("yaml") / "c.yaml"
    f.write_text("\n".join(lines) + "\n")
    try:
        data = read_config_file(f)
    except ConfigError as exc:
        assert str(exc).startswith(f"{f}: ") and "\n" not in str(exc), exc
        return
    assert not cycle and width**depth <= MAX_NODES and nest < 64 and len(json.dumps(data)) < 8 * MAX_NODES


@FUZZ
@given(records=st.lists(st.dictionaries(st.sampled_from(["step", "loss", "event", "total_steps", "elapsed_s", "hours_seen",
                                                         "name", "pairs_per_s"]), JSON_VALUES, max_size=5), max_size=8),
       tail=st.binary(max_size=40))  # fmt: skip
def test_fuzzed_run_log(tmp_path_factory, records, tail) -> None:
    from slife.config import save_config
    from slife.run import RunDir
    from slife.study.plan import run_state
    from slife.train import TrainConfig

    run = tmp_path_factory.mktemp("log") / "run"
    run.mkdir()
    save_config(TrainConfig(), run / "config.yaml")
    (run / "log.jsonl").write_bytes("".join(json.dumps(r) + "\n" for r in records).encode() + tail)
    state = run_state("x", run, TrainConfig())
    assert state.state in ("partial", "done") and isinstance(state.step, int) and isinstance(state.total, int)
    assert state.line()
    assert all(isinstance(r.get("step", 0), int) for r in RunDir(run).read_log())


@pytest.fixture(scope="module")
def resume_parts():
    """A model, its optimiser after one step, and the payload last.pt would hold."""
    import torch

    from slife.model.config import ModelConfig
    from slife.model.croco import CroCo
    from slife.train.config import OptimConfig
    from slife.train.optim import build_optimizer
    from tests.test_integrity import _tiny_payload

    payload = _tiny_payload()
    model = CroCo(ModelConfig(**payload["model_config"]))
    model.load_state_dict(payload["model"])
    opt = build_optimizer(model, OptimConfig(), 1e-3)
    src = torch.randn(2, 3, 32, 32)
    out = model(src, src)
    model.loss(out.pred, src, out.mask).backward()
    opt.step()
    return {**payload, "optimizer": opt.state_dict(), "rng": {"torch": torch.get_rng_state()}, "milestones_done": [0.25],
            "loss": 0.5, "scaler": None}  # fmt: skip


RESUME_FIELDS = ["step", "model", "optimizer", "rng", "milestones_done", "loss", "scaler"]


@FUZZ
@given(field=st.sampled_from(RESUME_FIELDS), path=st.lists(st.integers(0, 50), max_size=4),
       value=st.one_of(JSON_VALUES, st.sampled_from(["tensor", "scalar tensor", "float tensor"])))  # fmt: skip
def test_fuzzed_resume_state(resume_parts, field, path, value) -> None:
    """Any field of last.pt replaced anywhere inside: check_resume refuses it naming the file, or the
    loads resuming does afterwards succeed."""
    import copy

    import torch

    from slife.model.checkpoint import CheckpointError
    from slife.model.config import ModelConfig
    from slife.model.croco import CroCo
    from slife.train.config import OptimConfig
    from slife.train.optim import build_optimizer
    from slife.train.resume import check_resume

    value = {"tensor": torch.zeros(3, 2), "scalar tensor": torch.tensor(7), "float tensor": torch.tensor(0.5)}.get(value, value) \
        if isinstance(value, str) else value  # fmt: skip
    payload = copy.deepcopy(resume_parts)
    payload[field] = _replace_somewhere(payload[field], path, value) if isinstance(payload[field], (dict, list)) else value
    model = CroCo(ModelConfig(**payload["model_config"]))
    opt = build_optimizer(model, OptimConfig(), 1e-3)
    where = Path("run/checkpoints/last.pt")
    try:
        check_resume(payload, where, model, opt, total=10)
    except CheckpointError as exc:
        assert str(exc).startswith(f"{where}: cannot resume from it: ") and "\n" not in str(exc)
        return
    rng = torch.get_rng_state()
    try:
        model.load_state_dict(payload["model"])
        opt.load_state_dict(payload["optimizer"])
        torch.set_rng_state(payload["rng"]["torch"])
    finally:
        torch.set_rng_state(rng)
    float(payload.get("loss", 0.0))
    {float(h) for h in payload.get("milestones_done", [])}


@FUZZ
@given(which=st.integers(0, 100), at=st.integers(0, 10**6), bad=st.sampled_from([float("nan"), float("inf"), -float("inf")]))
def test_fuzzed_non_finite_weights(good_checkpoint: Path, tmp_path_factory, which, at, bad) -> None:
    import torch

    from slife.model.checkpoint import CheckpointError, load_model, read_checkpoint, save_checkpoint

    payload = read_checkpoint(good_checkpoint)
    payload.pop("format")
    keys = sorted(payload["model"])
    key = keys[which % len(keys)]
    weights = payload["model"][key].clone()
    weights.view(-1)[at % weights.numel()] = bad
    path = tmp_path_factory.mktemp("nanw") / "last.pt"
    save_checkpoint(path, {**payload, "model": {**payload["model"], key: weights}})
    with pytest.raises(CheckpointError, match=rf"{path}: weight {key} holds NaN or inf"):
        load_model(path)
    assert torch.isfinite(read_checkpoint(good_checkpoint)["model"][key]).all()
