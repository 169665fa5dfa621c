"""Where a search stands, from its folder alone: its Optuna study (the trials' states and values)
and each trial's folder (the epoch it reached, whether it still runs), for `asma status`.

Optuna says a trial is RUNNING until the searcher tells its end, so a search that was interrupted
leaves RUNNING trials behind; they are `stopped` here when their folder has not been written for a
while, and `asma tune --resume` continues them from their newest checkpoint.
"""
from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from asma.errors import InputFileError
from asma.experiments.trial_files import quiet_too_long, read_trial
from asma.search.optuna_study import recorded_location
from asma.search.space import asha_rungs

STATES = {"COMPLETE": "complete", "PRUNED": "stopped early", "FAIL": "failed", "WAITING": "queued"}


@dataclass
class TrialStatus:
    number: int
    state: str  # complete | stopped early (the scheduler) | running | stopped | failed | repeat | lost | queued
    values: list[float] | None
    epoch: int  # the last epoch its folder reports
    resumes_from: int
    params: dict = field(default_factory=dict)
    repeat_of: int | None = None  # the Optuna number of the trial it repeats
    trial_id: str | None = None  # Tune's id (summary.md's, the trial folder's); None until Tune started it

    @property
    def label(self) -> str:
        """Tune's trial id, as summary.md names the trial; `#<Optuna number>` for one Tune has not started."""
        return self.trial_id or f"#{self.number}"


@dataclass
class SearchStatus:
    name: str
    run_dir: Path
    budget: int
    epochs: int | None  # a trial's full budget
    metrics: list[str]
    modes: list[str]
    trials: list[TrialStatus]
    study: str  # where the Optuna study lives (what optuna-dashboard opens)
    remaining_s: float | None = None  # expected trial time still to go (None: no epoch timed yet)
    started: int = 0  # trials of the budget started: repeats the searcher skipped are not among them

    def count(self, state: str) -> int:
        return sum(t.state == state for t in self.trials)

    @property
    def epochs_spent(self) -> int:
        return sum(t.epoch for t in self.trials)

    def best(self) -> list[TrialStatus]:
        """The best trial that ran its full budget; with several objectives, those no other dominates."""
        done = [t for t in self.trials if t.state == "complete" and t.values]
        sign = [1.0 if m == "max" else -1.0 for m in self.modes]

        def dominates(a: TrialStatus, b: TrialStatus) -> bool:
            pairs = [(s * x, s * y) for s, x, y in zip(sign, a.values, b.values)]
            return all(x >= y for x, y in pairs) and any(x > y for x, y in pairs)

        if len(self.modes) == 1:
            return [max(done, key=lambda t: sign[0] * t.values[0])] if done else []
        return [t for t in done if not any(dominates(o, t) for o in done)]


def expected_epochs_left(epoch: int, max_epochs: int, rungs: list[int], factor: float) -> float:
    """Epochs a trial at `epoch` is expected to train still, if each rung keeps 1/factor of the trials
    that reach it: the rest of its segment, then each later segment weighted by its survival."""
    bounds = [0, *rungs, max_epochs]
    if epoch >= max_epochs:
        return 0.0
    here = max(i for i in range(len(bounds) - 1) if bounds[i] <= epoch)
    return sum((bounds[i + 1] - max(bounds[i], epoch)) * factor ** -(i - here) for i in range(here, len(bounds) - 1))


def _remaining_s(space: dict, full: int | None, budget: int, trials: list[TrialStatus], times: list[float],
                 started: int) -> float | None:
    """The trial time a search is expected to take still: its unstarted trials' and its unfinished ones'
    expected epochs (ASHA's rungs; every epoch under FIFO) at the median epoch time of its trials."""
    if not times or not full:
        return None
    b = space["budget"]
    multi = isinstance(space["metric"], list) and len(space["metric"]) > 1
    asha = space.get("scheduler", "asha") == "asha" and not multi
    # the rungs below the budget (Ray's bracket also counts the budget itself, where every trial ends)
    rungs = [r for r in asha_rungs(b["grace_period"], full, b["reduction_factor"]) if r < full] if asha else []
    factor = float(b["reduction_factor"])
    left = sum(expected_epochs_left(t.epoch if t.state == "running" else t.resumes_from, full, rungs, factor)
               for t in trials if t.state in ("running", "stopped"))
    left += max(0, budget - started) * expected_epochs_left(0, full, rungs, factor)
    return left * statistics.median(times)


def _listed(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def search_status(run_dir: str | Path, now: float | None = None) -> SearchStatus:
    import optuna

    run_dir = Path(run_dir)
    try:
        saved = json.loads((run_dir / "space.json").read_text())
        space = saved["space"]
    except (OSError, json.JSONDecodeError, KeyError):
        raise InputFileError(run_dir, "not a search folder (no readable space.json)",
                             fix="pass the folder `asma tune` wrote, e.g. runs/tune/masking") from None
    location = recorded_location(run_dir)
    if location is None:
        raise InputFileError(run_dir, "this search keeps no Optuna study (it predates study storage)",
                             fix="read its summary/ instead, or `asma tune --resume` it to the end")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=location.study_name, storage=location.open())
    budget_file = run_dir / "budget.json"
    budget = json.loads(budget_file.read_text())["trials"] if budget_file.exists() else space["budget"]["trials"]
    now = time.time() if now is None else now
    folders = {t.number: run_dir / "experiment" / f"trial_{t.user_attrs['tune_trial_id']}"
               for t in study.trials if "tune_trial_id" in t.user_attrs}
    files_of = {n: read_trial(f) for n, f in folders.items() if f.is_dir()}
    # a trial's full budget: the space's epochs, else its base config's (a distillation search trains
    # distill.epochs), else (a folder written before space.json kept the base) the most any trial reached
    base = saved.get("base", {}).get("distill" if space.get("task") == "distill" else "train", {})
    full = (space["budget"].get("epochs") or base.get("epochs")
            or max((f.epoch for f in files_of.values()), default=None))
    trials = []
    lost = set(study.user_attrs.get("lost", []))  # interrupted when the experiment was lost (asma.search.continuation)
    for t in study.trials:
        files = files_of.get(t.number)
        # the epoch it reached: its folder, or (a trial of an experiment that is gone) what the searcher recorded
        reached = files.epoch if files else int(t.user_attrs.get("epochs", 0))
        state = STATES.get(t.state.name, t.state.name.lower())
        if state == "complete" and full and 0 < reached < full:
            state = "stopped early"  # a per-epoch metric: Optuna completes what the scheduler stopped
        if t.state.name == "RUNNING":
            state = "running" if files and not quiet_too_long(files, now) else "stopped"
        if "repeat_of" in t.user_attrs:
            state = "repeat"
        if t.number in lost:
            state = "lost"
        trials.append(TrialStatus(t.number, state, list(t.values) if t.values else None,
                                  reached, files.checkpoint_epoch if files else 0,
                                  dict(t.params), t.user_attrs.get("repeat_of"), t.user_attrs.get("tune_trial_id")))
    times = [f.seconds_per_epoch for f in files_of.values() if f.seconds_per_epoch is not None]
    # trials the budget has spent: those with a folder, and those an earlier experiment finished
    started = len({t.user_attrs["tune_trial_id"] for t in study.trials
                   if t.number in files_of or (t.number not in lost and "epochs" in t.user_attrs)})
    return SearchStatus(saved.get("name", run_dir.name), run_dir, int(budget), full,
                        [str(m) for m in _listed(space["metric"])], [str(m) for m in _listed(space["mode"])],
                        trials, location.shown, _remaining_s(space, full, int(budget), trials, times, started), started)
