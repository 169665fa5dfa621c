"""A search's trial budget: `budget.json` in the search folder, read again when Tune restores the search.

`{"trials": N, "earlier": K}`: N trials in all, K of them run by an earlier Tune experiment of the same
search (one continued from its Optuna study, asma.search.continuation). `--trials` on `--resume`
rewrites N, so a resumed search may run more trials than the first call asked for.
"""
from __future__ import annotations

import json
from pathlib import Path

try:  # subclassed below; keep the module importable without Ray
    from ray.tune.search import SearchGenerator
except ImportError:  # pragma: no cover - ray is a dependency
    SearchGenerator = object

BUDGET_FILE = "budget.json"


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

