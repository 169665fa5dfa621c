"""What a Ray Tune trial folder says about its run, read from disk while it runs or after it stopped.

A trial folder (`<experiment>/<run id>_<trial id>/` for a study, `<experiment>/trial_<id>/` for a
search) holds `progress.csv` (a row per report: every epoch, then the evaluation), the newest
`checkpoint_*` folders Tune keeps, and `error.txt` when the trial failed. Nothing here imports Ray:
`asma status` reads a study that another machine is running, or that nothing runs any more.

A run that `asma pool` (or `asma pretrain`) runs without Tune leaves a LocalRuntime folder
instead (`<work>/<study>/<run id>/`): `metrics.jsonl` (a line per epoch with its `epoch_time_s`) and
`checkpoints/latest.json` naming the newest checkpoint. `read_run_folder` reads either kind.
"""
from __future__ import annotations

import csv
import json
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


# a trial that has not written its progress for this long (nor for 5 of its epochs) is not running
STALE_AFTER_S = 600.0


def quiet_too_long(files: TrialFiles, now: float, floor_s: float = STALE_AFTER_S) -> bool:
    """Whether a trial that never reported its end has stopped: its folder silent for `floor_s`
    (at least) and for 5 of its own epochs. What `asma status` says of a study's runs and of a
    search's trials alike."""
    return now - files.updated >= max(floor_s, 5 * (files.seconds_per_epoch or 0.0))


def study_trial_dirs(tune_dir: Path, run_id: str) -> list[Path]:
    """A study run's trial folders (`<run id>_<trial id>`), oldest first: a run has several when the
    study was started again. A run id ends in its seed, so `x__seed1_*` never takes `x__seed10`'s."""
    return sorted((p for p in tune_dir.glob(f"{run_id}_*") if p.is_dir()), key=folder_updated)


def folder_updated(path: Path) -> float:
    """When a run folder last wrote its progress (progress.csv, metrics.jsonl, else the folder)."""
    for progress in (path / "progress.csv", path / "metrics.jsonl"):
        if progress.exists():
            return progress.stat().st_mtime
    return path.stat().st_mtime


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
                      updated=folder_updated(path), error=lines[-1] if lines else None)


def read_local_run(path: Path) -> TrialFiles:
    """A LocalRuntime folder: its epochs from metrics.jsonl (appended to on resume), its newest
    checkpoint from checkpoints/latest.json. It has no error file: a failed pool run reads as stopped."""
    epochs: list[int] = []
    times: list[float] = []
    metrics = path / "metrics.jsonl"
    if metrics.exists():
        for line in metrics.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # a line cut off by a kill mid-write
                continue
            if isinstance(row, dict) and _int(row.get("epoch")) is not None:
                epochs.append(_int(row["epoch"]))
                if row.get("epoch_time_s") is not None:
                    times.append(float(row["epoch_time_s"]))
    checkpoint_epoch = 0
    pointer = path / "checkpoints" / "latest.json"
    try:
        checkpoint_epoch = int(json.loads(pointer.read_text())["epoch"]) if pointer.exists() else 0
    except (OSError, ValueError, KeyError, TypeError):  # being replaced, or unreadable: as if none
        pass
    return TrialFiles(path=path, epoch=max(epochs, default=0), checkpoint_epoch=checkpoint_epoch,
                      seconds_per_epoch=statistics.median(times) if times else None,
                      updated=folder_updated(path), error=None)


def read_run_folder(path: Path) -> TrialFiles:
    """A Tune trial folder or a LocalRuntime one, whichever `path` is."""
    if not (path / "progress.csv").exists() and (path / "metrics.jsonl").exists():
        return read_local_run(path)
    return read_trial(path)


def last_error(tune_dir: Path, run_id: str) -> str | None:
    """The last line of the newest error.txt among a study run's trial folders."""
    errors = [p / "error.txt" for p in study_trial_dirs(tune_dir, run_id) if (p / "error.txt").exists()]
    if not errors:
        return None
    lines = max(errors, key=lambda p: p.stat().st_mtime).read_text().strip().splitlines()
    return lines[-1] if lines else None
