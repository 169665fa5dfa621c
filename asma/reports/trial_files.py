"""What a Ray Tune trial folder says about its run, read from disk while it runs or after it stopped.

A trial folder (`<experiment>/<run id>_<trial id>/` for a study, `<experiment>/trial_<id>/` for a
search) holds `progress.csv` (a row per report: every epoch, then the evaluation), the newest
`checkpoint_*` folders Tune keeps, and `error.txt` when the trial failed. Nothing here imports Ray:
`asma status` reads a study that another machine is running, or that nothing runs any more.
"""
from __future__ import annotations

import csv
import statistics
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TrialFiles:
    path: Path
    epoch: int  # the last epoch reported (0: none yet)
    checkpoint_epoch: int  # the epoch of the newest checkpoint kept, where a resume continues (0: none)
    seconds_per_epoch: float | None  # median wall time of a reported epoch, evaluations at rungs included
    updated: float  # when the trial last wrote its progress (seconds since the epoch)
    error: str | None  # the last line of error.txt


def study_trial_dirs(tune_dir: Path, run_id: str) -> list[Path]:
    """A study run's trial folders (`<run id>_<trial id>`), oldest first: a run has several when the
    study was started again. A run id ends in its seed, so `x__seed1_*` never takes `x__seed10`'s."""
    return sorted((p for p in tune_dir.glob(f"{run_id}_*") if p.is_dir()), key=_updated)


def _updated(path: Path) -> float:
    progress = path / "progress.csv"
    return (progress if progress.exists() else path).stat().st_mtime


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value not in (None, "") else None
    except ValueError:
        return None


def read_trial(path: Path) -> TrialFiles:
    epochs: list[int] = []
    times: list[float] = []
    checkpoint_epochs: dict[str, int] = {}
    progress = path / "progress.csv"
    if progress.exists():
        with progress.open(newline="") as f:
            for row in csv.DictReader(f):
                epoch = _int(row.get("epoch"))
                if epoch is None:  # the evaluation's report, or a run without epochs (a reference row)
                    continue
                epochs.append(epoch)
                if row.get("time_this_iter_s"):
                    times.append(float(row["time_this_iter_s"]))
                if row.get("checkpoint_dir_name"):
                    checkpoint_epochs[row["checkpoint_dir_name"]] = epoch
    kept = [checkpoint_epochs[p.name] for p in path.glob("checkpoint_*") if p.name in checkpoint_epochs]
    error = path / "error.txt"
    lines = error.read_text().strip().splitlines() if error.exists() else []
    return TrialFiles(path=path, epoch=max(epochs, default=0), checkpoint_epoch=max(kept, default=0),
                      seconds_per_epoch=statistics.median(times) if times else None,
                      updated=_updated(path), error=lines[-1] if lines else None)


def last_error(tune_dir: Path, run_id: str) -> str | None:
    """The last line of the newest error.txt among a study run's trial folders."""
    errors = [p / "error.txt" for p in study_trial_dirs(tune_dir, run_id) if (p / "error.txt").exists()]
    if not errors:
        return None
    lines = max(errors, key=lambda p: p.stat().st_mtime).read_text().strip().splitlines()
    return lines[-1] if lines else None
