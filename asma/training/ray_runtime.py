"""The runtime of one Ray Train worker: the training loop runs unchanged on every worker.

- rank and world size come from `ray.train.get_context()`; Ray Train has already set up the
  process group (gloo on CPU, NCCL on GPU) before the worker function starts.
- `wrap` puts the model in DDP. On GPU every BatchNorm becomes a SyncBatchNorm first, so the
  encoders and projectors normalise over the global batch exactly as one GPU with the whole batch
  would. On CPU (gloo) torch has no SyncBatchNorm: each worker's BatchNorm layers normalise its own
  share of the batch (running statistics are rank 0's, DDP broadcasts them). The Barlow Twins
  standardisation and cross-correlation are all-reduced in any case (asma/objectives/barlow_twins.py).
- `loader` shards one global permutation of (seed, epoch), the very permutation `epoch_loader` uses
  in a one-process run: step s of N workers covers the same samples as step s of one worker.
- `report` goes through `ray.train.report` every epoch; rank 0 attaches the checkpoint (the loop's
  dict plus the run's epoch history; the loop's random streams are seeded by (seed, rank, epoch),
  so no per-rank RNG state needs gathering).
- `latest_checkpoint` reads `ray.train.get_checkpoint()`: the last one after a worker-group restart
  (FailureConfig) or when the same run name and storage path are started again.
"""
from __future__ import annotations

import json
import os
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from asma.training.runtime import load_checkpoint_file, save_checkpoint_file

CHECKPOINT_FILE = "checkpoint.pt"
HISTORY_FILE = "history.json"
# epoch_loader (asma/training/runtime.py) seeds its permutation with seed * 100_003 + epoch, and
# DistributedSampler with its seed + epoch: this makes the two the same permutation.
PERMUTATION_SEED_STRIDE = 100_003


def shard_loader(dataset: Dataset, batch_size: int, shuffle: bool, epoch: int, seed: int,
                 rank: int, world_size: int, workers: int = 0,
                 device: torch.device | None = None) -> DataLoader:
    """This rank's `batch_size` share of each global batch; the order depends on (seed, epoch) only.

    Rank r takes positions r, r + W, r + 2W, ... of the global permutation, so per-rank batch s
    (of size b) and the other ranks' batch s together hold positions [s*W*b, (s+1)*W*b): the same
    samples as global batch s of a one-process run with batch W*b.
    """
    sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=shuffle,
                                 seed=seed * PERMUTATION_SEED_STRIDE, drop_last=shuffle)
    sampler.set_epoch(epoch)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=shuffle,
                      num_workers=workers, pin_memory=device is not None and device.type == "cuda")


@dataclass(frozen=True)
class KillOnce:
    """Fault injection: worker `rank` kills itself (SIGKILL) right after reporting `epoch`, once.

    The marker file makes it happen once per run: the replacement worker finds it and goes on. Used
    by the tests and to try fault tolerance by hand (`pretrain_on_ray(cfg, fault=KillOnce(...))`).
    """

    rank: int
    epoch: int
    marker: str

    def after_report(self, rank: int, epoch: int) -> None:
        if rank != self.rank or epoch != self.epoch or os.path.exists(self.marker):
            return
        Path(self.marker).write_text(f"{os.getpid()}\n")
        os.kill(os.getpid(), signal.SIGKILL)


class RayTrainRuntime:
    """The `Runtime` of the loop inside `TorchTrainer`'s worker function."""

    def __init__(self, loader_workers: int = 0, fault: KillOnce | None = None):
        import ray.train
        import ray.train.torch

        context = ray.train.get_context()
        self.rank = context.get_world_rank()
        self.world_size = context.get_world_size()
        self.device = ray.train.torch.get_device()
        self.loader_workers = loader_workers
        self.fault = fault
        self.history: list[dict] = []
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        model = model.to(self.device)
        if self.world_size == 1:
            return model
        from torch.nn.parallel import DistributedDataParallel

        if self.device.type == "cuda":
            # Replaces the BatchNorm children in place and keeps their parameters and buffers, so
            # the loop's optimizer and state_dict stay valid.
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
            return DistributedDataParallel(model, device_ids=[self.device.index])
        return DistributedDataParallel(model)

    def loader(self, dataset: Dataset, batch_size: int, shuffle: bool, epoch: int, seed: int) -> DataLoader:
        return shard_loader(dataset, batch_size, shuffle, epoch, seed, self.rank, self.world_size,
                            self.loader_workers, self.device)

    def report(self, metrics: dict[str, Any], checkpoint: dict | None = None) -> None:
        import ray.train

        metrics = {**metrics, "workers": self.world_size}
        self.history.append(metrics)
        if checkpoint is None or self.rank != 0:
            ray.train.report(metrics, checkpoint=None)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                save_checkpoint_file(checkpoint, Path(tmp) / CHECKPOINT_FILE)
                (Path(tmp) / HISTORY_FILE).write_text(json.dumps(self.history))
                ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(tmp),
                                 checkpoint_dir_name=f"epoch_{int(checkpoint['epoch']):04d}")
        if self.fault is not None:
            self.fault.after_report(self.rank, int(metrics["epoch"]))

    def latest_checkpoint(self) -> dict | None:
        import ray.train

        found = ray.train.get_checkpoint()
        if found is None:
            return None
        with found.as_directory() as d:
            state = load_checkpoint_file(Path(d) / CHECKPOINT_FILE)
            history = Path(d) / HISTORY_FILE
            self.history = json.loads(history.read_text()) if history.exists() else []
        return state
