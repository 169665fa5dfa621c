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


class FirstOutput(torch.nn.Module):
    """A model whose forward returns a tuple, seen as its first output (a teacher's logits)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        return out[0] if isinstance(out, tuple) else out


def inference_costs(model: torch.nn.Module, shape: tuple[int, ...]) -> dict[str, float]:
    """MFLOPs of one clip and batch-1 latency (ms) of a CPU copy of `model` in eval mode, on this
    process's torch threads (the figure a deployed CPU model of that size pays)."""
    import copy

    cpu = FirstOutput(copy.deepcopy(model).cpu().eval())
    return {"mflops": forward_flops(cpu, shape) / 1e6, "latency_ms_b1": latency_ms(cpu, shape, batch=1),
            "threads": torch.get_num_threads()}
