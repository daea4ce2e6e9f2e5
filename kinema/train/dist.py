"""Parallel training, kept apart from the models: process groups from torchrun's environment, DDP or FSDP2
(`fully_shard` per block) wrapping with activation checkpointing and per-block `torch.compile`, full state dicts
for checkpoints, and a launcher for `--nproc N` on one machine.

One process (no RANK in the environment) is the plain case; on a CPU the backend is gloo, so the same code path
runs in CI. Every rank must call the collective helpers here (`mean`, `full_state`, `load_full_state`) together.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import torch
import torch.distributed as td
from torch import nn

PARALLEL = ("ddp", "fsdp")

# Dense bf16 tensor-core peak per GPU, for MFU (NVIDIA data sheets, SXM parts).
PEAK_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10G": 125e12, "4090": 165e12}


@dataclass(frozen=True)
class Dist:
    rank: int
    world: int
    device: torch.device
    owns_group: bool = False  # this setup() started the process group, so teardown() ends it

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def on(self) -> bool:
        return self.world > 1

    def barrier(self) -> None:
        if self.on:
            td.barrier()

    def mean(self, value: float) -> float:
        """The mean of a number over all ranks (NaN anywhere gives NaN everywhere, so all ranks stop together)."""
        if not self.on:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.device)
        td.all_reduce(t)
        return t.item() / self.world

    def shard(self, n: int) -> range:
        """This rank's slice of a global batch of n examples (n divisible by the world size)."""
        if n % self.world:
            raise ValueError(f"--batch {n} must be divisible by the number of processes {self.world}")
        k = n // self.world
        return range(self.rank * k, (self.rank + 1) * k)


def setup(device: str | None = None) -> Dist:
    """Join the process group torchrun (or `launch`) described in RANK/WORLD_SIZE/LOCAL_RANK; one process if unset."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available() and device != "cpu"
    dev = torch.device(device) if device else torch.device(f"cuda:{local}" if cuda else "cpu")
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    start = world > 1 and not td.is_initialized()
    if start:
        td.init_process_group("nccl" if dev.type == "cuda" else "gloo", rank=rank, world_size=world)
    return Dist(rank, world, dev, start)


def teardown(dist: Dist) -> None:
    if dist.owns_group and td.is_initialized():
        td.destroy_process_group()


def parallelize(
    model: nn.Module,
    dist: Dist,
    parallel: str = "ddp",
    checkpointing: bool = False,
    compile: bool = False,
    bf16_params: bool = False,
) -> nn.Module:
    """Wrap a model whose repeated layers are `model.blocks`: activation checkpointing and torch.compile per block,
    then DDP, or FSDP2 with each block its own unit (bf16 parameters, fp32 gradient reduction if `bf16_params`).
    Returns the module to call; parameter names (FQNs) of the inner model are unchanged for state dicts."""
    if parallel not in PARALLEL:
        raise ValueError(f"--parallel {parallel!r}: choose one of {', '.join(PARALLEL)}")
    if checkpointing:
        from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper

        for i, block in enumerate(model.blocks):
            model.blocks[i] = checkpoint_wrapper(block)
    if compile:
        for block in model.blocks:
            block.compile()
    if not dist.on:
        return model
    if parallel == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        ids = [dist.device.index] if dist.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    mesh = init_device_mesh(dist.device.type, (dist.world,))
    mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if bf16_params else None
    kw = {"mesh": mesh, **({"mp_policy": mp} if mp else {})}
    for block in model.blocks:
        fully_shard(block, **kw)
    fully_shard(model, **kw)
    return model


def _options(**kw):
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, **kw)


def full_state(model: nn.Module, opt: torch.optim.Optimizer | None = None) -> tuple[dict, dict | None]:
    """Full (unsharded, CPU) model and optimizer state dicts with the inner model's parameter names; collective."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, get_optimizer_state_dict

    opts = _options(cpu_offload=True)
    msd = get_model_state_dict(model, options=opts)
    osd = get_optimizer_state_dict(model, opt, options=opts) if opt is not None else None
    return msd, osd


def load_full_state(model: nn.Module, opt: torch.optim.Optimizer | None, msd: dict, osd: dict | None) -> None:
    """Load full state dicts (as `full_state` gives) into a plain, DDP or FSDP2 model and its optimizer."""
    from torch.distributed.checkpoint.state_dict import set_model_state_dict, set_optimizer_state_dict

    set_model_state_dict(model, msd, options=_options())
    if opt is not None and osd is not None:
        set_optimizer_state_dict(model, opt, osd, options=_options())


def full_tensor(t: torch.Tensor) -> torch.Tensor:
    """A DTensor (an FSDP shard) gathered to a whole tensor on the CPU; a plain tensor as it is. Collective."""
    from torch.distributed.tensor import DTensor

    return (t.full_tensor() if isinstance(t, DTensor) else t).detach().cpu()


def like(full: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """A whole tensor laid out as `ref` is (this rank's shard of it if `ref` is a DTensor)."""
    from torch.distributed.tensor import DTensor, distribute_tensor

    full = full.to(device=ref.device, dtype=ref.dtype)
    if isinstance(ref, DTensor):
        return distribute_tensor(full, ref.device_mesh, ref.placements)
    return full


def peak_flops(device: torch.device) -> float | None:
    """Dense bf16 peak FLOP/s of a known GPU; None on a CPU or an unknown GPU (MFU is then not reported)."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_FLOPS.items() if k in name), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, fn, args: tuple, kwargs: dict) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world)
    )
    fn(*args, **kwargs)


def launch(nproc: int, fn, *args, **kwargs) -> None:
    """Run fn(*args, **kwargs) in `nproc` fresh processes on this machine, as torchrun would (one per GPU, or CPU
    processes on gloo). A ValueError or FloatingPointError in a worker is raised again here with its message."""
    import torch.multiprocessing as mp

    if nproc < 1:
        raise ValueError(f"--nproc {nproc}: must be at least 1")
    if torch.cuda.is_available() and nproc > torch.cuda.device_count():
        raise ValueError(f"--nproc {nproc}: only {torch.cuda.device_count()} GPUs are visible")
    # Fresh processes, on a CPU too: a forked worker of a parent that has run an OpenMP parallel region hangs in
    # libgomp's stale thread pool (seen with OMP_NUM_THREADS=2: the 2-process test never finished).
    try:
        mp.start_processes(
            _worker, args=(nproc, _free_port(), fn, args, kwargs), nprocs=nproc, join=True, start_method="spawn"
        )
    except mp.ProcessRaisedException as e:
        last = [line for line in str(e).splitlines() if line.strip()][-1]
        for kind in (ValueError, FloatingPointError):
            if last.startswith(kind.__name__ + ": "):
                raise kind(last[len(kind.__name__) + 2 :]) from None
        raise
