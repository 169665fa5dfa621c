"""Where an ablation study stands, from its folder alone: done, running, stopped, failed and pending
runs, and the trial time still to go, estimated from the study's own epochs (`asma status`).

A run is done when its result file exists. A run with a trial folder and no result is running while
its trial keeps writing progress (a run that pretrains nothing writes none until it ends: it counts as
running for twice the study's longest such run), and stopped otherwise: `asma ablate --resume`
continues it from its newest checkpoint, `asma ablate` alone from epoch 0. The time still to go is
each unfinished run's remaining epochs at the median epoch time of its variant on its data set (of
any pretraining run on that set before any of its variant has run; a running run at its own pace),
plus the median evaluation time of its variant's finished runs; a run without such a figure yet is
counted apart.

Runs that `asma pool run --work WORK` trains outside Tune are read from their LocalRuntime
folders (`WORK/<study>/<run id>/`) when `work` is given (`asma status --work WORK`): such a folder
counts as one more attempt of its run, the newest attempt saying where the run stands.
"""
from __future__ import annotations

import json
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from asma.ablation.study_file import load_study
from asma.errors import AsmaError, InputFileError
from asma.experiments.trial_files import (
    STALE_AFTER_S,
    TrialFiles,
    folder_updated,
    quiet_too_long,
    read_run_folder,
    study_trial_dirs,
)

# a run that only evaluates is not running once silent for this many times the longest evaluation-only
# run of its study (a run that pretrains: asma.experiments.trial_files.quiet_too_long)
EVAL_STALE_FACTOR = 2.0


@dataclass
class RunStatus:
    run: str
    variant: str
    dataset: str
    state: str  # done | running | stopped | failed | pending
    epochs: int | None  # pretraining epochs planned (0: a run that does not pretrain; None: unknown)
    epoch: int = 0  # epochs trained so far (done: all)
    resumes_from: int = 0  # the newest checkpoint's epoch
    remaining_s: float | None = None  # estimated trial time still to go (0 when done)
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    eval_s: float | None = None  # a done run's evaluation time, from its record
    seconds_per_epoch: float | None = None  # an unfinished run's own, from its newest attempt


@dataclass
class StudyStatus:
    name: str
    run_dir: Path
    runs: list[RunStatus]
    epochs_from: str  # where the planned epochs came from

    def count(self, state: str) -> int:
        return sum(r.state == state for r in self.runs)

    @property
    def remaining_s(self) -> float:
        return sum(r.remaining_s or 0.0 for r in self.runs)

    @property
    def unestimated(self) -> list[str]:
        return [r.run for r in self.runs if r.state != "done" and r.remaining_s is None]


def _planned_epochs(study: dict, run_dir: Path) -> tuple[dict[str, int], str]:
    """Each run's pretraining epochs: study.json's (studies started at or after this module), else
    the study file it names, loaded as it is now (options given at launch, such as --set, unknown)."""
    if "epochs" in study:
        return {r: int(e) for r, e in study["epochs"].items()}, "study.json"
    source = Path(study.get("source", ""))
    if source.suffix in (".yaml", ".yml") and source.exists():
        # lazy: these import torch and Ray, which `asma status` needs only for a study from before study.json kept its epochs
        from asma.ablation.specs import run_specs
        from asma.experiments.evaluate import pretraining_epochs

        try:
            specs = run_specs(load_study(source, check_data=False), run_dir)
        except AsmaError as e:  # the file changed since, or needs what is not here (a transfer set)
            return {}, f"unknown ({source} does not load now: {str(e).splitlines()[0]})"
        return {r: pretraining_epochs(s) for r, s in specs.items()}, f"{source} (as it is now)"
    return {}, "unknown (study.json predates the record and its study file is not here)"


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _attempts(run_dir: Path, run_id: str, pool_dir: Path | None) -> list[TrialFiles]:
    """A run's attempts, oldest first, each folder read once: its Tune trials, and its `asma pool`
    folder when there is one."""
    folders = study_trial_dirs(run_dir / "tune", run_id)
    if pool_dir is not None and (pool_dir / run_id / "metrics.jsonl").exists():
        folders = sorted([*folders, pool_dir / run_id], key=folder_updated)
    return [read_run_folder(f) for f in folders]


def study_status(run_dir: str | Path, now: float | None = None, work: str | Path | None = None) -> StudyStatus:
    """`work`: an `asma pool run --work` folder whose runs of this study count too."""
    run_dir = Path(run_dir)
    record_path = run_dir / "study.json"
    try:
        study = json.loads(record_path.read_text())
        run_ids = list(study["runs"])
    except (OSError, json.JSONDecodeError, KeyError):
        raise InputFileError(run_dir, "not an ablation study folder (no readable study.json with runs)",
                             fix="pass the folder `asma ablate` wrote, e.g. runs/ablations/quick") from None
    now = time.time() if now is None else now
    planned, epochs_from = _planned_epochs(study, run_dir)
    name = study.get("name", run_dir.name)
    pool_dir = Path(work) / name if work is not None else None
    attempts = {run_id: _attempts(run_dir, run_id, pool_dir) for run_id in run_ids}
    runs = []
    for run_id in run_ids:
        variant, dataset = run_id.split("__")[:2]
        status = RunStatus(run_id, variant, dataset, "pending", planned.get(run_id))
        result = run_dir / "runs" / f"{run_id}.json"
        if result.exists():
            done = json.loads(result.read_text())
            status.state, status.metrics = "done", dict(done.get("metrics", {}))
            status.epochs = status.epoch = int(done.get("pretrain", {}).get("epochs", status.epochs or 0))
            status.remaining_s = 0.0
            status.eval_s = float(done["eval_time_s"]) if "eval_time_s" in done else None
        elif attempts[run_id]:
            trial = attempts[run_id][-1]
            status.epoch, status.resumes_from, status.error = trial.epoch, trial.checkpoint_epoch, trial.error
            status.seconds_per_epoch = trial.seconds_per_epoch
            status.state = "failed" if trial.error else "running"
        runs.append(status)
    # a run that pretrains nothing (a fixed teacher's distillation, a floor, a ceiling) reports nothing
    # until it ends: quiet for less than twice the study's longest such run, it may still be running
    evaluation_only = max([STALE_AFTER_S, *(EVAL_STALE_FACTOR * (r.eval_s or 0.0) for r in runs
                                            if r.state == "done" and r.epochs == 0)])
    for run in runs:
        if run.state == "running" and quiet_too_long(attempts[run.run][-1], now,
                                                     evaluation_only if run.epochs == 0 else STALE_AFTER_S):
            run.state = "stopped"
    _estimate(runs, attempts)
    return StudyStatus(name, run_dir, runs, epochs_from)


def _estimate(runs: list[RunStatus], attempts: dict[str, list[TrialFiles]]) -> None:
    """Fill each unfinished run's remaining trial time from the study's own epoch and evaluation times
    (a stopped run is counted from its newest checkpoint, as `asma ablate --resume` continues it)."""
    per_epoch: dict[tuple[str, str], list[float]] = defaultdict(list)
    per_set: dict[str, list[float]] = defaultdict(list)
    evals: dict[tuple[str, str], list[float]] = defaultdict(list)
    for run in runs:
        for attempt in attempts[run.run]:
            spe = attempt.seconds_per_epoch
            if spe is not None:
                per_epoch[run.variant, run.dataset].append(spe)
                per_set[run.dataset].append(spe)
        if run.eval_s is not None:
            evals[run.variant, run.dataset].append(run.eval_s)
    for run in runs:
        if run.state == "done" or run.epochs is None:
            continue
        spe = _median(per_epoch[run.variant, run.dataset]) or _median(per_set[run.dataset])
        if run.state == "running" and run.seconds_per_epoch:  # its own pace, on the machine it runs on
            spe = run.seconds_per_epoch
        evaluation = _median(evals[run.variant, run.dataset])
        if run.epochs == 0:  # a reference row: its evaluation is all of it (a ceiling trains there)
            run.remaining_s = evaluation
            continue
        start = run.epoch if run.state == "running" else run.resumes_from
        if spe is not None:
            run.remaining_s = (run.epochs - start) * spe + (evaluation or 0.0)
