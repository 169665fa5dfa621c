"""Where the training loop runs. The loop only talks to a `Runtime`:

- `device`, `rank`, `world_size`
- `wrap(model)`: DDP or nothing
- `loader(dataset, batch_size, shuffle, epoch)`: this worker's shard of the data
- `report(metrics, checkpoint)`: metrics every epoch, a checkpoint dict when one is due
- `latest_checkpoint()`: what to resume from, or None

`LocalRuntime` (here) writes checkpoints and metrics under the run folder; `RayTrainRuntime`
(asma/training/ray_runtime.py) maps the same calls onto `ray.train`.
"""
from __future__ import annotations

import functools
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol, TypeVar

import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, SequentialSampler

from asma.data.atomic import write_json_atomic

T = TypeVar("T")


class Runtime(Protocol):
    device: torch.device
    rank: int
    world_size: int

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module: ...
    def loader(self, dataset: Dataset, batch_size: int, shuffle: bool, epoch: int, seed: int) -> DataLoader: ...
    def report(self, metrics: dict[str, Any], checkpoint: dict | None = None) -> None: ...
    def latest_checkpoint(self) -> dict | None: ...


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """torch's CPU thread count set to `threads` for the block (0: left as is), and put back after:
    a run's `train.threads` must not change the threads of what the same process runs next."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def with_config_threads(fn: Callable[..., T]) -> Callable[..., T]:
    """Run `fn(cfg, ...)` with torch's CPU threads set to `cfg.train.threads` (torch_threads)."""
    @functools.wraps(fn)
    def wrapper(cfg, *args, **kwargs):
        with torch_threads(cfg.train.threads):
            return fn(cfg, *args, **kwargs)
    return wrapper


def pick_device(name: str) -> torch.device:
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def epoch_loader(dataset: Dataset, batch_size: int, shuffle: bool, epoch: int, seed: int,
                 workers: int = 0, device: torch.device | None = None) -> DataLoader:
    """A loader whose order is a function of (seed, epoch) only, so a resumed epoch sees the same batches."""
    gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
    sampler = RandomSampler(dataset, generator=gen) if shuffle else SequentialSampler(dataset)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=shuffle,
                      num_workers=workers, pin_memory=device is not None and device.type == "cuda")


def load_checkpoint_file(path: Path) -> dict:
    """Checkpoints hold tensors and plain values only: no arbitrary pickle is executed."""
    return torch.load(path, map_location="cpu", weights_only=True)


def save_checkpoint_file(state: dict, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    torch.save(state, tmp)
    os.replace(tmp, path)


class LocalRuntime:
    """One process, CPU or one GPU. Checkpoints in `run_dir/checkpoints/`, metrics in metrics.jsonl."""

    rank = 0
    world_size = 1

    def __init__(self, run_dir: str | Path, device: str = "auto", num_to_keep: int = 2,
                 loader_workers: int = 0, on_report=None):
        self.run_dir = Path(run_dir)
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        self.device = pick_device(device)
        self.num_to_keep = num_to_keep
        self.loader_workers = loader_workers
        self.on_report = on_report
        self.history: list[dict] = []

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        return model.to(self.device)

    def loader(self, dataset: Dataset, batch_size: int, shuffle: bool, epoch: int, seed: int) -> DataLoader:
        return epoch_loader(dataset, batch_size, shuffle, epoch, seed, self.loader_workers, self.device)

    def report(self, metrics: dict[str, Any], checkpoint: dict | None = None) -> None:
        if checkpoint is not None:
            path = self.ckpt_dir / f"epoch_{checkpoint['epoch']:04d}.pt"
            save_checkpoint_file(checkpoint, path)
            write_json_atomic(self.ckpt_dir / "latest.json", {"path": path.name, "epoch": checkpoint["epoch"]})
            for old in sorted(self.ckpt_dir.glob("epoch_*.pt"))[: -self.num_to_keep]:
                old.unlink()
        self.history.append(metrics)
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(metrics) + "\n")
        if self.on_report:
            self.on_report(metrics)

    def latest_checkpoint(self) -> dict | None:
        pointer = self.ckpt_dir / "latest.json"
        if not pointer.exists():
            return None
        return load_checkpoint_file(self.ckpt_dir / json.loads(pointer.read_text())["path"])
