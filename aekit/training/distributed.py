"""Data-parallel training on plain ``torch.distributed``, launched by ``torchrun``.

Under ``torchrun`` (or ``aekit train --devices N``, which re-launches itself through it) every process runs
the same training code; :func:`context` reports this process's rank and world size and initializes the
process group (NCCL on CUDA, gloo on CPU). One process: world size 1 and no wrapper at all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["DistributedContext", "context", "all_reduce_sum"]


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def context(device_type: str) -> DistributedContext:
    """The current process's place in the job; initializes the default process group when launched by torchrun."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return DistributedContext(rank=dist.get_rank(), local_rank=int(os.environ.get("LOCAL_RANK", "0")),
                              world_size=dist.get_world_size())


def all_reduce_sum(values: torch.Tensor, ctx: DistributedContext) -> torch.Tensor:
    """Sum a tensor over all processes (a no-op for one process)."""
    if ctx.enabled:
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values
