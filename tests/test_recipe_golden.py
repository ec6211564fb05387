"""The training recipe is bit-identical across refactors: a few steps of the CPU recipe (and of the shift
mechanism test) on a fixed seed give exactly the loss trajectory and the final weights recorded here.

The golden values were produced by the code before issue #22's restructuring (one pair draw, one step):
any change to what one sample or one step is shows up here. They are exact for the machine kind they
were recorded on (torch version + CPU capability below, fp32, one thread); elsewhere floating-point
kernels may round differently, so the losses are compared to 1e-4 and the weight digests are skipped.

Regenerate (only when the recipe is meant to change): ``python tests/test_recipe_golden.py``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

RECIPE = [  # configs/train_cpu.yaml's model and optimiser, a few small steps in fp32 on one thread
    "model.overrides={img_size: 64, patch_size: 8, enc_dim: 64, enc_heads: 4, enc_depth: 4, "
    "dec_dim: 64, dec_heads: 4, dec_depth: 4, mask_ratio: 0.5}",
    "optim.lr=4e-3", "batch_size=4", "steps=4", "precision=fp32", "threads=1", "log_every=1",
    "tensorboard=false", "milestones=[100.0]", "data.stream_fraction=0.5",
]  # fmt: skip
SHIFTED = ["data.shifted.share=0.5", "data.shifted.warmup=0.25", "data.shifted.max_shift=3", "data.shifted.room=2"]
TEACH = ["data.sampler=temporal", "data.temporal.min_overlap=0.2", "data.jitter_per_pair=true",
         "data.aligned_crops=true", "data.crop_patches=1", "data.pooled_target=2"]  # fmt: skip
CASES = {
    "plain": [],
    "shifted": SHIFTED,
    "teach": TEACH,
    "teach_shifted": TEACH + ["data.shifted.share=0.5", "data.shifted.max_shift=2"],
    "resident_shifted": SHIFTED + ["data.resident=true"],
}
DIAGNOSE = ["steps=3", "batch_size=4", "eval_every=1", "eval_pairs=4", "read_masks=1", "precision=fp32",
            "threads=1", "task.subpatch=true"]  # fmt: skip

MACHINE = {"torch": "2.13.0+cpu", "cpu": "AVX512"}
GOLDEN: dict[str, dict] = {  # produced by the generator below on MACHINE, before #22's restructuring
    'plain': {'losses': [1.5305609703063965, 1.3979347944259644, 1.3664426803588867, 1.1252330541610718], 'weights': '4d8ca30c57d12911'},
    'resident_shifted': {'losses': [1.5754551887512207, 1.2859660387039185, 1.0538634061813354, 0.8895246982574463], 'weights': 'cf865d6b440a77c7'},
    'shifted': {'losses': [1.5754551887512207, 1.2859660387039185, 1.0538634061813354, 0.8895246982574463], 'weights': 'cf865d6b440a77c7'},
    'teach': {'losses': [1.0895380973815918, 1.2253786325454712, 1.0553332567214966, 0.8631618618965149], 'weights': '675a1edb28a395c9'},
    'teach_shifted': {'losses': [1.1373991966247559, 0.9399300217628479, 0.7388351559638977, 0.554443895816803], 'weights': 'a191842f1430561f'},
    'diagnose': {'losses': [1.4933029413223267, 1.269166350364685, 1.0322872400283813], 'scores': [0.005405405405405406, 0.0, 0.005405405405405406, 0.005405405405405406], 'swapped': [1.5271239280700684, 1.5217822790145874, 1.5473896265029907, 1.5662542581558228], 'weights': '749b40bab90ab8ff'},
}  # fmt: skip


def machine() -> dict[str, str]:
    return {"torch": torch.__version__, "cpu": torch.backends.cpu.get_cpu_capability()}


def digest(state: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for name in sorted(state):
        h.update(name.encode())
        h.update(state[name].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def make_life(root: Path):
    from lives import make_test_life

    return make_test_life(root / "life", durations=(12.0, 8.0), fps=3.0)


def run_train(life_dir: Path, run: Path, extra: list[str]) -> dict:
    from slife.config import load_config
    from slife.train import TrainConfig, train

    res = train(life_dir, run, load_config(TrainConfig, None, [*RECIPE, *extra]), progress=False)
    lines = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    return {"losses": [x["loss"] for x in lines if "loss" in x], "weights": digest(res.model.state_dict())}


def run_diagnose() -> dict:
    from slife.diagnose.shift import load_shift_config, run_shift

    res = run_shift(load_shift_config(None, DIAGNOSE))
    return {"losses": [p["train_loss"] for p in res.curve[1:]],
            "scores": [p["scores"]["masked"]["exact"] for p in res.curve],
            "swapped": [p["loss_swapped_source"] for p in res.curve],
            "weights": digest(res.model.state_dict())}  # fmt: skip


def check(name: str, got: dict) -> None:
    want = GOLDEN[name]
    if machine() == MACHINE:
        assert got == want, f"{name}: the recipe changed: {got} != {want}"
    else:  # another kernel set: the same recipe up to float rounding
        for key, values in want.items():
            if key != "weights":
                np.testing.assert_allclose(got[key], values, rtol=1e-4, atol=1e-5, err_msg=f"{name}.{key}")


@pytest.fixture(scope="module")
def life(tmp_path_factory):
    return make_life(tmp_path_factory.mktemp("golden"))


@pytest.mark.parametrize("case", sorted(CASES))
def test_training_recipe_is_unchanged(case: str, life, tmp_path) -> None:
    check(case, run_train(life.dir, tmp_path / "run", CASES[case]))


def test_shift_diagnostic_is_unchanged() -> None:
    check("diagnose", run_diagnose())


def generate(root: Path) -> dict[str, dict]:
    life = make_life(root)
    out = {name: run_train(life.dir, root / name, extra) for name, extra in sorted(CASES.items())}
    out["diagnose"] = run_diagnose()
    return out


if __name__ == "__main__":
    import tempfile

    sys.path.insert(0, str(Path(__file__).parent))
    with tempfile.TemporaryDirectory() as tmp:
        print("MACHINE =", machine())
        print("GOLDEN =", json.dumps(generate(Path(tmp)), indent=1))
