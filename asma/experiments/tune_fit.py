"""How `asma ablate` and `asma tune` fit a Tune experiment, new or restored: the one lifecycle both run.

A new experiment is the Tuner its runner builds (a grid of runs, or Optuna's searcher with ASHA). A
restored one is `Tuner.restore(..., resume_unfinished=True, resume_errored=True)` at the concurrency
asked for, else the one it was started with; either way the fit runs under the runner's progress bar,
and whether a stop signal (Ctrl-C) ended it is told apart from its end (`stopped_by_signal`).
"""
from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from rich.console import Console

from asma.experiments.trial_progress import TrialProgress
from asma.experiments.tune_restore import restore_tuner, saved_concurrency, set_saved_concurrency


@dataclass
class Fitted:
    results: Any  # ray.tune.ResultGrid
    stopped: bool  # a stop signal (Ctrl-C, SIGUSR1) ended it: --resume continues it


def restored_concurrency(experiment: Path, concurrency: int | None, console: Console) -> int:
    """The trials at a time a restore runs: `concurrency` written into the saved experiment (and the
    change said), else the experiment's own."""
    if concurrency is None:
        return saved_concurrency(experiment)
    before = set_saved_concurrency(experiment, concurrency)
    if before != concurrency:
        console.print(f"trials at a time: {before or 'as many as fit'} -> {concurrency}", highlight=False)
    return concurrency


def fit_experiment(experiment: Path, trainable, new_tuner: Callable[[], Any], progress: TrialProgress,
                   restore: bool) -> Fitted:
    """Fit the experiment in `experiment` under `progress`: restored (at the concurrency
    `restored_concurrency` has written) or new (`new_tuner()`, which sets its own concurrency)."""
    with progress:
        if restore:
            tuner = restore_tuner(str(experiment), trainable, resume_unfinished=True, resume_errored=True)
        else:
            tuner = new_tuner()
        handler = signal.getsignal(signal.SIGINT)
        results = tuner.fit()
    return Fitted(results, stopped_by_signal(handler))


def stopped_by_signal(handler_before) -> bool:
    """Whether the Tune fit that just returned was stopped by a signal (Ctrl-C, SIGUSR1), given the
    SIGINT handler from before it.

    Tune's fit installs a SIGINT handler of its own; a stop signal sets its `interrupted` event and
    puts the handler it replaced back, and a fit that ends otherwise leaves its own installed
    (ray/tune/tune.py, `_setup_signal_catching`). The event is not returned, and the ResultGrid of an
    interrupted fit tells nothing: it counts the stopped trials as terminated and holds none of the
    trials not started yet (so an earlier check, terminated + errored = all, read every
    interruption as the end). The handler is the one sign left. Tune installs none off the main
    thread or with TUNE_DISABLE_SIGINT_HANDLER set, where Ctrl-C raises KeyboardInterrupt instead."""
    if threading.current_thread() is not threading.main_thread() or os.environ.get("TUNE_DISABLE_SIGINT_HANDLER", "0") != "0":
        return False
    return signal.getsignal(signal.SIGINT) is handler_before
