"""One search trial: the base config with the trial's params, pretrained by the one training loop.

A one-worker trial runs `asma.training.loop.pretrain` in the trial itself (TuneTrialRuntime: one
report and checkpoint per epoch, so ASHA can stop it and --resume continues it). A trial asking
for several workers launches a TorchTrainer inside the trial (Ray Train V2's pattern), with its own
storage under the trial folder, and forwards each epoch's metrics to Tune.

Every report also carries `encoder_params` (the parameter count of the encoders built from the
trial's config: the cost objective of multi-objective searches). With `evaluate:` protocols the
last epoch's report also carries `eval/<protocol>` (top-1 %), computed from its checkpoint.

A `task: distill` search's trial distils the fixed teacher into its student instead
(asma.search.distill_trial).

Tracking: Tune's logger writes each trial's TensorBoard events into its folder; with mlflow or wandb
the trial (or its TorchTrainer's rank 0) opens a run named `<search>/trial_<id>` (asma/tracking/trackers.py).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from asma.config.loading import apply_overrides, config_from_dict, mlflow_uri
from asma.config.schema import Config
from asma.evaluation.protocols import find_checkpoint
from asma.evaluation.proxy import proxy_knn
from asma.experiments.evaluate import evaluate_run
from asma.models.pretrainer import MaskedPretrainer
from asma.models.student import count_parameters
from asma.search.distill_trial import distill_trial
from asma.tracking.trackers import TrackedRun, Tracker, open_tracker
from asma.training.data import build_run_data, open_dataset
from asma.training.loop import pretrain
from asma.training.ray_trainer import pretrain_on_ray
from asma.training.runtime import load_checkpoint_file, pick_device
from asma.training.tune_runtime import TuneTrialRuntime, start_trial

try:  # subclassed below; keep the module importable where Ray Train is absent
    from ray.tune.integration.ray_train import TuneReportCallback
except ImportError:  # pragma: no cover - ray is a dependency
    TuneReportCallback = object


def encoder_parameters(cfg: Config, layout, in_channels: int) -> int:
    """Parameters of the encoders (not projectors) a config builds: what is kept after pretraining."""
    model = MaskedPretrainer(cfg, layout, in_channels)
    return sum(count_parameters(enc) for enc in model.encoders().values())


def trial_config(params: dict[str, Any], run: dict) -> Config:
    """The trial's config: base + params; torch threads at most the trial's CPUs."""
    cfg = config_from_dict(run["base"], source=f"search {run['name']}")
    cfg = apply_overrides(cfg, dict(params)) if params else cfg
    cpus = max(1, int(run["cpus"]))
    if cfg.train.threads == 0 or cfg.train.threads > cpus:
        cfg.train.threads = cpus  # more threads than CPUs only oversubscribe the trial's share
    return cfg


class EvaluatingRuntime(TuneTrialRuntime):
    """TuneTrialRuntime that adds `eval/<protocol>` to the last epoch's report."""

    def __init__(self, cfg: Config, data, protocols: list[str], extra_metrics: dict, eval_dir: Path,
                 tracker: Tracker | None = None):
        super().__init__(cfg.train.device, cfg.data.loader_workers, extra_metrics)
        self.cfg, self.data, self.protocols, self.eval_dir = cfg, data, protocols, eval_dir
        self.tracker = tracker or Tracker()

    def report(self, metrics: dict[str, Any], checkpoint: dict | None = None) -> None:
        if self.protocols and checkpoint is not None and metrics["epoch"] == self.cfg.train.epochs:
            metrics = {**metrics, **self.evaluate(checkpoint["model"], metrics)}
        super().report(metrics, checkpoint)

    def evaluate(self, state: dict, metrics: dict) -> dict[str, float]:
        model = MaskedPretrainer(self.cfg, self.data.dataset.layout, self.data.in_channels)
        model.load_state_dict(state)
        model.to(self.device)
        scores = evaluate_run(self.cfg, self.data, model, self.protocols, metrics, self.device,
                              self.eval_dir / "eval.json")
        scores = {f"eval/{k}": v for k, v in scores.items()}
        self.tracker.log_metrics(scores, metrics["epoch"])
        return scores


class ForwardToTune(TuneReportCallback):
    """On the Train controller: forward rank 0's metrics (plus the trial's constants) to the Tune trial."""

    def __init__(self, extra_metrics: dict):
        super().__init__()
        self.extra_metrics = extra_metrics

    def after_report(self, run_context, metrics: list[dict], checkpoint) -> None:
        first = {k: v for k, v in metrics[0].items() if not isinstance(v, (list, dict))}
        super().after_report(run_context, [{**first, **self.extra_metrics}, *metrics[1:]], checkpoint)


def search_trial(config: dict, run: dict) -> None:
    """Tune function trainable; `config` holds the params Optuna chose ({dotted key: value})."""
    from ray import tune

    start_trial()
    cfg = trial_config(config, run)
    trial_dir = Path(tune.get_context().get_trial_dir())
    tracked = TrackedRun(f"{run['name']}/{trial_dir.name}", str(trial_dir))
    if run.get("task") == "distill":

        with open_tracker(cfg, tracked) as tracker:
            distill_trial(cfg, trial_dir, tracker)
        return
    if run["workers"] > 1:
        _launch_trainer(cfg, run, trial_dir, tracked)
        return
    data = build_run_data(cfg)
    extra = {"encoder_params": encoder_parameters(cfg, data.dataset.layout, data.in_channels)}
    with open_tracker(cfg, tracked) as tracker:
        tracker.log_metrics(extra, 0)
        runtime = EvaluatingRuntime(cfg, data, run["evaluate"], extra, trial_dir, tracker)
        pretrain(cfg, data, runtime, tracker, proxy=proxy_knn)


def _launch_trainer(cfg: Config, run: dict, trial_dir: Path, tracked: TrackedRun) -> None:
    """Several workers: a TorchTrainer whose run folder and storage live in the trial folder.

    The names are fixed, so a restored trial finds the TorchTrainer's checkpoints and continues.
    """
    from ray import tune
    from rich.console import Console

    if cfg.tracking.backend == "mlflow":  # the search's store, not one in the trial folder
        cfg.tracking.uri = mlflow_uri(cfg.tracking.uri, cfg.out_dir)
    cfg.name = "train"
    cfg.out_dir = str(trial_dir)
    cfg.ray.workers = run["workers"]
    cfg.ray.cpus_per_worker = run["cpus"]
    cfg.ray.gpus_per_worker = run["gpus"]
    cfg.ray.storage_path = str(trial_dir / "ray_train")
    dataset = open_dataset(cfg.data)
    extra = {"encoder_params": encoder_parameters(cfg, dataset.layout, int(dataset.meta["channels"]))}
    quiet = Console(file=open(trial_dir / "train.log", "a"), highlight=False)
    result = pretrain_on_ray(cfg, callbacks=[ForwardToTune(extra)], console=quiet, tracked=tracked, proxy=proxy_knn)
    if run["evaluate"] and result.history:

        data = build_run_data(cfg, dataset)
        model = MaskedPretrainer(cfg, dataset.layout, data.in_channels)
        model.load_state_dict(load_checkpoint_file(find_checkpoint(result.run_dir))["model"])
        device = pick_device(cfg.train.device)
        scores = evaluate_run(cfg, data, model.to(device), run["evaluate"], result.final, device,
                              trial_dir / "eval.json")
        scores = {f"eval/{k}": v for k, v in scores.items()}
        with open_tracker(cfg, tracked, params={}) as tracker:
            tracker.log_metrics(scores, cfg.train.epochs)
        tune.report({**result.final, **extra, **scores})
