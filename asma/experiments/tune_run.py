"""How `asma ablate` and `asma tune` start a Tune experiment: Ray joined or started and checked to fit
one trial, the run config (asma's loggers, the driver's progress bar, failures and checkpoints kept),
and the callback that feeds the bar. What each runs, and how it schedules, stays in
asma.ablation.runner and asma.search.tuner.
"""
from __future__ import annotations

import os

from asma.cluster.ray_session import check_schedulable, init_ray, tune_loggers
from asma.experiments.spec import Resources
from asma.experiments.trial_progress import active

try:  # subclassed below; keep the module importable without Ray
    from ray.tune import Callback
except ImportError:  # pragma: no cover - ray is a dependency
    Callback = object


def start_ray(address: str | None, num_cpus: int | None, resources: Resources, what: str,
              log_to_driver: bool = True) -> None:
    """Join or start Ray (asma.cluster.ray_session) and fail before any trial when no node fits one
    trial's `resources` (`what` names them in the error)."""
    init_ray(address, num_cpus=num_cpus, log_to_driver=log_to_driver)
    check_schedulable({"CPU": resources.cpus, "GPU": resources.gpus}, what)
    # a short epoch checkpoints faster than Tune snapshots the experiment; the warning is noise here
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")


def run_config(name: str, storage_path: str, max_failures: int, num_to_keep: int):
    """Tune's RunConfig of an experiment in `<storage_path>/<name>`: the progress bar's callback and
    asma's loggers, each trial retried `max_failures` times, its last `num_to_keep` checkpoints kept."""
    from ray import tune

    return tune.RunConfig(
        name=name, storage_path=storage_path, verbose=0, callbacks=[ProgressCallback(), *tune_loggers()],
        failure_config=tune.FailureConfig(max_failures=max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=num_to_keep))


class ProgressCallback(Callback):
    """Hands Tune's trial events to the progress bar active in this driver (asma.experiments.trial_progress).

    Tune pickles it into the experiment, so it holds nothing. Experiments saved before it was shared
    name it asma.ablation.runner.ProgressCallback or asma.search.tuner.ProgressCallback; both modules
    import it, so those experiments restore."""

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        if bar := active():
            bar.trial_result(trial, result)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        if bar := active():
            bar.trial_complete(trial)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        if bar := active():
            bar.trial_error(trial)
