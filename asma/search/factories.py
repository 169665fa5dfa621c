"""What a search's Tune experiment is built from: the seeded Optuna sampler and searcher, the
scheduler (ASHA or FIFO), the trial function with its resources, the trial folders' names."""
from __future__ import annotations

import warnings

from asma.config.loading import config_to_dict
from asma.search.budget import TrialBudget
from asma.search.optuna_searcher import FinalMetricOptunaSearch
from asma.search.optuna_study import StudyLocation
from asma.search.repeats import RepeatGuard, finite_points
from asma.search.samplers import PicklableNSGAIISampler
from asma.search.search_trial import search_trial
from asma.search.space import DefineByRun, SearchSpace


def make_sampler(space: SearchSpace, earlier_trials: int = 0):
    """The space's sampler, seeded. A search continued from its study (`earlier_trials` in it) seeds it
    with seed + that count: the same seed would draw the first search's random start-up points again,
    and each repeat of a point trains the same run (TPE's first 10 proposals are random)."""
    import optuna

    seed = space.spec.seed + earlier_trials
    if space.spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if space.spec.sampler == "grid":
        return optuna.samplers.GridSampler(space.grid(), seed=seed)
    if space.spec.sampler == "nsga2":

        return PicklableNSGAIISampler(seed=seed)
    with warnings.catch_warnings():  # multivariate/group are "experimental" in Optuna, stable in use since 2.x
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, multivariate=True,
                                          group=any(p.when for p in space.params.values()))


def make_scheduler(space: SearchSpace):
    """ASHA on the per-epoch metric; FIFO for multi-objective searches (Tune's schedulers take one metric)."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if not space.early_stopping:
        return FIFOScheduler()
    b = space.spec.budget
    return ASHAScheduler(metric=space.schedule_metric, mode=space.schedule_mode, time_attr="training_iteration",
                         max_t=space.epochs, grace_period=b.grace_period, reduction_factor=b.reduction_factor)


def trial_dirname(trial) -> str:
    return f"trial_{trial.trial_id}"


def run_spec(space: SearchSpace) -> dict:
    """What every trial needs, as plain data (shipped to the trial processes)."""
    r = space.spec.resources
    return {"name": space.name, "task": space.spec.task, "base": config_to_dict(space.base),
            "evaluate": list(space.spec.evaluate), "workers": r.workers, "cpus": r.cpus, "gpus": r.gpus}


def trainable(space: SearchSpace):
    from ray import tune

    r = space.spec.resources
    fn = tune.with_parameters(search_trial, run=run_spec(space))
    if r.workers > 1:
        # The TorchTrainer's workers hold the CPUs; the trial itself only coordinates, so it asks for
        # no CPU (a bundle must not be empty: a little memory stands in).
        return tune.with_resources(fn, {"cpu": 0, "memory": 64 * 1024**2})
    return tune.with_resources(fn, {"cpu": r.cpus, "gpu": r.gpus})


def make_search_alg(space: SearchSpace, study: StudyLocation, optuna_storage, concurrency: int, budget_file: str,
                    earlier_trials: int = 0) -> TrialBudget:
    """The searcher of a new experiment: OptunaSearch on the space's study, at most `concurrency`
    trials at a time, within the budget in `budget_file`."""
    from ray.tune.search import ConcurrencyLimiter

    searcher = FinalMetricOptunaSearch(
        space=DefineByRun(space.params), metric=space.metrics if space.multi_objective else space.metrics[0],
        mode=space.modes if space.multi_objective else space.modes[0], sampler=make_sampler(space, earlier_trials),
        study_name=study.study_name, storage=optuna_storage)
    points = finite_points(space.params, space.source) if space.spec.repeats == "skip" else None
    searcher.skip_repeats(RepeatGuard(points, space.spec.seed) if points else None)
    searcher.record_proxy(space.schedule_metric)
    return TrialBudget(ConcurrencyLimiter(searcher, max_concurrent=concurrency), budget_file)
