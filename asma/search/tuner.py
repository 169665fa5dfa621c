"""Run a search: a Ray Tune `Tuner` with OptunaSearch (seeded), a concurrency limit, ASHA; resumable.

The run folder `<out_dir>/tune/<name>/` holds `space.json` (the validated space and base config),
`budget.json` (the trial budget, raised by `--trials` on `--resume`), `experiment/` (Tune's
experiment: trials, checkpoints, the searcher's state), `study.journal` + `study.json` (the Optuna
study, asma.search.study; with `--storage URL` the study is in that RDB instead) and `summary/`
(asma.search.summary).

Resume: `Tuner.restore(experiment, resume_errored=True)` (through asma.experiments.tune_restore, which keeps a killed
driver's resume free of tracebacks) brings back the Optuna study, every
finished trial (never re-run) and each unfinished trial's last epoch checkpoint. The trial budget
lives in `budget.json` and is read again on restore (`TrialBudget`), so a resumed search may also
run more trials than the first call asked for. Without `experiment/` (a fresh machine that kept only
the folder's small files, e.g. in records/), `--resume` continues from the Optuna study instead
(asma.search.continuation).
"""
from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from asma.cluster.job_dir import check_outside_ray_folders
from asma.cluster.ray_session import check_schedulable, init_ray, tune_loggers
from asma.config.loading import config_to_dict
from asma.data.atomic import write_json_atomic
from asma.data.fingerprint import same_data
from asma.errors import AsmaError
from asma.experiments.trial_progress import TrialProgress, active
from asma.experiments.tune_restore import restore_tuner, saved_concurrency, set_saved_concurrency
from asma.search.continuation import drop_torn_write, earlier_rows, read_earlier, requeue_lost, seed_rungs, write_earlier
from asma.search.repeats import RepeatGuard, finite_points, point_key
from asma.search.samplers import PicklableNSGAIISampler
from asma.search.space import DefineByRun, SearchSpace, SpaceFile
from asma.search.study import (
    StudyLocation,
    create_study,
    fail_orphans,
    quiet_optuna,
    resumed_location,
    study_location,
    write_record,
)
from asma.search.trial import search_trial
from asma.training.data import open_dataset
from asma.training.precision import bfloat16_warning
from asma.training.runtime import pick_device

try:  # the classes below subclass Ray's; keep the module importable without Ray
    from ray.tune import Callback
    from ray.tune.search import SearchGenerator
    from ray.tune.search.optuna import OptunaSearch
except ImportError:  # pragma: no cover - ray is a dependency
    Callback = SearchGenerator = OptunaSearch = object

EXPERIMENT = "experiment"


def search_dir(space: SearchSpace) -> Path:
    return (Path(space.base.out_dir) / "tune" / space.name).expanduser().resolve()


class FinalMetricOptunaSearch(OptunaSearch):
    """OptunaSearch that accepts epoch reports without the searched metric.

    A metric from `evaluate:` (eval/linear) only comes with the last epoch; ASHA stops trials on
    the per-epoch kNN proxy meanwhile. A trial stopped before its last epoch is told to Optuna as
    pruned (no value), which is what it is.

    Each trial's per-epoch values go to the study as intermediate values, its last epoch's included.
    With a persistent study it also records each Optuna trial's Tune trial id (user attribute
    `tune_trial_id`, the folder `experiment/trial_<id>`), and on restore fails the trials asked after
    Tune's last snapshot of the searcher (asma.search.study.fail_orphans).
    """

    def skip_repeats(self, guard: RepeatGuard | None) -> None:
        """Run an untried point instead of one the sampler proposes again (asma.search.repeats)."""
        self._repeat_guard = guard

    def record_proxy(self, metric: str | None) -> None:
        """Keep each trial's per-epoch `metric` (the scheduler's proxy) and the epochs it ran as user
        attributes of its Optuna trial (`proxy_curve`, `epochs`), told once when it ends: the study
        alone then says how far each trial got, which a search continued without its Tune
        experiment needs (asma.search.continuation)."""
        self._proxy_metric, self._proxy_curves = metric, {}

    def suggest(self, trial_id: str):
        config = super().suggest(trial_id)
        guard = getattr(self, "_repeat_guard", None)  # None in searches pickled before repeats were skipped
        if guard is not None and config is not None:
            config = self._instead_of_a_repeat(trial_id, config, guard)
        if self._storage is not None and trial_id in self._ot_trials:
            self._ot_trials[trial_id].set_user_attr("tune_trial_id", trial_id)
        return config

    def _instead_of_a_repeat(self, trial_id: str, config: dict, guard: RepeatGuard):
        import optuna

        from ray.tune.search import Searcher

        ot_trial = self._ot_trials[trial_id]
        live = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.RUNNING)
        tried: dict = {}
        for t in self._ot_study.get_trials(deepcopy=False, states=live):
            if t.number != ot_trial.number:
                tried.setdefault(point_key(t.params), t.number)
        if point_key(ot_trial.params) not in tried:
            return config
        ot_trial.set_user_attr("repeat_of", tried[point_key(ot_trial.params)])
        self._ot_study.tell(ot_trial, state=optuna.trial.TrialState.FAIL)
        del self._ot_trials[trial_id]
        point = guard.draw(set(tried))
        if point is None:  # every point of the space has been tried: nothing is left to search
            return Searcher.FINISHED
        self._ot_study.enqueue_trial(point)
        return super().suggest(trial_id)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        proxy = getattr(self, "_proxy_metric", None)  # None in searches pickled before it was kept
        if proxy is not None and proxy in result and "training_iteration" in result:
            measured = result.get("proxy_epoch", result["training_iteration"])  # not a carried value
            if measured == result["training_iteration"] and result[proxy] == result[proxy]:
                self._proxy_curves.setdefault(trial_id, {})[int(measured)] = float(result[proxy])
        if isinstance(self.metric, list) or self.metric in result:
            import optuna

            try:
                super().on_trial_result(trial_id, result)
            except optuna.exceptions.UpdateFinishedTrialError:
                pass  # told before an interruption and run again after the restore: the study keeps the first

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if result and trial_id not in self._completed_trials:
            # Tune hands the result a trial stops on (ASHA's, or the last epoch's) to on_trial_complete
            # only; report it too, so the study's per-epoch curve ends where the trial did. A trial
            # that ends by returning hands its last result to both: Optuna keeps it once, and warns.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*is already reported")
                self.on_trial_result(trial_id, result)
        ot_trial = self._ot_trials.get(trial_id)
        if ot_trial is not None and getattr(self, "_proxy_metric", None) is not None:
            curve = self._proxy_curves.pop(trial_id, {})
            ot_trial.set_user_attr("proxy_curve", [[e, v] for e, v in sorted(curve.items())])
            if result and "training_iteration" in result:
                ot_trial.set_user_attr("epochs", int(result["training_iteration"]))
        super().on_trial_complete(trial_id, result, error)

    def restore(self, checkpoint_path: str) -> None:
        super().restore(checkpoint_path)
        if self._storage is not None:
            fail_orphans(self._ot_study, {t.number for t in self._ot_trials.values()})


class TrialBudget(SearchGenerator):
    """Tune's search generator with its trial budget read from `budget.json` on restore."""

    def __init__(self, searcher, budget_file: str):
        super().__init__(searcher)
        self.budget_file = budget_file

    def set_state(self, state: dict) -> None:
        super().set_state(state)
        self._total_samples = trials_to_run(Path(self.budget_file))
        self._finished = False  # an interrupted search was marked finished; resume means go on


def trials_to_run(budget_file: Path) -> int:
    """This experiment's trials: the budget less the trials an earlier experiment of the search ran
    (asma.search.continuation)."""
    budget = json.loads(budget_file.read_text())
    return max(0, int(budget["trials"]) - int(budget.get("earlier", 0)))


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


def check_resume(space: SearchSpace, run_dir: Path) -> None:
    """--resume continues the same search: the space and base config must not have changed."""
    saved = json.loads((run_dir / "space.json").read_text())
    now = space.to_dict()
    for part in ("space", "base"):
        old, new = dict(saved[part]), dict(now[part])
        if part == "space":
            old["budget"] = {**old["budget"], "trials": None}
            new["budget"] = {**new["budget"], "trials": None}
            # a key the space file gained after the search started, at its default: the resumed
            # searcher goes on as it was started (Tune unpickles it with its own settings)
            for key in set(new) - set(old):
                if new[key] == SpaceFile.model_fields[key].default:
                    new.pop(key)
        else:  # where trials are tracked and written is not what they run; the data is what data.path holds
            old, new = where_left_out(old), where_left_out(new)
            if same_data(old.get("data", {}).get("path"), new.get("data", {}).get("path")):
                old["data"] = {**old["data"], "path": new["data"]["path"]}
        if old != new:
            changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            raise AsmaError(f"{run_dir / 'space.json'}: the search was started with a different {part} "
                            f"({', '.join(changed)} changed); resume with the same file and --set values, "
                            "or start a new search with --set name=... / another out_dir")


def where_left_out(base: dict) -> dict:
    """A base config without where its search is written, cached and tracked: a search folder kept in
    git (records/) resumes in another checkout, where those absolute paths differ."""
    base = {k: v for k, v in base.items() if k not in ("tracking", "out_dir")}
    for part, key in (("data", "cache_dir"), ("ray", "storage_path")):
        if isinstance(base.get(part), dict):
            base[part] = {k: v for k, v in base[part].items() if k != key}
    return base


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
    from ray.tune.search import ConcurrencyLimiter

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
        study, optuna_storage, earlier, lost, numbered = _continue_from_study(space, run_dir, experiment, storage)
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
    write_json_atomic(run_dir / "budget.json", {"trials": space.trials, "earlier": len(earlier)})
    to_run = trials_to_run(run_dir / "budget.json")
    if not restoring and to_run == 0:  # the budget was spent before: nothing to start
        console.print(f"{space.name}: all {space.trials} trials of the budget have run; raise it with --trials",
                      highlight=False)
        return SearchOutcome(run_dir, [], False, study)
    open_dataset(space.base.data)  # generate the synthetic set once here, not in every trial at once
    if address is None:  # the trials run on this machine: a CPU that emulates bfloat16 is said before they start

        message = bfloat16_warning(space.base.train.precision, pick_device(space.base.train.device))
        if message:
            console.print(f"[yellow]warning[/] {message}", highlight=False)
    init_ray(address, num_cpus=num_cpus)
    r = space.spec.resources
    check_schedulable({"CPU": r.cpus, "GPU": r.gpus}, f"{space.source}: resources (one trial or worker)")
    # a short epoch checkpoints faster than Tune snapshots the experiment; the warning is noise here
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    if any(m.startswith("eval/") for m in space.metrics):
        # the metric comes with the last epoch only (FinalMetricOptunaSearch); Tune's controller would
        # refuse the first epoch's report for lacking it (Ray's documented switch for that check)
        os.environ["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"
    if restoring and concurrency is not None:
        set_saved_concurrency(experiment, concurrency)
    elif restoring:  # the concurrency the search was started with
        concurrency = saved_concurrency(experiment)
    else:
        concurrency = concurrency or DEFAULT_CONCURRENCY
    _describe(space, concurrency, console, restoring, study)
    train_fn = trainable(space)
    with SearchProgress(console, space.trials, space.epochs):
        if restoring:
            tuner = restore_tuner(str(experiment), train_fn, resume_unfinished=True, resume_errored=True)
        else:
            searcher = FinalMetricOptunaSearch(
                space=DefineByRun(space.params), metric=space.metrics if space.multi_objective else space.metrics[0],
                mode=space.modes if space.multi_objective else space.modes[0], sampler=make_sampler(space, numbered),
                study_name=study.study_name, storage=optuna_storage)
            points = finite_points(space.params, space.source) if space.spec.repeats == "skip" else None
            searcher.skip_repeats(RepeatGuard(points, space.spec.seed) if points else None)
            searcher.record_proxy(space.schedule_metric)
            search_alg = TrialBudget(ConcurrencyLimiter(searcher, max_concurrent=concurrency),
                                     str(run_dir / "budget.json"))
            scheduler = make_scheduler(space)
            seed_rungs(scheduler, earlier)
            tuner = tune.Tuner(
                train_fn,
                tune_config=tune.TuneConfig(search_alg=search_alg, scheduler=scheduler, num_samples=to_run,
                                            trial_dirname_creator=trial_dirname, reuse_actors=True),
                run_config=tune.RunConfig(
                    name=EXPERIMENT, storage_path=str(run_dir), verbose=0, callbacks=[ProgressCallback(), *tune_loggers()],
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
                    failure_config=tune.FailureConfig(max_failures=max(0, space.base.ray.max_failures))),
            )
        results = tuner.fit()
    return SearchOutcome(run_dir, results, restoring, study)


def _continue_from_study(space: SearchSpace, run_dir: Path, experiment: Path, storage: str | None):
    """The study, its storage, the finished trials' rows and the lost trials' numbers of a search that
    goes on without its Tune experiment (asma.search.continuation)."""
    import optuna

    if experiment.exists():
        raise AsmaError(f"{experiment}: Tune cannot restore this experiment (incomplete or damaged); remove "
                        "the folder to continue the search from its Optuna study instead")
    study = resumed_location(space.name, run_dir, storage)
    if study is None:
        raise AsmaError(f"{run_dir}: neither a Tune experiment nor an Optuna study (study.json) to continue "
                        "from; start the search again without --resume into an empty folder")
    if study.url is None and (cut := drop_torn_write(study.journal)):
        warnings.warn(f"{study.journal}: cut its last {cut} bytes, a write left half done", stacklevel=2)
    optuna_storage = study.open()
    try:
        ot_study = optuna.load_study(study_name=study.study_name, storage=optuna_storage)
    except KeyError:
        raise AsmaError(f"{study.shown} holds no Optuna study {study.study_name!r}; start the search again "
                        "without --resume into an empty folder") from None
    lost = requeue_lost(ot_study)
    earlier = earlier_rows(run_dir, ot_study, space)
    write_earlier(run_dir, earlier)
    return study, optuna_storage, earlier, lost, len(ot_study.trials)


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

    def result(self, trial_id: str, result: dict) -> None:
        epoch = int(result.get("training_iteration", 0))
        self.advance_to(trial_id, epoch, f"{trial_id} epoch {epoch}{score(result)}")

    def complete(self, trial_id: str, result: dict | None) -> None:
        epoch = self.seen.get(trial_id, 0)
        if epoch < self.epochs:  # stopped early: its remaining epochs will never run
            self.progress.update(self.task, advance=self.epochs - epoch)
        how = "done" if epoch >= self.epochs else f"stopped by ASHA after {epoch} epochs"
        self.progress.console.print(f"[green]{how}[/] {trial_id}{score(result or {})}", highlight=False)


def score(result: dict) -> str:
    """The per-epoch score a progress line shows: the kNN proxy, or a distilled student's top-1."""
    if "knn_top1" in result:
        return f" kNN {result['knn_top1']:.1f}%"
    if "student_top1" in result:
        return f" student {result['student_top1']:.1f}%"
    return ""


class ProgressCallback(Callback):
    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        if bar := active():
            bar.result(trial.trial_id, result)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        if bar := active():
            bar.complete(trial.trial_id, trial.last_result)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        if bar := active():
            bar.error(trial.trial_id, trial.local_path)
