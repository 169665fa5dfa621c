"""Run tracking: every runner logs its scalars through one `Tracker`.

Backends (config `tracking.backend`, `--tracking`):

- `auto` (default): `tensorboard` when tensorboardX is installed (ray[tune] brings it), else `none`
- `tensorboard`: event files in `<run folder>/tensorboard/` (`tensorboard --logdir runs`)
- `mlflow`: one MLflow run per asma run, in `tracking.uri` (default `$MLFLOW_TRACKING_URI`, else
  `<out_dir>/mlruns`, a file store); params are the flattened config, metric names use `.` where
  the others use `/` (`loss.a.spatial`, `eval.linear.top1`); with a file store, trials that start
  together take turns creating the experiment under a lock file beside it (`.mlruns.asma-lock`)
- `wandb`: W&B runs under `<run folder>/wandb/`, offline unless `WANDB_MODE=online` (`wandb sync`
  uploads an offline run later)
- `none`

Who opens a tracker: `asma pretrain` in this process; under Ray Train the rank-0 worker (Train V2:
Tune's logger callbacks attach to a Tuner, not to a TorchTrainer); Tune trials of searches and
ablations, whose tracker is opened by the trial: their TensorBoard tags are those of `asma pretrain`
(`loss`, `knn_top1`, ...), so runs of every kind overlay (Tune's own TensorBoard logger, which
wrote `ray/tune/loss`, is off: asma.cluster.ray_session.tune_loggers); `asma eval`, which adds each protocol's top-1/top-5 to
the pretraining run's record at the checkpoint's epoch.

A tracker never fails a run: a backend error is logged once and the tracker goes quiet. A backend
asked for by name whose package is missing is an error that names the extra to install.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asma.config.loading import config_to_dict, mlflow_uri
from asma.config.schema import Config, TrackingConfig
from asma.errors import ConfigError

INSTALL = "pip install 'asma[tracking]'"
PACKAGES = {"tensorboard": "tensorboardX", "mlflow": "mlflow", "wandb": "wandb"}
MLFLOW_PARAMS_PER_CALL = 100  # MLflow's log_batch limit
log = logging.getLogger("asma.tracking")


def backend_of(cfg: TrackingConfig) -> str:
    """The backend `cfg` asks for, `auto` resolved to tensorboard or none."""
    if cfg.backend == "auto":
        return "tensorboard" if importlib.util.find_spec(PACKAGES["tensorboard"]) else "none"
    return cfg.backend


def check_tracking(cfg: TrackingConfig) -> None:
    """Fail before any run when the requested backend's package is not installed."""
    backend = backend_of(cfg)
    if backend != "none" and importlib.util.find_spec(PACKAGES[backend]) is None:
        raise ConfigError("tracking", "tracking.backend",
                          f"{backend!r} needs the {PACKAGES[backend]} package, which is not installed; {INSTALL}")


def flat_params(raw: dict, prefix: str = "") -> dict[str, str]:
    """{'train.epochs': '150', 'masking.views': '["a", "b"]', ...} from a nested config dict."""
    out: dict[str, str] = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            out.update(flat_params(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value if isinstance(value, str) else json.dumps(value)
    return out


def scalars(metrics: dict[str, Any]) -> dict[str, float]:
    """The numeric entries of a report (no flags, texts or lists)."""
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


@dataclass(frozen=True)
class TrackedRun:
    """The run a tracker logs: its name and its folder (also its identity on resume)."""

    name: str
    log_dir: str

    @property
    def key(self) -> str:
        """A stable id of the run: the same folder reopens the same MLflow / W&B run."""
        return hashlib.sha1(str(Path(self.log_dir).resolve()).encode()).hexdigest()[:16]


class Tracker:
    """The interface every runner logs through; this base class logs nothing (backend `none`)."""

    backend = "none"

    def log_params(self, params: dict[str, Any]) -> None:
        self._guarded(self._log_params, flat_params(params))

    def log_metrics(self, metrics: dict[str, Any], step: int) -> None:
        values = scalars(metrics)
        if values:
            self._guarded(self._log_metrics, values, int(step))

    def close(self) -> None:
        self._guarded(self._close)

    def __enter__(self) -> "Tracker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _guarded(self, call, *args) -> None:
        if getattr(self, "broken", False):
            return
        try:
            call(*args)
        except Exception as e:  # tracking must never end a run
            self.broken = True
            log.warning("tracking with %s stopped (%s: %s); the run goes on", self.backend, type(e).__name__, e)

    def _log_params(self, params: dict[str, str]) -> None: ...
    def _log_metrics(self, metrics: dict[str, float], step: int) -> None: ...
    def _close(self) -> None: ...


class TensorBoardTracker(Tracker):
    backend = "tensorboard"

    def __init__(self, run: TrackedRun):
        from tensorboardX import SummaryWriter

        # the pid in the name: two writers started in one second (a restarted worker) get two files
        self.writer = SummaryWriter(str(Path(run.log_dir) / "tensorboard"), filename_suffix=f".{os.getpid()}")

    def _log_params(self, params: dict[str, str]) -> None:
        self.writer.add_text("config", "\n".join(f"    {k}: {v}" for k, v in params.items()))
        self.writer.flush()

    def _log_metrics(self, metrics: dict[str, float], step: int) -> None:
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, step)
        self.writer.flush()  # a killed run keeps what it logged

    def _close(self) -> None:
        self.writer.close()


class MLflowTracker(Tracker):
    """One MLflow run per asma run, found again by its `asma.run_key` tag on resume or restart."""

    backend = "mlflow"

    def __init__(self, cfg: Config, run: TrackedRun):
        from mlflow import MlflowClient

        uri = mlflow_uri(cfg.tracking.uri, cfg.out_dir)
        if uri.startswith("file:"):  # MLflow 3 keeps its file store behind this switch
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.client = MlflowClient(tracking_uri=uri)
        experiment = self._experiment_id(cfg.tracking.experiment)
        found = self.client.search_runs([experiment], f"tags.`asma.run_key` = '{run.key}'", max_results=1)
        if found:
            self.run_id = found[0].info.run_id
            self.client.update_run(self.run_id, status="RUNNING")
        else:
            tags = {"asma.run_key": run.key, "asma.run_dir": str(Path(run.log_dir).resolve())}
            self.run_id = self.client.create_run(experiment, run_name=run.name, tags=tags).info.run_id

    def _experiment_id(self, name: str) -> str:
        uri = self.client.tracking_uri
        if not uri.startswith("file:"):
            return self._get_or_create_experiment(name)
        # MLflow's file store checks the name, then creates the experiment under a random id: two
        # trials starting together would each make an experiment of this name, and a run would be
        # lost to the second. One process at a time, under a lock beside the store.
        import fcntl
        from urllib.parse import unquote, urlparse

        store = Path(unquote(urlparse(uri).path))
        store.parent.mkdir(parents=True, exist_ok=True)
        with open(store.parent / f".{store.name}.asma-lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return self._get_or_create_experiment(name)

    def _get_or_create_experiment(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        try:
            return self.client.create_experiment(name)
        except Exception:  # another trial created it a moment ago
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise
            return found.experiment_id

    def _log_params(self, params: dict[str, str]) -> None:
        from mlflow.entities import Param

        logged = self.client.get_run(self.run_id).data.params  # a resumed run keeps its first values
        new = [Param(k, v[:500]) for k, v in params.items() if k not in logged]
        for start in range(0, len(new), MLFLOW_PARAMS_PER_CALL):
            self.client.log_batch(self.run_id, params=new[start : start + MLFLOW_PARAMS_PER_CALL])

    def _log_metrics(self, metrics: dict[str, float], step: int) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(mlflow_key(k), v, now, step) for k, v in metrics.items()])

    def _close(self) -> None:
        self.client.set_terminated(self.run_id)


def mlflow_key(key: str) -> str:
    """`loss/a/spatial` -> `loss.a.spatial`, `eval/semi_1%/top1` -> `eval.semi_1pct.top1`.

    MLflow's file store keeps a metric as a file named by its key, so `loss` and `loss/a/...` cannot
    both exist; MLflow keys take letters, digits and `_-. /` only.
    """
    key = key.replace("%", "pct").replace("/", ".")
    return "".join(c if c.isalnum() or c in "_-. " else "_" for c in key)


class WandbTracker(Tracker):
    """A W&B run (offline unless WANDB_MODE says otherwise) whose id is the run's key, so a resumed
    run continues it. Results logged at a step W&B has passed go to the run's summary."""

    backend = "wandb"

    def __init__(self, cfg: Config, run: TrackedRun):
        import wandb

        Path(run.log_dir).mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(project=cfg.tracking.experiment, name=run.name, id=run.key, dir=run.log_dir,
                              mode=os.environ.get("WANDB_MODE", "offline"), resume="allow",
                              reinit="create_new")

    def _log_params(self, params: dict[str, str]) -> None:
        self.run.config.update(params, allow_val_change=True)

    def _log_metrics(self, metrics: dict[str, float], step: int) -> None:
        if step < self.run.step:
            self.run.summary.update(metrics)
        else:
            self.run.log(metrics, step=step)

    def _close(self) -> None:
        self.run.finish()


def open_tracker(cfg: Config, run: TrackedRun, params: dict | None = None) -> Tracker:
    """The tracker of `cfg.tracking` for `run`, with `params` (default: the config) logged.

    A backend that fails to start is logged and replaced by the null tracker; a missing package
    for a backend asked for by name is a ConfigError (check_tracking).
    """
    check_tracking(cfg.tracking)
    backend = backend_of(cfg.tracking)
    if backend == "none":
        return Tracker()
    try:
        tracker = {"tensorboard": TensorBoardTracker, "mlflow": MLflowTracker, "wandb": WandbTracker}[backend]
        tracker = tracker(run) if backend == "tensorboard" else tracker(cfg, run)
    except Exception as e:
        log.warning("tracking with %s did not start (%s: %s); the run goes on untracked", backend, type(e).__name__, e)
        return Tracker()
    tracker.log_params(config_to_dict(cfg) if params is None else params)
    return tracker
