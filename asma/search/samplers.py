"""Optuna samplers as Ray Tune needs them: picklable.

Tune pickles its searcher, and the Optuna sampler in it, when the Tuner starts and in every experiment
snapshot. Optuna 5.1's genetic samplers (NSGA-II) hold a `threading.Lock` (`_thread_lock`, guarding
their generation cache) that pickle refuses with "cannot pickle '_thread.lock' object", so a
multi-objective search with `sampler: nsga2` failed before its first trial.
"""
from __future__ import annotations

import threading

import optuna


class PicklableNSGAIISampler(optuna.samplers.NSGAIISampler):
    """NSGA-II whose pickled state leaves the lock out; loading makes a new one. The generation cache
    the lock guards is kept."""

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_thread_lock", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._thread_lock = threading.Lock()
