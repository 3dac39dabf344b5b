"""Ranks, devices, process groups, collectives, and the elastic launcher for `--gpus N`.

Three ways a training process can start:

- alone: `hrm train ...` on one device, world size 1, no process group;
- launched by us: `hrm train ... --gpus N` (or `--nproc N --device cpu`) runs torch's
  elastic agent in the CLI process (`launch`), which starts N workers per node and sets
  RANK/WORLD_SIZE/LOCAL_RANK/MASTER_ADDR/MASTER_PORT in their environment;
- launched by an external `torchrun`: the same variables are already set.

In the last two cases `World.from_env()` reads the variables and `setup` joins the process
group (NCCL on CUDA devices, gloo on the CPU). Dense gradients are summed with one flat
all-reduce per step (the loss is already divided by the *global* batch, as the original
does, so the sum is the global-batch gradient); puzzle-embedding rows are gathered by
`SparseSignSGD` itself.
"""

from __future__ import annotations

import importlib
import inspect
import multiprocessing
import os
import signal
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from hrm.inference import devices
from hrm.train.errors import TrainingError

CPU_ALTERNATIVE = "--nproc N --device cpu"


@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @classmethod
    def from_env(cls) -> World | None:
        """The world torchrun (or our launcher) describes in the environment, or None."""
        if "WORLD_SIZE" not in os.environ or "RANK" not in os.environ:
            return None
        try:
            world_size = int(os.environ["WORLD_SIZE"])
            rank = int(os.environ["RANK"])
            local_rank = int(os.environ.get("LOCAL_RANK", rank))
            local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world_size))
        except ValueError:
            raise TrainingError("RANK/WORLD_SIZE/LOCAL_RANK in the environment are not "
                                "integers") from None
        return cls(rank, world_size, local_rank, local_world)


# ----------------------------------------------------------------------------------------
# Devices
# ----------------------------------------------------------------------------------------


def resolve_device(spec: str, world: World | None = None) -> torch.device:
    """`--device` for this process of `world`: with several processes per node, "cuda" and
    auto mean `cuda:LOCAL_RANK`, one GPU per process (`hrm.inference.devices`)."""
    world = world or World()
    processes = world.local_world_size if world.distributed else 1
    return devices.resolve_device(spec, local_rank=world.local_rank, local_processes=processes)


def require_cuda(what: str, processes: int = 1) -> None:
    """TrainingError naming the CPU alternative unless `processes` CUDA GPUs are here."""
    if not torch.cuda.is_available():
        alternative = ("--device cpu" if processes == 1 else
                       f"{CPU_ALTERNATIVE.replace('N', str(processes))} to run {processes} "
                       "workers on the CPU")
        raise TrainingError(f"{what}: no CUDA GPU is available on this machine (torch "
                            f"{torch.__version__}); use {alternative}")
    if processes > torch.cuda.device_count():
        raise TrainingError(f"{what}: {processes} GPU workers per node asked for, but this "
                            f"machine has {torch.cuda.device_count()} CUDA device(s)")


# ----------------------------------------------------------------------------------------
# Process group and collectives
# ----------------------------------------------------------------------------------------


def setup(world: World, device: torch.device, timeout_s: float = 1800) -> None:
    """Join the process group of a multi-process run (no-op for a single process)."""
    if device.type == "cuda":
        torch.cuda.set_device(device)
    elif "OMP_NUM_THREADS" not in os.environ and world.local_world_size > 1:
        # N CPU workers on one node share its cores; torch would give each all of them.
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world.local_world_size))
    if not world.distributed or dist.is_initialized():
        return
    # torch.distributed.nn.functional binds `group=group.WORLD` as a default argument when
    # first imported, and torch imports it lazily (the first optimizer pulls in dynamo,
    # which pulls it in). Imported after init, it would keep the default group alive past
    # destroy_process_group, and gloo's threads would then be torn down during interpreter
    # finalization, where they can abort the process ("terminate called without an active
    # exception"). Imported now, the defaults are None.
    importlib.import_module("torch.distributed.nn")

    backend = "nccl" if device.type == "cuda" else "gloo"
    options: dict[str, Any] = {}
    if device.type == "cuda" and "device_id" in inspect.signature(
            dist.init_process_group).parameters:  # torch >= 2.3
        options["device_id"] = device  # binds the NCCL communicator to this GPU up front
    dist.init_process_group(backend, init_method="env://", rank=world.rank,
                            world_size=world.world_size, timeout=timedelta(seconds=timeout_s),
                            **options)


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_reduce_gradients(parameters: Iterable[torch.nn.Parameter]) -> None:
    """Sum every parameter's gradient over the ranks, in one flat all-reduce.

    Parameters without a gradient get zeros first, so every rank reduces the same buffer.
    """
    if not is_distributed():
        return
    params = list(parameters)
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    grads = [p.grad for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum over ranks in place (returns the tensor; no-op for one process)."""
    if is_distributed():
        dist.all_reduce(tensor)
    return tensor


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank `src`'s `obj` on every rank."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def gather_objects(obj: Any, dst: int = 0) -> list[Any] | None:
    """Every rank's `obj` (in rank order) on rank `dst`, None elsewhere."""
    if not is_distributed():
        return [obj]
    rank = dist.get_rank()
    out: list[Any] | None = [None] * dist.get_world_size() if rank == dst else None
    dist.gather_object(obj, out, dst=dst)
    return out


def broadcast_module(module: torch.nn.Module, src: int = 0) -> None:
    """Copy rank `src`'s parameters and buffers to every rank (a fresh run's safety net)."""
    if not is_distributed():
        return
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor, src=src)


def barrier() -> None:
    if is_distributed():
        dist.barrier()


# ----------------------------------------------------------------------------------------
# The elastic launcher (`--gpus N`, `--nproc N`, `--nnodes`)
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LaunchSpec:
    """How many workers to start and how the nodes meet."""

    nproc_per_node: int
    nnodes: int = 1
    node_rank: int | None = None
    """With a rank per node the rendezvous is static (torchrun's --node-rank with a master
    address); without, nodes meet at the c10d store on `rdzv_endpoint` and get ranks there."""
    rdzv_endpoint: str | None = None
    """host:port of the rendezvous (node 0's address); required with nnodes > 1."""
    run_id: str | None = None

    def validate(self) -> None:
        if self.nproc_per_node < 1:
            raise TrainingError("--nproc/--gpus must be at least 1")
        if self.nnodes < 1:
            raise TrainingError("--nnodes must be at least 1")
        if self.nnodes > 1 and not self.rdzv_endpoint:
            raise TrainingError("--nnodes > 1 needs --rdzv-endpoint HOST:PORT (the address "
                                "of node 0, reachable from every node)")
        if self.node_rank is not None and not 0 <= self.node_rank < self.nnodes:
            raise TrainingError(f"--node-rank {self.node_rank} is not in [0, {self.nnodes})")
        if self.node_rank is not None and self.rdzv_endpoint and ":" not in self.rdzv_endpoint:
            raise TrainingError("--rdzv-endpoint must be HOST:PORT with --node-rank")


def launch(entrypoint: Callable[..., Any], args: tuple[Any, ...],
           spec: LaunchSpec) -> dict[int, Any]:
    """Run `entrypoint(*args)` in `spec.nproc_per_node` workers on this node (and join the
    other nodes); returns {global rank: return value} of this node's workers.

    Ctrl-C and SIGTERM are not the agent's business here: the workers catch them to write a
    checkpoint, so this process forwards them to the workers and waits, and the agent
    handles only SIGHUP/SIGQUIT. A worker that fails raises TrainingError (its own messages
    are above it on stderr).
    """
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.elastic.rendezvous.api import RendezvousError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    spec.validate()
    if spec.nnodes == 1 and spec.rdzv_endpoint is None:
        backend, endpoint, rdzv_configs = "c10d", "localhost:0", {}  # torchrun --standalone
    elif spec.node_rank is not None:
        backend, endpoint = "static", spec.rdzv_endpoint or ""
        rdzv_configs = {"rank": spec.node_rank}
    else:
        backend, endpoint, rdzv_configs = "c10d", spec.rdzv_endpoint or "", {}
    config = LaunchConfig(
        min_nodes=spec.nnodes,
        max_nodes=spec.nnodes,
        nproc_per_node=spec.nproc_per_node,
        # Nodes meet under one id: torchrun's default for multi-node jobs is also a constant.
        run_id=spec.run_id or (uuid.uuid4().hex if spec.nnodes == 1 else "hrm-train"),
        rdzv_backend=backend,
        rdzv_endpoint=endpoint,
        rdzv_configs=rdzv_configs,
        max_restarts=0,
        monitor_interval=0.2,
        start_method="spawn",
        signals_to_handle="SIGHUP,SIGQUIT",
    )
    with _forward_signals() as interrupted:
        try:
            return elastic_launch(config, entrypoint)(*args)
        except ChildFailedError as exc:
            if interrupted():
                raise KeyboardInterrupt from None
            failures = ", ".join(f"rank {f.rank} (exit code {f.exitcode})"
                                 for f in exc.failures.values())
            raise TrainingError(f"training worker(s) failed: {failures}; see their "
                                "messages above") from None
        except RendezvousError as exc:
            raise TrainingError(f"the {spec.nnodes} nodes did not meet at "
                                f"{spec.rdzv_endpoint or endpoint} ({type(exc).__name__}: "
                                f"{exc}); start the same command on every node") from None
        except SignalException:
            # SIGHUP/SIGQUIT: the agent has stopped the workers.
            raise KeyboardInterrupt from None


@contextmanager
def _forward_signals() -> Iterator[Callable[[], bool]]:
    """While active, SIGINT and SIGTERM go to our worker processes instead of acting here.

    On a terminal, Ctrl-C reaches the workers directly as well; they treat the extra copy
    as the same request.
    """
    seen = [False]

    def forward(signum: int, frame: Any) -> None:
        seen[0] = True
        for child in multiprocessing.active_children():
            if child.pid is not None:
                with suppress(ProcessLookupError):
                    os.kill(child.pid, signum)

    previous = {signum: signal.signal(signum, forward)
                for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield lambda: seen[0]
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
