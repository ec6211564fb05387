"""DDP on CPU (gloo, 2 processes): ranks stay identical and match one process with the global batch."""

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from slife.config import load_config
from slife.model.checkpoint import read_checkpoint
from lives import make_test_life
from slife.train import TrainConfig, train

OVERRIDES = [
    "model.overrides={img_size: 32, patch_size: 8, enc_dim: 32, enc_heads: 2, enc_depth: 1, dec_dim: 32, dec_heads: 2, dec_depth: 1}",
    "steps=4",
    "milestones=[0.002]",
    "tensorboard=false",
    "optim.lr=1e-3",
    "device=cpu",
    "precision=fp32",  # the equivalence is exact up to summation order in fp32; bf16 rounding would amplify it
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, life_dir: str, run_dir: str, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))  # fmt: skip
    torch.set_num_threads(1)
    cfg = load_config(TrainConfig, None, [*OVERRIDES, "batch_size=2"])
    res = train(life_dir, run_dir, cfg, progress=False)
    torch.save({"state": res.model.state_dict(), "loss": res.final_loss, "pairs": res.pairs_seen},
               os.path.join(out_dir, f"rank{rank}.pt"))  # fmt: skip


@pytest.mark.slow
def test_two_gloo_ranks_match_single_process(tmp_path):
    life = make_test_life(tmp_path / "life", durations=(12.0, 8.0), fps=3.0)
    args = (2, _free_port(), str(life.dir), str(tmp_path / "ddp"), str(tmp_path))
    # spawn, not fork: a forked rank inherits locks held by threads of the test process (earlier tests
    # leave pool threads behind) and can hang on them
    mp.start_processes(_worker, args=args, nprocs=2, join=True, start_method="spawn")
    r0, r1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    assert all(torch.equal(r0["state"][k], r1["state"][k]) for k in r0["state"])
    assert r0["loss"] == r1["loss"] and r0["pairs"] == 16  # 4 steps x 2 ranks x 2
    # rank 0 wrote the checkpoints; they hold the shared weights
    last = read_checkpoint(tmp_path / "ddp/checkpoints/last.pt")
    assert last["world_size"] == 2 and last["pairs_seen"] == 16
    assert all(torch.equal(last["model"][k], r0["state"][k]) for k in last["model"])
    assert (tmp_path / "ddp/checkpoints/hours_0.002.pt").is_file()
    # one process with the global batch (4) sees the same samples: same weights up to float summation order
    torch.set_num_threads(1)
    single = train(life.dir, tmp_path / "single", load_config(TrainConfig, None, [*OVERRIDES, "batch_size=4"]), progress=False)
    ref = single.model.state_dict()
    worst = max(float((ref[k] - r0["state"][k]).abs().max()) for k in ref)
    moved = max(float((ref[k] - read_checkpoint(tmp_path / "ddp/checkpoints/hours_0.002.pt")["model"][k]).abs().max()) for k in ref)
    assert worst < 1e-5 < moved
    assert abs(single.final_loss - r0["loss"]) < 1e-5
