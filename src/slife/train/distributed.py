"""torch.distributed setup for ``torchrun`` (env:// rendezvous): gloo on CPU, nccl on CUDA."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from slife.devices import resolve_device


@dataclass
class DistContext:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    owns_group: bool  # we initialised the process group (and destroy it at the end)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def setup(device_name: str = "auto") -> DistContext:
    """Join the process group described by torchrun's environment (WORLD_SIZE, RANK, LOCAL_RANK, MASTER_*)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    device = resolve_device(device_name, local_rank)
    owns = False
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        owns = True
    if dist.is_initialized():
        world, rank = dist.get_world_size(), dist.get_rank()
    return DistContext(rank=rank, world_size=world, local_rank=local_rank, device=device, owns_group=owns)


def max_over_ranks(value: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """The largest value of a scalar tensor over ranks."""
    if ctx.active:
        value = value.clone()
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return value


def mean_over_ranks(value: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Average a scalar tensor over ranks (NaN on any rank gives NaN everywhere)."""
    if ctx.active:
        value = value.clone()
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
        value /= ctx.world_size
    return value
