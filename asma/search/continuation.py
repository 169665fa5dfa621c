"""Continue a search whose Tune experiment is gone: from its Optuna study, on a fresh machine.

`asma tune --resume` restores Tune's experiment (`experiment/`: trial folders, checkpoints, the
pickled searcher and scheduler). That folder is large and tied to the machine; what is small and
can be kept (committed, copied) is the rest of the search folder: `space.json`, `budget.json`, the
Optuna study (`study.journal`) and `summary/`. From those, a search continues where the study says
it stands:

- **finished trials** (COMPLETE or PRUNED in the study) are kept, never run again: their rows come
  from the last summary, or from the study itself (params, values, and the `epochs` and
  `proxy_curve` the searcher records on each trial) where the summary does not hold them. They are
  written to `earlier_trials.json`, which every later summary of the search starts with;
- **interrupted trials** (RUNNING in the study: their checkpoints went with the experiment) are
  told FAIL, named in the study's user attribute `lost`, and their points queued to run again from
  the first epoch;
- the sampler sees every earlier trial (Ray's OptunaSearch loads the study by name), ASHA's rungs
  start with the earlier trials' proxy at each rung (`seed_rungs`), and only the trials still in
  the budget run: `budget.json` counts the earlier ones (`earlier`).
"""
from __future__ import annotations

import json
from pathlib import Path

from asma.data.atomic import write_json_atomic

EARLIER_FILE = "earlier_trials.json"
FINISHED = ("COMPLETE", "PRUNED")


def row_from_study(trial, space) -> dict:
    """A summary row (asma.search.summary.trial_rows) of an ended Optuna trial, from the study alone."""
    curve = [[int(e), float(v)] for e, v in trial.user_attrs.get("proxy_curve", [])]
    if not curve and space.metrics == [space.schedule_metric]:
        curve = [[int(e), float(v)] for e, v in sorted(trial.intermediate_values.items())]
    epochs = int(trial.user_attrs.get("epochs") or (curve[-1][0] if curve else 0))
    values = list(trial.values) if trial.values else [None] * len(space.metrics)
    metrics = dict(zip(space.metrics, values))
    metrics.setdefault(space.schedule_metric, curve[-1][1] if curve else None)
    started, ended = trial.datetime_start, trial.datetime_complete
    return {
        "trial_id": trial.user_attrs.get("tune_trial_id", f"optuna{trial.number}"),
        "status": "done" if epochs >= space.epochs else "stopped early", "epochs": epochs,
        "params": dict(trial.params), "metrics": metrics,
        "time_s": round((ended - started).total_seconds(), 2) if started and ended else 0.0,
        "finished_at": ended.timestamp() if ended else 0.0, "curve": curve, "error": None,
    }


def summary_rows(run_dir: Path) -> dict[str, dict]:
    """The rows the search's folder already holds, by Tune trial id: earlier_trials.json, then the last summary."""
    rows: dict[str, dict] = {}
    for path in (run_dir / EARLIER_FILE, run_dir / "summary" / "summary.json"):
        if path.exists():
            saved = json.loads(path.read_text())
            for row in saved if isinstance(saved, list) else saved.get("trials", []):
                rows.setdefault(row["trial_id"], row)
    return rows


def earlier_rows(run_dir: Path, study, space) -> list[dict]:
    """One row per finished trial of the study, in the order the study numbered them."""
    known = summary_rows(run_dir)
    rows = []
    for trial in study.get_trials(deepcopy=False):
        if trial.state.name not in FINISHED:  # a repeat told FAIL, a lost trial, one still queued
            continue
        row = known.get(trial.user_attrs.get("tune_trial_id", ""))
        rows.append(dict(row) if row is not None and row.get("status") in ("done", "stopped early")
                    else row_from_study(trial, space))
    return rows


def drop_torn_write(journal: Path) -> int:
    """Cut a journal's last line when it has no line end: a write the lost machine left half done, or
    a copy (a commit) taken while the search was writing. Optuna's reader skips such a line while it
    is the last one and refuses the file once another follows, so the continued search would break
    its own study with its first write. Returns the bytes cut."""
    if not journal.is_file():
        return 0
    data = journal.read_bytes()
    if not data or data.endswith(b"\n"):
        return 0
    keep = data.rfind(b"\n") + 1
    with open(journal, "r+b") as f:
        f.truncate(keep)
    return len(data) - keep


def requeue_lost(study) -> list[int]:
    """Tell FAIL the trials still RUNNING (their experiment, checkpoints and all, is gone) and queue
    their points to run again; returns their numbers, also kept in the study's user attribute `lost`."""
    from optuna.trial import TrialState

    lost = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in lost:
        study.tell(trial.number, state=TrialState.FAIL)
        study.enqueue_trial(dict(trial.params), skip_if_exists=False)
    if lost:
        study.set_user_attr("lost", sorted({*study.user_attrs.get("lost", []), *(t.number for t in lost)}))
    return [t.number for t in lost]


def write_earlier(run_dir: Path, rows: list[dict]) -> None:
    write_json_atomic(run_dir / EARLIER_FILE, rows)


def read_earlier(run_dir: Path) -> list[dict]:
    path = run_dir / EARLIER_FILE
    return json.loads(path.read_text()) if path.exists() else []


def seed_rungs(scheduler, rows: list[dict]) -> int:
    """Put each earlier trial's proxy at every ASHA rung it reached into the scheduler's rungs (the value
    ASHA itself records there: the last one measured by that epoch); returns how many were put in.

    Ray's AsyncHyperBandScheduler keeps a rung as (milestone, {trial id: signed value}) in each
    bracket's `_rungs`; a new trial is stopped at a rung when its value is below the rung's
    1 - 1/reduction_factor quantile. Without the earlier values, the continued search's first
    trials would meet empty rungs and all run on."""
    seeded = 0
    for bracket in getattr(scheduler, "_brackets", []):
        for milestone, recorded in bracket._rungs:
            for row in rows:
                points = [v for e, v in row.get("curve", []) if e <= milestone]
                if row.get("epochs", 0) >= milestone and points:
                    recorded[f"earlier_{row['trial_id']}"] = scheduler._metric_op * points[-1]
                    seeded += 1
    return seeded
