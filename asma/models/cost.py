"""What a model costs at inference: FLOPs of one clip (PyTorch's FlopCounterMode) and the median
latency of a no-grad forward at a batch size, on the current device and thread count."""
from __future__ import annotations

import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode


def forward_flops(model: torch.nn.Module, shape: tuple[int, ...]) -> int:
    """FLOPs of one forward pass on one clip of `shape` (C, T, V, M); quantized kernels are not counted."""
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.randn(1, *shape))
    return counter.get_total_flops()


@torch.no_grad()
def latency_ms(model: torch.nn.Module, shape: tuple[int, ...], batch: int = 1, repeats: int = 20,
               warmup: int = 3) -> float:
    """Median milliseconds of a no-grad forward of `batch` random clips of `shape`, warm-up excluded."""
    x = torch.randn(batch, *shape)
    for _ in range(warmup):
        model(x)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        model(x)
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)
