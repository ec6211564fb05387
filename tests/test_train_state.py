"""The checkpoint files a training run writes are unchanged by issue #22 moving the payload into
slife.train.state (``TrainingState``): a few steps of the CPU recipe on a fixed seed, stopped after
two steps and resumed, write exactly the fields recorded here, produced by the code before the move
(the digests of weights, optimiser state and RNG state are exact on the golden test's machine kind).

Regenerate (only when the checkpoint format is meant to change): ``python tests/test_train_state.py``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from test_recipe_golden import MACHINE, RECIPE, digest, machine, make_life

TENSOR_FIELDS = ("model", "optimizer", "rng")
MACHINE_FIELDS = ("loss", "tensors")  # float results: exact only on MACHINE


def summary(path: Path, life_dir: Path) -> dict[str, Any]:
    """What a checkpoint holds: its plain fields as stored, and one digest of its tensors."""
    from slife.model.checkpoint import read_checkpoint

    payload = read_checkpoint(path)
    plain = {k: v for k, v in payload.items() if k not in TENSOR_FIELDS}
    assert plain.pop("life_dir") == str(life_dir.resolve())
    plain["train_config"] = hashlib.sha256(json.dumps(plain["train_config"], sort_keys=True).encode()).hexdigest()[:16]
    tensors = {f"model.{k}": v for k, v in payload["model"].items()}
    if "optimizer" in payload:
        opt = payload["optimizer"]
        plain["param_groups"] = [[g["name"], g["weight_decay"], g["lr"], len(g["params"])] for g in opt["param_groups"]]
        tensors.update({f"opt.{i}.{name}": torch.as_tensor(v) for i, st in opt["state"].items() for name, v in st.items()})
        tensors["rng"] = payload["rng"]["torch"]
    plain["tensors"] = digest(tensors)
    return plain


def run(root: Path, life_dir: Path) -> dict[str, Any]:
    from slife.config import load_config
    from slife.train import TrainConfig, train

    cfg = load_config(TrainConfig, None, RECIPE)
    out = {}
    train(life_dir, root / "run", cfg, progress=False, stop_after=2)
    out["last_at_2"] = summary(root / "run" / "checkpoints" / "last.pt", life_dir)
    train(life_dir, root / "run", cfg, progress=False)
    for path in sorted((root / "run" / "checkpoints").glob("*.pt")):
        out[path.stem] = summary(path, life_dir)
    return out


GOLDEN: dict[str, Any] = {  # produced on MACHINE by the code before #22 moved the payload
    'last_at_2': {'format': 'slife-ckpt/1', 'model_config': {'img_size': 64, 'patch_size': 8, 'enc_dim': 64, 'enc_depth': 4, 'enc_heads': 4, 'dec_dim': 64, 'dec_depth': 4, 'dec_heads': 4, 'mlp_ratio': 4.0, 'mask_ratio': 0.5, 'pos_embed': 'rope', 'rope_base': 100.0, 'norm_pix_loss': True}, 'step': 2, 'pairs_seen': 8, 'hours_seen': 0.005555555555555556, 'life': 'life', 'life_frames': 60, 'train_config': 'fd6c6274df948d0b', 'loss': 1.3979347944259644, 'scheduler': {'kind': 'warmup_cosine', 'step': 2, 'total': 4, 'warmup': 0, 'peak_lr': 0.004}, 'scaler': None, 'milestones_done': [], 'total_steps': 4, 'world_size': 1, 'param_groups': [['decay', 0.05, 0.003414213562373095, 51], ['no_decay', 0.0, 0.003414213562373095, 104]], 'tensors': 'e54fb277d4a3feb4'},
    'hours_0.00555556': {'format': 'slife-ckpt/1', 'model_config': {'img_size': 64, 'patch_size': 8, 'enc_dim': 64, 'enc_depth': 4, 'enc_heads': 4, 'dec_dim': 64, 'dec_depth': 4, 'dec_heads': 4, 'mlp_ratio': 4.0, 'mask_ratio': 0.5, 'pos_embed': 'rope', 'rope_base': 100.0, 'norm_pix_loss': True}, 'step': 4, 'pairs_seen': 16, 'hours_seen': 0.005555555555555556, 'life': 'life', 'life_frames': 60, 'train_config': 'fd6c6274df948d0b', 'loss': 1.1252330541610718, 'tensors': '750f5dd56c15dff4'},
    'last': {'format': 'slife-ckpt/1', 'model_config': {'img_size': 64, 'patch_size': 8, 'enc_dim': 64, 'enc_depth': 4, 'enc_heads': 4, 'dec_dim': 64, 'dec_depth': 4, 'dec_heads': 4, 'mlp_ratio': 4.0, 'mask_ratio': 0.5, 'pos_embed': 'rope', 'rope_base': 100.0, 'norm_pix_loss': True}, 'step': 4, 'pairs_seen': 16, 'hours_seen': 0.005555555555555556, 'life': 'life', 'life_frames': 60, 'train_config': 'fd6c6274df948d0b', 'loss': 1.1252330541610718, 'scheduler': {'kind': 'warmup_cosine', 'step': 4, 'total': 4, 'warmup': 0, 'peak_lr': 0.004}, 'scaler': None, 'milestones_done': [0.005555555555555556], 'total_steps': 4, 'world_size': 1, 'param_groups': [['decay', 0.05, 0.0005857864376269051, 51], ['no_decay', 0.0, 0.0005857864376269051, 104]], 'tensors': '72e2fbfeea8c6ba7'},
}  # fmt: skip


def test_checkpoints_hold_what_they_held_before(tmp_path: Path) -> None:
    life = make_life(tmp_path)
    got = run(tmp_path, life.dir)
    assert sorted(got) == sorted(GOLDEN)
    for name, want in GOLDEN.items():
        mine = dict(got[name])
        if machine() != MACHINE:
            for key in MACHINE_FIELDS:
                if key == "loss":
                    assert mine[key] == pytest.approx(want[key], rel=1e-4, abs=1e-5)
                mine[key] = want.get(key)
        assert mine == want, f"{name}: {mine} != {want}"


if __name__ == "__main__":
    import tempfile

    sys.path.insert(0, str(Path(__file__).parent))
    with tempfile.TemporaryDirectory() as tmp:
        life = make_life(Path(tmp))
        print("MACHINE =", machine())
        print("GOLDEN = {  # produced on MACHINE by the code before #22 moved the payload")
        for name, value in run(Path(tmp), life.dir).items():
            print(f"    {name!r}: {value!r},")
        print("}  # fmt: skip")
