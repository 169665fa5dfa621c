"""Run a search: a Ray Tune `Tuner` with OptunaSearch (seeded), a concurrency limit, ASHA; resumable.

The run folder `<out_dir>/tune/<name>/` holds `space.json` (the validated space and base config),
`budget.json` (the trial budget, raised by `--trials` on `--resume`: asma.search.budget), `experiment/`
(Tune's experiment: trials, checkpoints, the searcher's state), `study.journal` + `study.json` (the Optuna
study, asma.search.optuna_study; with `--storage URL` the study is in that RDB instead) and `summary/`
(asma.search.summary). The experiment's parts (sampler, searcher, scheduler, trial function) are
built in asma.search.factories.

Resume: `Tuner.restore(experiment, resume_errored=True)` (through asma.experiments.tune_restore, which keeps a killed
driver's resume free of tracebacks) brings back the Optuna study, every
finished trial (never re-run) and each unfinished trial's last epoch checkpoint, after
asma.search.search_resume has checked that the space and base config are the ones the search started with.
Without `experiment/` (a fresh machine that kept only the folder's small files, e.g. in records/),
`--resume` continues from the Optuna study instead (asma.search.continuation).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from asma.cluster.job_dir import check_outside_ray_folders
from asma.data.atomic import write_json_atomic
from asma.errors import AsmaError
from asma.experiments.trial_progress import TrialProgress
from asma.experiments.tune_fit import fit_experiment, restored_concurrency
from asma.experiments.tune_run import ProgressCallback, run_config, start_ray  # noqa: F401 (see below)
from asma.search.budget import BUDGET_FILE, TrialBudget, trials_to_run  # noqa: F401 (TrialBudget: see below)
from asma.search.continuation import read_earlier, seed_rungs
from asma.search.factories import make_scheduler, make_search_alg, trainable, trial_dirname
from asma.search.optuna_searcher import FinalMetricOptunaSearch  # noqa: F401 (see below)
from asma.search.optuna_study import (
    StudyLocation,
    create_study,
    quiet_optuna,
    resumed_location,
    study_location,
    write_record,
)
from asma.search.search_resume import check_resume, continue_from_study
from asma.search.space import SearchSpace
from asma.training.data import open_dataset
from asma.training.precision import bfloat16_warning
from asma.training.runtime import pick_device

# Tune pickles the searcher, its budget and the progress callback into the experiment. Experiments
# saved before asma.search.optuna_searcher, asma.search.budget and asma.experiments.tune_run took them
# out of this module name FinalMetricOptunaSearch, TrialBudget and ProgressCallback here: imported
# above, they unpickle on --resume.

EXPERIMENT = "experiment"


def search_dir(space: SearchSpace) -> Path:
    return (Path(space.base.out_dir) / "tune" / space.name).expanduser().resolve()


@dataclass
class SearchOutcome:
    run_dir: Path
    results: object  # ray.tune.ResultGrid
    resumed: bool
    study: StudyLocation | None  # None: a search started before studies were stored (in Tune's state only)


DEFAULT_CONCURRENCY = 2  # trials at a time of a new search


def run_search(space: SearchSpace, resume: bool = False, concurrency: int | None = None, address: str | None = None,
               console: Console | None = None, num_cpus: int | None = None,
               storage: str | None = None) -> SearchOutcome:
    """Run (or resume) the search; returns Tune's result grid, the run folder and where its study is.

    `storage`: an RDB URL for the Optuna study; default a journal file in the run folder.
    `concurrency`: trials at a time; None: 2 for a new search, a resumed one keeps its own.
    """
    from ray import tune

    console = console or Console()
    check_outside_ray_folders(space.base.out_dir, "out_dir")
    quiet_optuna()  # also for a resumed or continued search, whose study is opened, not created
    run_dir = search_dir(space)
    experiment = run_dir / EXPERIMENT
    restoring = resume and tune.Tuner.can_restore(str(experiment))
    continuing = resume and not restoring and (run_dir / "space.json").exists()
    earlier: list[dict] = read_earlier(run_dir) if restoring else []
    numbered = 0  # trials the study held when this experiment started (a continued search)
    if restoring:
        check_resume(space, run_dir)
        study = resumed_location(space.name, run_dir, storage)
    elif continuing:  # the study and summary were kept, Tune's experiment was not (a fresh machine)
        check_resume(space, run_dir)
        study, optuna_storage, earlier, lost, numbered = continue_from_study(space, run_dir, experiment, storage)
        console.print(f"no Tune experiment in {experiment}: continuing from the Optuna study, {len(earlier)} "
                      f"finished trials kept, {len(lost)} interrupted ones queued to run again from the start",
                      highlight=False)
    elif (run_dir / "space.json").exists() and experiment.exists():
        raise AsmaError(f"{run_dir} already holds a search; pass --resume to continue it, or start a new one "
                        "with another `name:` in the space file or --set out_dir=... (or remove the folder)")
    else:
        study = study_location(space.name, run_dir, storage)
        optuna_storage = create_study(study, space.metrics, space.modes, space.source)
        write_record(run_dir, study)
    write_json_atomic(run_dir / "space.json", space.to_dict())
    write_json_atomic(run_dir / BUDGET_FILE, {"trials": space.trials, "earlier": len(earlier)})
    to_run = trials_to_run(run_dir / BUDGET_FILE)
    if not restoring and to_run == 0:  # the budget was spent before: nothing to start
        console.print(f"{space.name}: all {space.trials} trials of the budget have run; raise it with --trials",
                      highlight=False)
        return SearchOutcome(run_dir, [], False, study)
    open_dataset(space.base.data)  # generate the synthetic set once here, not in every trial at once
    if address is None:  # the trials run on this machine: a CPU that emulates bfloat16 is said before they start

        message = bfloat16_warning(space.base.train.precision, pick_device(space.base.train.device))
        if message:
            console.print(f"[yellow]warning[/] {message}", highlight=False)
    start_ray(address, num_cpus, space.spec.resources, f"{space.source}: resources (one trial or worker)")
    if any(m.startswith("eval/") for m in space.metrics):
        # the metric comes with the last epoch only (FinalMetricOptunaSearch); Tune's controller would
        # refuse the first epoch's report for lacking it (Ray's documented switch for that check)
        os.environ["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"
    if restoring:  # the concurrency asked for, else the one the search was started with
        concurrency = restored_concurrency(experiment, concurrency, console)
    else:
        concurrency = concurrency or DEFAULT_CONCURRENCY
    _describe(space, concurrency, console, restoring, study)
    train_fn = trainable(space)

    def new_tuner():
        search_alg = make_search_alg(space, study, optuna_storage, concurrency, str(run_dir / BUDGET_FILE),
                                     earlier_trials=numbered)
        scheduler = make_scheduler(space)
        seed_rungs(scheduler, earlier)
        return tune.Tuner(
            train_fn,
            tune_config=tune.TuneConfig(search_alg=search_alg, scheduler=scheduler, num_samples=to_run,
                                        trial_dirname_creator=trial_dirname, reuse_actors=True),
            run_config=run_config(EXPERIMENT, str(run_dir), max(0, space.base.ray.max_failures), num_to_keep=1),
        )

    progress = SearchProgress(console, space.trials, space.epochs)
    results = fit_experiment(experiment, train_fn, new_tuner, progress, restoring).results
    return SearchOutcome(run_dir, results, restoring, study)


def _describe(space: SearchSpace, concurrency: int, console: Console, restoring: bool,
              study: StudyLocation | None) -> None:
    b = space.spec.budget
    goal = ", ".join(f"{m} ({mode})" for m, mode in zip(space.metrics, space.modes))
    if space.multi_objective:
        stop = ("FIFO scheduling, no early stopping: Tune's schedulers take one metric, so ASHA is off "
                "for this multi-objective search")
    elif not space.early_stopping:
        stop = "FIFO scheduling, no early stopping (scheduler: fifo)"
    else:
        stop = (f"ASHA on {space.schedule_metric} (grace {b.grace_period} epochs, reduction factor "
                f"{b.reduction_factor:g})")
    verb = "resuming" if restoring else "searching"
    console.print(f"{verb} [bold]{space.name}[/]: {space.trials} trials x {space.epochs} epochs, {concurrency} at a time, "
                  f"{space.spec.sampler} sampler (seed {space.spec.seed}) on {goal}; {stop}; folder {search_dir(space)}",
                  highlight=False)
    if study is not None:
        console.print(f"Optuna study {study.study_name!r}: {study.shown}", highlight=False)


class SearchProgress(TrialProgress):
    """A rich progress bar over the search's epochs; a line per finished trial."""

    def __init__(self, console: Console, trials: int, epochs: int):
        super().__init__(console, trials * epochs, "epochs (at most)")
        self.epochs = epochs

    def trial_result(self, trial, result: dict) -> None:
        epoch = int(result.get("training_iteration", 0))
        self.advance_to(trial.trial_id, epoch, f"{trial.trial_id} epoch {epoch}{score(result)}")

    def trial_complete(self, trial) -> None:
        trial_id, result = trial.trial_id, trial.last_result
        epoch = self.seen.get(trial_id, 0)
        if epoch < self.epochs:  # stopped early: its remaining epochs will never run
            self.progress.update(self.task, advance=self.epochs - epoch)
        how = "done" if epoch >= self.epochs else f"stopped by ASHA after {epoch} epochs"
        self.progress.console.print(f"[green]{how}[/] {trial_id}{score(result or {})}", highlight=False)

    def trial_error(self, trial) -> None:
        self.error(trial.trial_id, trial.local_path)


def score(result: dict) -> str:
    """The per-epoch score a progress line shows: the kNN proxy, or a distilled student's top-1."""
    if "knn_top1" in result:
        return f" kNN {result['knn_top1']:.1f}%"
    if "student_top1" in result:
        return f" student {result['student_top1']:.1f}%"
    return ""
