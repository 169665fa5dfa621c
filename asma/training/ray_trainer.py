"""Pretraining on Ray Train (Train V2): N workers run the same loop as `asma pretrain`, in DDP.

`pretrain_on_ray(cfg)` starts (or joins) Ray, checks that the workers can be placed, and runs a
`TorchTrainer` named `cfg.name` under `cfg.ray.storage_path` (a local folder, or any pyarrow URI
such as s3://bucket/runs on a cluster). Train V2 resumes a run whose name and storage path already
hold checkpoints, so re-running the same command continues from the last checkpoint, and
`FailureConfig(max_failures)` restarts a crashed worker group from it.

Besides Ray's own folder (storage_path/name: checkpoints epoch_NNNN/), the driver keeps the same
run folder as a local run (out_dir/name): config.yaml, metrics.jsonl (one line per report, written
by the Train controller, which Ray places on the driver's node; with a ray:// client that is the
head node) and checkpoints/ with the final checkpoint, so evaluation reads a Ray run exactly like a
local one. `fault=KillOnce(...)` kills a worker once, to see (and test) the recovery.

Tracking (asma/tracking/trackers.py): the rank-0 worker opens the run's tracker and logs every epoch; Train
V2 does not run Tune's logger callbacks for a TorchTrainer, so nothing else would. TensorBoard
events go to the run folder as named on the driver (out_dir/name/tensorboard/ on rank 0's node).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from asma.cluster.ray_session import UnschedulableError, check_schedulable, init_ray
from asma.config.loading import config_from_dict, config_to_dict, with_absolute_paths
from asma.config.schema import Config
from asma.data.atomic import write_json_atomic
from asma.errors import ConfigError
from asma.tracking.trackers import Tracker, TrackedRun, check_tracking, open_tracker
from asma.training.data import build_run_data, open_dataset
from asma.training.local import run_dir_for, save_config
from asma.training.loop import EpochCheck, pretrain
from asma.training.ray_runtime import CHECKPOINT_FILE, HISTORY_FILE, KillOnce, RayTrainRuntime
from asma.training.resume import check_resume
from asma.training.runtime import load_checkpoint_file, save_checkpoint_file

try:  # the controller callback must subclass Ray's; keep this module importable without Ray
    from ray.train import UserCallback
except ImportError:  # pragma: no cover - ray is a dependency
    UserCallback = object


@dataclass
class RayPretrainResult:
    """history: rank 0's metrics of every epoch of the run (across restarts), from its checkpoint."""

    run_dir: Path
    checkpoint_uri: str
    history: list[dict] = field(default_factory=list)

    @property
    def final(self) -> dict:
        return self.history[-1] if self.history else {}


def train_loop_per_worker(loop_config: dict[str, Any]) -> None:
    """Runs on every Ray Train worker: the data, then the training loop, unchanged."""
    cfg = config_from_dict(loop_config["config"])
    runtime = RayTrainRuntime(cfg.data.loader_workers, loop_config.get("fault"))
    tracked = loop_config.get("tracked")
    with open_tracker(cfg, tracked) if tracked and runtime.rank == 0 else Tracker() as tracker:
        pretrain(cfg, build_run_data(cfg), runtime, tracker, proxy=loop_config["proxy"])


class EpochLog(UserCallback):
    """On the Train controller: append rank 0's metrics of every report to metrics.jsonl, print a line."""

    def __init__(self, path: str, epochs: int):
        self.path = path
        self.epochs = epochs

    def after_report(self, run_context, metrics: list[dict[str, Any]], checkpoint) -> None:
        m = metrics[0]
        with open(self.path, "a") as f:
            f.write(json.dumps(m) + "\n")
        knn = f"  kNN top-1 {m['knn_top1']:.1f}%" if "knn_top1" in m else ""
        saved = "  checkpoint" if checkpoint is not None else ""
        Console(highlight=False, soft_wrap=True).print(
            f"[bold]epoch {m['epoch']:>3}/{self.epochs}[/]  loss {m['loss']:.2f}  lr {m['lr']:.2e}  "
            f"{m['samples_per_s']:.0f} seq/s on {m['workers']} workers{knn}{saved}")


def worker_config(cfg: Config) -> Config:
    """The config the workers get: absolute paths, and torch threads at most the worker's CPUs."""
    cfg = with_absolute_paths(cfg)
    r = cfg.ray
    if cfg.train.batch_size % r.workers:
        raise ConfigError("config", "train.batch_size",
                          f"{cfg.train.batch_size} (the global batch) is not divisible by ray.workers={r.workers}; "
                          "choose a multiple of the worker count")
    if cfg.train.device == "cuda" and r.gpus_per_worker == 0:
        raise ConfigError("config", "train.device", "is 'cuda' but ray.gpus_per_worker is 0; set --gpus-per-worker 1")
    if cfg.train.device == "cpu" and r.gpus_per_worker > 0:
        raise ConfigError("config", "ray.gpus_per_worker", f"is {r.gpus_per_worker} but train.device is 'cpu'")
    cpus = max(1, int(r.cpus_per_worker))
    if cfg.train.threads == 0 or cfg.train.threads > cpus:
        # Ray places each worker on cpus_per_worker CPUs; more torch threads only oversubscribe them.
        cfg.train.threads = cpus
    return cfg


def check_cluster_fits(cfg: Config) -> None:
    """Each worker must fit on some node; on a private local Ray, all of them must fit at once."""
    import ray

    r = cfg.ray
    per_worker = {"CPU": r.cpus_per_worker, "GPU": r.gpus_per_worker}
    check_schedulable(per_worker, f"each of the {r.workers} Ray Train workers")
    if r.address:
        return  # a cluster may add nodes (autoscaler); Ray waits for them
    total = ray.cluster_resources()
    for key, each in per_worker.items():
        if each > 0 and total.get(key, 0) < each * r.workers:
            raise UnschedulableError(
                f"{r.workers} workers x {each:g} {key} = {each * r.workers:g} {key}, but this machine's "
                f"Ray has {total.get(key, 0):g}; lower ray.workers or ray.cpus_per_worker, or join a "
                "cluster with --address")


def _keep_final_checkpoint(result, run_dir: Path) -> list[dict]:
    """Copy the final checkpoint into run_dir/checkpoints/ (the local layout); return its history."""
    if result.checkpoint is None:
        return []
    with result.checkpoint.as_directory() as d:
        state = load_checkpoint_file(Path(d) / CHECKPOINT_FILE)
        history_file = Path(d) / HISTORY_FILE
        history = json.loads(history_file.read_text()) if history_file.exists() else []
    ckpt_dir = run_dir / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    name = f"epoch_{int(state['epoch']):04d}.pt"
    save_checkpoint_file(state, ckpt_dir / name)
    write_json_atomic(ckpt_dir / "latest.json", {"path": name, "epoch": int(state["epoch"]),
                                                 "ray_checkpoint": result.checkpoint.path})
    return history


def pretrain_on_ray(cfg: Config, fault: KillOnce | None = None, callbacks: list | None = None,
                    console: Console | None = None, tracked: TrackedRun | None = None, *,
                    proxy: EpochCheck | None) -> RayPretrainResult:
    """Pretrain with `cfg.ray.workers` Ray Train workers; resumes the run `cfg.name` if it exists.

    `tracked`: the run rank 0 tracks (default: `cfg.name` in its run folder). `proxy`: the loop's
    per-epoch check (asma.evaluation.proxy.proxy_knn), a module-level function the workers unpickle."""
    from ray.train import CheckpointConfig, FailureConfig, LoggingConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    console = console or Console()
    cfg = worker_config(cfg)
    check_tracking(cfg.tracking)
    run_dir = run_dir_for(cfg)
    trained = check_resume(cfg, run_dir)  # before Ray starts: a refused resume is said at once
    r = cfg.ray
    init_ray(r.address)
    check_cluster_fits(cfg)
    if not r.address:
        open_dataset(cfg.data)  # generate the synthetic set once here, not in every worker at once
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run_dir)
    console.print(f"pretraining [bold]{cfg.name}[/] on {r.workers} Ray Train workers "
                  f"({r.cpus_per_worker:g} CPU, {r.gpus_per_worker:g} GPU each), global batch "
                  f"{cfg.train.batch_size} = {r.workers} x {cfg.train.batch_size // r.workers}; "
                  f"checkpoints in {r.storage_path}/{cfg.name}; run folder {run_dir}"
                  f"{f' (trained {trained} epochs)' if trained else ''}", highlight=False, soft_wrap=True)
    resources = {"CPU": r.cpus_per_worker, **({"GPU": r.gpus_per_worker} if r.gpus_per_worker else {})}
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"config": config_to_dict(cfg), "fault": fault, "proxy": proxy,
                           "tracked": tracked or TrackedRun(cfg.name, str(run_dir))},
        scaling_config=ScalingConfig(num_workers=r.workers, use_gpu=r.gpus_per_worker > 0,
                                     resources_per_worker=resources),
        run_config=RunConfig(
            name=cfg.name,  # no timestamp: the same name and storage path resume the run
            storage_path=r.storage_path,
            checkpoint_config=CheckpointConfig(num_to_keep=r.num_to_keep),
            failure_config=FailureConfig(max_failures=r.max_failures),
            callbacks=[EpochLog(str(run_dir / "metrics.jsonl"), cfg.train.epochs), *(callbacks or [])],
            logging_config=LoggingConfig(log_level="WARNING"),  # EpochLog prints one line an epoch
        ),
    )
    result = trainer.fit()
    history = _keep_final_checkpoint(result, run_dir)
    out = RayPretrainResult(run_dir=run_dir, history=history,
                            checkpoint_uri=result.checkpoint.path if result.checkpoint else "")
    final = out.final
    if "knn_top1" in final:
        console.print(f"final kNN top-1 {final['knn_top1']:.2f}%  top-5 {final['knn_top5']:.2f}%  "
                      f"(checkpoint {out.checkpoint_uri})", highlight=False, soft_wrap=True)
    return out
