"""Data-parallel training across processes (`torchrun --nproc_per_node=N`).

One process per GPU (or per CPU group, gloo backend). Each rank holds its own
shard of the training and test data on its device, trains on per-rank batches
of `batch_size / N` (DistributedDataParallel averages the gradients, so the
step equals one over the global batch), and the metrics are summed across
ranks. Only rank 0 writes checkpoints and records. Without torchrun, all of
this reduces to a single process: world size 1, rank 0, no communication.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def world_size() -> int:
    """How many processes torchrun started for the run (1 without torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def launched_by_torchrun() -> bool:
    return world_size() > 1


def setup(device: torch.device) -> Context:
    """Join the process group torchrun set up, on this process's GPU where it
    has one (no-op for a single process)."""
    if not launched_by_torchrun():
        return Context()
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        # On GPUs, NCCL for the GPU tensors and gloo for the few CPU ones (a
        # stop flag, the random states): NCCL alone refuses CPU tensors.
        dist.init_process_group(backend="cpu:gloo,cuda:nccl" if device.type == "cuda" else "gloo")
    return Context(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def shard(x: torch.Tensor, ctx: Context) -> torch.Tensor:
    """This rank's share: every world_size-th item, the same count on every rank
    (a rank with one more item would take one more step and hang the others)."""
    if not ctx.active:
        return x
    per_rank = len(x) // ctx.world_size
    return x[ctx.rank::ctx.world_size][:per_rank]


def all_sum(t: torch.Tensor, ctx: Context) -> torch.Tensor:
    if ctx.active:
        t = t.clone()
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def all_gather_object(obj, ctx: Context) -> list:
    if not ctx.active:
        return [obj]
    out = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(ctx: Context) -> None:
    if ctx.active:
        dist.barrier()


def shutdown() -> None:
    """Leave the process group (at the end of a torchrun command)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
