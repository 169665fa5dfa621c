"""asma.experiments.tune_run: the progress callback both runners share, and the names saved experiments pickled."""
import pickle
from types import SimpleNamespace

import pytest
from rich.console import Console

from asma.experiments.trial_progress import TrialProgress
from asma.experiments.tune_run import ProgressCallback


class Recorder(TrialProgress):
    def __init__(self):
        super().__init__(Console(quiet=True), 1, "steps")
        self.events = []

    def trial_result(self, trial, result):
        self.events.append(("result", trial.trial_id, result))

    def trial_complete(self, trial):
        self.events.append(("complete", trial.trial_id))

    def trial_error(self, trial):
        self.events.append(("error", trial.trial_id))


def test_the_callback_hands_each_trial_event_to_the_active_bar_and_holds_nothing():
    callback, trial = ProgressCallback(), SimpleNamespace(trial_id="t1")
    callback.on_trial_result(0, [], trial, {"epoch": 1})  # no active bar: nothing happens
    with Recorder() as bar:
        callback.on_trial_result(0, [], trial, {"epoch": 1})
        callback.on_trial_complete(0, [], trial)
        callback.on_trial_error(0, [], trial)
    assert bar.events == [("result", "t1", {"epoch": 1}), ("complete", "t1"), ("error", "t1")]
    assert vars(pickle.loads(pickle.dumps(callback))) == {}


@pytest.mark.parametrize("module, name, now", [
    ("asma.search.tuner", "FinalMetricOptunaSearch", "asma.search.optuna_searcher"),
    ("asma.search.tuner", "TrialBudget", "asma.search.budget"),
    ("asma.search.tuner", "ProgressCallback", "asma.experiments.tune_run"),
    ("asma.ablation.runner", "ProgressCallback", "asma.experiments.tune_run"),
])
def test_classes_pickled_by_experiments_saved_before_the_split_still_load(module, name, now):
    """Tune pickles the searcher, its budget and its callbacks into the experiment by module and name;
    an experiment saved before these classes moved names their old module, and --resume unpickles it."""
    saved = f"c{module}\n{name}\n.".encode()  # pickle protocol 0: a reference to `module.name`
    loaded = pickle.loads(saved)
    assert loaded.__module__ == now and loaded.__name__ == name
