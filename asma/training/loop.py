"""The pretraining loop: a function of (config, data, runtime).

The same function runs in a test, in `asma pretrain` (LocalRuntime), in a Ray Train worker
(RayTrainRuntime) and inside a Tune trial; each epoch's metrics also go to the `tracker` the runner
opened (asma/tracking/trackers.py; under Ray Train only rank 0 has one). It resumes from the runtime's latest
checkpoint (model, optimizer, epoch). Every random number of an epoch (masks, augmentations,
dropout, data order and crops) is drawn from streams seeded by (seed, rank, epoch), so a resumed
run, on any number of restarts, repeats exactly what an uninterrupted one does: no RNG state needs
saving, and no epoch is lost or repeated.
"""
from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from asma.config.loading import config_to_dict
from asma.config.schema import Config, OptimConfig, TrainConfig
from asma.errors import ConfigError
from asma.models.pretrainer import MaskedPretrainer
from asma.tracking.trackers import Tracker
from asma.training.data import RunData
from asma.training.precision import check_bfloat16
from asma.training.runtime import Runtime, with_config_threads


# why a compiled step is refused on a CPU (docs/benchmarks.md, "Compiled step")
COMPILE_ON_CPU = ("compiled encoders are for a GPU: on a CPU (torch 2.13, an AVX2 EPYC) Inductor's kernels gave one "
                  "residual convolution's weight gradient 8-55% off eager's, where finite differences side with "
                  "eager, and the compiled step measured 0.83x eager's speed; set train.compile=eager")


# A per-epoch check of the model, measured when `proxy_due` (asma.evaluation.proxy.proxy_knn: BatchNorm
# calibration, then the kNN proxy). The caller passes it in, so training does not import evaluation;
# None measures nothing.
EpochCheck = Callable[[MaskedPretrainer, RunData, Config, torch.device], dict[str, float]]


@dataclass
class PretrainResult:
    model: MaskedPretrainer
    history: list[dict] = field(default_factory=list)
    resumed_from: int = 0  # the epoch of the checkpoint this attempt continued from (0: a fresh start)
    resumed_metrics: dict = field(default_factory=dict)  # that checkpoint's epoch report

    @property
    def final(self) -> dict:
        """The last epoch's report: this attempt's, or, when it resumed from the last epoch's checkpoint
        (its process died after the checkpoint, before the result), the report saved with it."""
        return self.history[-1] if self.history else self.resumed_metrics


def make_optimizer(params, cfg: OptimConfig) -> torch.optim.Optimizer:
    # fused Adam: one kernel over all parameters; on the 77M-parameter PSTL projector it costs
    # 0.06 s a step on this CPU against 0.46 s for the per-tensor loop (docs/benchmarks.md, "Pretraining step")
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay, nesterov=True)


def lr_at(epoch: int, total: int, cfg: OptimConfig) -> float:
    """Learning rate of an epoch: linear warm-up, then constant or cosine to zero."""
    if epoch < cfg.warmup_epochs:
        return cfg.lr * (epoch + 1) / cfg.warmup_epochs
    if cfg.schedule == "constant":
        return cfg.lr
    progress = (epoch - cfg.warmup_epochs) / max(1, total - cfg.warmup_epochs)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * progress))


def epoch_seed(seed: int, rank: int, epoch: int) -> int:
    """The seed of one worker's epoch: distinct per (seed, rank, epoch), stable across restarts."""
    return (seed * 1_000_003 + rank * 7919 + epoch * 104_729) % 2**63


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def proxy_due(train: TrainConfig, epoch: int, known: bool) -> bool:
    """Whether the proxy is measured after `epoch` (counted from 1): the last epoch, every
    `eval_every`, the `eval_epochs`, and with `eval_report: latest` any epoch with none known yet."""
    return (epoch == train.epochs or bool(train.eval_every and epoch % train.eval_every == 0)
            or epoch in train.eval_epochs or (train.eval_report == "latest" and not known))


@with_config_threads
def pretrain(cfg: Config, data: RunData, runtime: Runtime, tracker: Tracker | None = None, *,
             proxy: EpochCheck | None) -> PretrainResult:
    """Pretrain all encoders of `cfg.masking.views` on `data.pretrain`; report (and track) every epoch,
    with `proxy`'s metrics at the epochs `proxy_due` names."""
    seed_everything(cfg.train.seed)  # the same initial weights on every rank
    device = runtime.device
    if runtime.rank == 0:
        check_bfloat16(cfg.train.precision, device)  # a CPU that emulates bfloat16 is said at once, not in a day
    model = MaskedPretrainer(cfg, data.dataset.layout, data.in_channels).to(device)
    optimizer = make_optimizer(model.parameters(), cfg.optim)
    generator = torch.Generator(device=device)
    start_epoch, earlier_s, attempt_started = 0, 0.0, time.perf_counter()
    checkpoint = runtime.latest_checkpoint()
    resumed_metrics: dict = {}
    if checkpoint is not None:
        resumed_metrics = dict(checkpoint.get("metrics", {}))
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        start_epoch = int(checkpoint["epoch"])
        # wall time of the attempts before this one, up to their last checkpoint (0 in older checkpoints)
        earlier_s = float(checkpoint.get("metrics", {}).get("wall_s", 0.0))
    if cfg.train.compile != "eager" and device.type == "cpu":
        raise ConfigError("train.compile", "train.compile", COMPILE_ON_CPU)
    model.compile_encoders(cfg.train.compile)
    wrapped = runtime.wrap(model)
    if runtime.world_size > 1 and cfg.train.batch_size % runtime.world_size:
        raise ValueError(f"train.batch_size {cfg.train.batch_size} is not divisible by {runtime.world_size} workers")
    per_worker = cfg.train.batch_size // runtime.world_size
    history: list[dict] = []
    latest_proxy: dict[str, float] = {}  # the last measured proxy, for train.eval_report=latest
    for epoch in range(start_epoch, cfg.train.epochs):
        lr = lr_at(epoch, cfg.train.epochs, cfg.optim)
        for group in optimizer.param_groups:
            group["lr"] = lr
        seed = epoch_seed(cfg.train.seed, runtime.rank, epoch)
        generator.manual_seed(seed)  # masks and augmentations
        torch.manual_seed(seed + 1)  # dropout and anything else on the global stream
        data.pretrain.set_epoch(epoch)
        loader = runtime.loader(data.pretrain, per_worker, shuffle=True, epoch=epoch, seed=cfg.train.seed)
        wrapped.train()
        sums: dict[str, torch.Tensor] = {}  # on the device: no host sync per step
        steps, seen, started = 0, 0, time.perf_counter()
        for x, _ in loader:
            x = x.to(device, non_blocking=True)
            out = wrapped(x, generator)
            optimizer.zero_grad(set_to_none=True)
            out["loss"].backward()
            optimizer.step()
            for key, value in out.items():
                value = value.detach()
                sums[key] = sums[key] + value if key in sums else value
            steps += 1
            seen += x.shape[0]
            if cfg.train.max_steps_per_epoch and steps >= cfg.train.max_steps_per_epoch:
                break
        if steps == 0:
            raise ConfigError(cfg.name, "train.batch_size", f"no full batch of {per_worker} in {len(data.pretrain)} "
                              f"training samples; lower train.batch_size (--set train.batch_size=N)")
        elapsed = time.perf_counter() - started
        metrics = {key: float(value) / steps for key, value in sums.items()}
        metrics.update(epoch=epoch + 1, lr=lr, samples_per_s=seen * runtime.world_size / elapsed, epoch_time_s=elapsed)
        last = epoch + 1 == cfg.train.epochs
        if proxy is not None and proxy_due(cfg.train, epoch + 1, known=bool(latest_proxy)):
            latest_proxy = {**proxy(model, data, cfg, device), "proxy_epoch": epoch + 1}
            metrics.update(latest_proxy)
        elif cfg.train.eval_report == "latest":
            metrics.update(latest_proxy)
        # the pretraining's wall time so far, over every attempt (a resumed run's time is all of it)
        metrics["wall_s"] = earlier_s + time.perf_counter() - attempt_started
        state = None
        if last or (epoch + 1) % cfg.train.checkpoint_every == 0:
            state = {
                "epoch": epoch + 1,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "config": config_to_dict(cfg),
                "metrics": metrics,
            }
        if tracker is not None:  # before the report, which may end this process (a fault, ASHA)
            tracker.log_metrics(metrics, epoch + 1)
        runtime.report(metrics, state)
        history.append(metrics)
    return PretrainResult(model=model, history=history, resumed_from=start_epoch, resumed_metrics=resumed_metrics)
