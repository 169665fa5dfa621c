"""Whether `train.precision: bfloat16` pays on this machine's CPU, and what the CPU is.

bfloat16 autocast halves the step on a CPU with native bfloat16 (AVX512-BF16 or AMX; docs/benchmarks.md,
'Pretraining step': 3.65x PSTL's step against 2.01x in float32). A CPU without it (torch reports
`AVX2`) emulates the type, and the step turned 17x slower than float32 (a 2-core AMD EPYC: 142 s
against 8.4 s at batch 16). A 25-minute run becomes a day, silently; so a bfloat16 step on a CPU is
first timed against float32 on a small convolution, and a slow one is said at once with the fix.
The run records the ratio and the CPU (`machine` in its result), so a slow study explains itself.
"""
from __future__ import annotations

import functools
import logging
import platform
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where it runs: a report reads SLOW without it
    import torch

log = logging.getLogger("asma.precision")

SLOW = 1.5  # bfloat16 slower than float32 by more than this: not worth it, and said so


def cpu_description() -> dict[str, str]:
    """The CPU's model name and the vector instructions torch dispatches to (AVX2, AVX512, ...)."""
    import torch

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    return {"model": model, "capability": torch.backends.cpu.get_cpu_capability()}


def _seconds(layer: torch.nn.Module, x: torch.Tensor, bfloat16: bool, repeats: int = 3) -> float:
    import torch

    with torch.no_grad(), torch.autocast("cpu", torch.bfloat16, enabled=bfloat16):
        layer(x)  # warm-up: the kernel is picked here
        started = time.perf_counter()
        for _ in range(repeats):
            layer(x)
        return time.perf_counter() - started


@functools.lru_cache(maxsize=1)
def cpu_bfloat16_slowdown() -> float:
    """bfloat16 autocast's time over float32's for an ST-GCN-sized temporal convolution on this CPU,
    with the threads torch has now (about 0.1 s in float32 on 2 cores)."""
    import torch

    layer = torch.nn.Conv2d(64, 64, kernel_size=(9, 1), padding=(4, 0))
    x = torch.randn(8, 64, 32, 25)
    float32 = min(_seconds(layer, x, False) for _ in range(2))
    return round(_seconds(layer, x, True) / max(float32, 1e-9), 2)


def _bfloat16_on_cpu(precision: str, device: torch.device) -> bool:
    """The one case measured: a bfloat16 step on a CPU."""
    return precision == "bfloat16" and device.type == "cpu"


def bfloat16_warning(precision: str, device: torch.device) -> str | None:
    """What to say about a bfloat16 step on this machine's CPU: None where it pays (or nothing was
    measured: float32, or a GPU)."""
    if not _bfloat16_on_cpu(precision, device):
        return None
    slowdown = cpu_bfloat16_slowdown()
    if slowdown <= SLOW:
        return None
    cpu = cpu_description()
    return (f"train.precision=bfloat16 runs {slowdown:.1f}x slower than float32 on this CPU ({cpu['model']}, torch "
            f"dispatches {cpu['capability']}: no native bfloat16). Run it on a CPU with AVX512-BF16 or AMX, or on a "
            "GPU; or set train.precision=float32 (another config: runs finished in bfloat16 are not reused); or "
            "finish a study's runs in float32 under its planned config with `asma pool run --precision "
            "float32` (each record says so, and the report counts them)")


def check_bfloat16(precision: str, device: torch.device) -> float | None:
    """For a bfloat16 step on a CPU: its slowdown against float32 here, logged as a warning when it is
    over SLOW; None where nothing was measured (float32, or a GPU)."""
    message = bfloat16_warning(precision, device)
    if message:
        log.warning(message)
    return cpu_bfloat16_slowdown() if _bfloat16_on_cpu(precision, device) else None


def cpu_record(precision: str, device: torch.device) -> dict:
    """What a run's result keeps about the CPU (in `machine`): its model and instruction set, and for
    a bfloat16 step on it, the slowdown against float32 measured here (cached: measured once)."""
    record: dict = {"cpu": cpu_description()}
    if _bfloat16_on_cpu(precision, device):
        record["bfloat16_slowdown"] = cpu_bfloat16_slowdown()
    return record
