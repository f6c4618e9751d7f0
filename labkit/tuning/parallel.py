"""Data-parallel training over several processes (``accelerate launch``), and the one-process case.

Under ``accelerate launch --num_processes N`` (or ``torchrun``) every process loads the same model and draws
the same seeded batches; :meth:`Processes.shard` hands each process its share of a step's sequences, and
:meth:`Processes.sum_gradients` adds up what they computed. :func:`labkit.tuning.train.train` divides each
step's loss by the tokens scored in the *whole* step, so the sum is exactly the gradient one process would
have computed on the whole batch: N processes train the same adapter as one, N times wider. Only the main
process writes files and draws progress bars. The process group (gloo on CPUs, NCCL on GPUs) is accelerate's
``PartialState``; outside a launcher nothing is initialised and every method is a no-op.

>>> alone = processes()
>>> alone.count, alone.is_main, alone.shard(["a", "b", "c"])
(1, True, ['a', 'b', 'c'])
>>> Processes(count=2, index=1).shard(["a", "b", "c"])   # the second of two processes
['b']
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

LAUNCHER_VARIABLES = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE")  # set by accelerate launch / torchrun / MPI


@dataclass(frozen=True)
class Processes:
    """The processes training together: how many, and which one this is (0 is the main one)."""

    count: int = 1
    index: int = 0

    @property
    def is_main(self) -> bool:
        return self.index == 0

    def shard(self, items: Sequence) -> list:
        """This process's share of ``items``: every ``count``-th one from its ``index`` (possibly none)."""
        return list(items[self.index::self.count])

    def sum_gradients(self, params) -> None:
        """Add every process's gradients of ``params`` into each (a parameter a process did not reach counts 0)."""
        if self.count == 1:
            return
        import torch
        import torch.distributed as dist

        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)

    def sum(self, value: float) -> float:
        """``value`` added up over the processes (a loss or a token count, for the log)."""
        if self.count == 1:
            return value
        import torch
        import torch.distributed as dist

        total = torch.tensor([float(value)], dtype=torch.float64, device=_collective_device())
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return float(total.item())

    def wait(self) -> None:
        """Hold every process here until all have arrived (e.g. until the main one has saved the adapter)."""
        if self.count > 1:
            import torch.distributed as dist

            dist.barrier()


def _collective_device():
    import torch
    import torch.distributed as dist

    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def launched() -> bool:
    """Whether a launcher started this process as one of several."""
    return any(int(os.environ.get(name, "1")) > 1 for name in LAUNCHER_VARIABLES)


def processes() -> Processes:
    """The processes training together: one, unless a launcher started several (then the process group is
    set up here, once, by accelerate, which also makes this process's own GPU the current one, so that
    ``.to("cuda")`` lands there)."""
    if not launched():
        return Processes()
    import torch
    from accelerate import PartialState

    state = PartialState(cpu=not torch.cuda.is_available())  # without a GPU: processes on the CPU, over gloo
    return Processes(count=state.num_processes, index=state.process_index)

