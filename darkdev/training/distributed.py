"""Data parallelism (torchrun, DistributedDataParallel): ranks, agreement, and their checks.

gloo on CPU, nccl on CUDA. Run alone, a process is rank 0 of 1 and nothing here communicates.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from darkdev.models import supervised_outputs


@dataclass(frozen=True)
class Ranks:
    """This process's place in a torchrun job (rank 0 of 1 when run alone)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def join_ranks(use_cuda: bool) -> Ranks:
    """Join the process group torchrun describes in the environment (nccl on CUDA, else gloo)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Ranks()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Ranks(dist.get_rank(), dist.get_world_size(), local_rank)


def leave_ranks(ranks: Ranks, finished: bool) -> None:
    """Leave the process group: after a barrier when every rank finished (so none tears down
    while another still exports), and only once DistributedDataParallel, which holds the group,
    is collected: a gloo group freed at interpreter exit can abort the process."""
    if ranks.world_size <= 1:
        return
    gc.collect()
    try:
        if finished:
            dist.barrier()
    finally:
        dist.destroy_process_group()


def agree(ranks: Ranks, device: torch.device, *values: int) -> list[int]:
    """Rank 0's integers on every rank: stop decisions follow rank 0's clock, not each rank's."""
    if ranks.world_size == 1:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.int64, device=device)
    dist.broadcast(tensor, src=0)
    return [int(v) for v in tensor.tolist()]


def share_object(ranks: Ranks, value):
    """Rank 0's (picklable) value on every rank."""
    if ranks.world_size == 1:
        return value
    shared = [value]
    dist.broadcast_object_list(shared, src=0)
    return shared[0]


def mean_over_ranks(ranks: Ranks, value: torch.Tensor) -> torch.Tensor:
    """The mean of a scalar over the ranks (the whole batch's loss, as one process logs it)."""
    if ranks.world_size == 1:
        return value
    dist.all_reduce(value)
    return value / ranks.world_size


def check_ranks_in_step(ranks: Ranks, model: torch.nn.Module) -> None:
    """Raise if data-parallel ranks ended with different weights (they must stay identical)."""
    if ranks.world_size == 1:
        return
    checksum = torch.stack([p.detach().double().sum() for p in model.parameters()]).sum()
    highest, lowest = checksum.clone(), checksum.clone()
    dist.all_reduce(highest, op=dist.ReduceOp.MAX)
    dist.all_reduce(lowest, op=dist.ReduceOp.MIN)
    if highest.item() != lowest.item():
        raise RuntimeError(
            f"data-parallel ranks diverged: weight checksums {lowest.item()} .. {highest.item()}"
        )


class AllOutputs(torch.nn.Module):
    """forward() returns every supervised output, so DistributedDataParallel syncs all of them."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, packed: torch.Tensor) -> list[torch.Tensor]:
        return supervised_outputs(self.model, packed)


def wrap_for_ranks(model: torch.nn.Module, ranks: Ranks, use_cuda: bool) -> torch.nn.Module:
    """The module the loop calls: every output, synchronised over the ranks when there are several."""
    forward_all: torch.nn.Module = AllOutputs(model)
    if ranks.world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        # Same seed on every rank, and DDP broadcasts rank 0's weights anyway.
        forward_all = DistributedDataParallel(
            forward_all, device_ids=[ranks.local_rank] if use_cuda else None
        )
    return forward_all
