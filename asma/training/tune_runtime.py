"""The runtime of a one-worker Ray Tune trial: the training loop runs in the trial itself.

(Launching a TorchTrainer costs about 20 s of start-up here, so only trials that ask for several
workers do that; see shared/ENVIRONMENT.md.) Checkpoints go through `ray.tune.report`, so Tune
restores them on resume and ASHA can pause/stop trials between epochs.
"""
from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from asma.training.runtime import epoch_loader, load_checkpoint_file, pick_device, save_checkpoint_file

CHECKPOINT_FILE = "checkpoint.pt"

# Studies and searches keep a finished trial's process for the next trial (TuneConfig(reuse_actors=True)
# in asma.ablation.runner and asma.search.tuner): no new Python, torch import and data loading per trial.
# Before it reuses a process, Tune waits TUNE_FUNCTION_THREAD_TIMEOUT_S for the last trial's thread to
# end; its default, 2 s, is shorter than a stopped trial's tracker may take to finish (a W&B upload), and
# then Tune fails the next trial and, with Ray 2.60, the fit never ends (tests/test_trial_reuse.py).
REUSE_WAIT_S = 120


def wait_for_the_last_trial_when_reused() -> None:
    """Called first in a trial function, in the trial's process: Tune reads the setting there."""
    os.environ.setdefault("TUNE_FUNCTION_THREAD_TIMEOUT_S", str(REUSE_WAIT_S))


def start_trial() -> None:
    """What every trial function (a study's run, a search's trial) does first, in its process: wait for
    a reused process's last trial (above), and keep Ray's per-checkpoint lines out of the driver's output."""
    wait_for_the_last_trial_when_reused()
    logging.getLogger("ray").setLevel(logging.WARNING)


class TuneTrialRuntime:
    rank = 0
    world_size = 1

    def __init__(self, device: str = "auto", loader_workers: int = 0, extra_metrics: dict | None = None):
        self.device = pick_device(device)
        self.loader_workers = loader_workers
        self.extra_metrics = extra_metrics or {}

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        return model.to(self.device)

    def loader(self, dataset: Dataset, batch_size: int, shuffle: bool, epoch: int, seed: int) -> DataLoader:
        return epoch_loader(dataset, batch_size, shuffle, epoch, seed, self.loader_workers, self.device)

    def report(self, metrics: dict[str, Any], checkpoint: dict | None = None) -> None:
        from ray import tune

        metrics = {**metrics, **self.extra_metrics}
        if checkpoint is None:
            tune.report(metrics)
            return
        with tempfile.TemporaryDirectory() as tmp:
            save_checkpoint_file(checkpoint, Path(tmp) / CHECKPOINT_FILE)
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp))

    def latest_checkpoint(self) -> dict | None:
        from ray import tune

        ckpt = tune.get_checkpoint()
        if ckpt is None:
            return None
        with ckpt.as_directory() as d:
            return load_checkpoint_file(Path(d) / CHECKPOINT_FILE)
