"""A study's or search's next trial runs in a finished trial's process (TuneConfig(reuse_actors=True)),
also after a stopped trial that takes longer to end than Tune's default wait of 2 s."""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from asma.training.tune_runtime import wait_for_the_last_trial_when_reused

pytestmark = pytest.mark.slow


def two_trials_one_at_a_time(tmp_path):
    from ray import tune

    def slow_to_end(config: dict) -> None:  # defined here, so Ray ships it by value to the trial
        """Stopped after its first report (stop={"training_iteration": 1}), it takes 3 s to end, as
        a tracker uploading its run would."""
        from ray import tune

        wait_for_the_last_trial_when_reused()  # what asma's trial functions call first
        try:
            for step in range(3):
                tune.report({"pid": os.getpid(), "step": step})
        finally:
            time.sleep(3)

    return tune.Tuner(
        tune.with_resources(slow_to_end, {"cpu": 1}),
        param_space={"trial": tune.grid_search([0, 1])},
        tune_config=tune.TuneConfig(reuse_actors=True, max_concurrent_trials=1),
        run_config=tune.RunConfig(name="reuse", storage_path=str(tmp_path), stop={"training_iteration": 1},
                                  verbose=0)).fit()


def test_the_next_trial_waits_for_a_slowly_ending_one_and_takes_its_process(ray_session, tmp_path):
    """Without the wait (Tune's 2 s; the call above left out), Tune logs "Could not re-use actor" for
    the second trial and the fit never ends (seen with Ray 2.60): hence the bound on the fit here."""
    fit = ThreadPoolExecutor(1).submit(two_trials_one_at_a_time, tmp_path)
    results = fit.result(timeout=120)
    assert results.num_errors == 0
    assert [r.metrics["step"] for r in results] == [0, 0]
    assert len({r.metrics["pid"] for r in results}) == 1  # the second trial ran in the first one's process
