"""Several processes, one job: ``torchrun`` sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``, and
training (DDP) and dumps (videos sharded across ranks) read them here.

The process group is gloo on CPU and NCCL on CUDA; on CUDA each process takes the GPU of its
local rank. Without ``WORLD_SIZE`` (or with 1) nothing is initialised: one process, rank 0.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..utils import pick_device


@dataclass(frozen=True)
class Shard:
    """This process's place in the job: rank ``rank`` of ``world``."""

    rank: int = 0
    world: int = 1

    def take(self, items: Sequence) -> list:
        """This rank's share of ``items``: every ``world``-th from its rank (round robin, so
        ranks get equal counts ±1 whatever the order)."""
        return list(items[self.rank :: self.world])

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()


def init_distributed(device_arg: str | None) -> tuple[int, int, torch.device]:
    """(rank, world size, device) of this process, initialising the process group once when
    ``torchrun`` started several: NCCL when CUDA is there and ``device_arg`` is not ``cpu``,
    else gloo."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() and device_arg != "cpu" else "gloo"
        dist.init_process_group(backend)
    rank = dist.get_rank() if dist.is_initialized() else 0
    device = pick_device(device_arg)
    if device.type == "cuda" and world > 1:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    return rank, world, device
