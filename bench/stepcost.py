"""What a training step costs in arithmetic, and how much of this machine's matmul rate it reaches.

`step_flops` counts one call of a step with torch.utils.flop_counter (multiply-adds x 2; the graph
aggregation einsums, projector matmuls and convolutions, forward and backward). `MatmulProbe` is
an fp32 matrix product of fixed size timed beside the steps, round by round, so a step's share of
the machine's matmul rate is read at the load the step itself saw:

    share = (step FLOPs / step time) / (probe FLOPs / probe time), both times from the same round.
"""
from __future__ import annotations

import statistics

import torch
from torch.utils.flop_counter import FlopCounterMode


def step_flops(step) -> int:
    """FLOPs of one call of `step` (it runs once, optimizer update included)."""
    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return counter.get_total_flops()


class MatmulProbe:
    """A (size x size) @ (size x size) fp32 product: the rate BLAS reaches here, now."""

    def __init__(self, size: int = 2048, device: torch.device | str = "cpu"):
        g = torch.Generator().manual_seed(0)
        self.a = torch.randn(size, size, generator=g).to(device)
        self.b = torch.randn(size, size, generator=g).to(device)
        self.size, self.flops = size, 2 * size ** 3

    def __call__(self) -> None:
        self.a @ self.b


def matmul_share(step_flop_count: int, step_seconds: list[float], probe_flops: int,
                 probe_seconds: list[float]) -> float:
    """Median over rounds of the step's FLOP rate over the probe's in the same round."""
    return statistics.median((step_flop_count / s) / (probe_flops / p) for s, p in zip(step_seconds, probe_seconds))
