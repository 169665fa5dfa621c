"""The search's persisted Optuna study (asma.search.optuna_study), without Ray: storage, refusals, restore.

The end-to-end checks (a real `asma tune` read back with `optuna.load_study`, optuna-dashboard
serving it) are in tests/test_tune.py.
"""
from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from asma.errors import AsmaError, ConfigError
from asma.search.optuna_searcher import FinalMetricOptunaSearch
from asma.search.optuna_study import (
    create_study,
    recorded_location,
    resumed_location,
    study_location,
    write_record,
)
from asma.search.space import DefineByRun, ParamSpec

optuna.logging.set_verbosity(optuna.logging.WARNING)


def searcher(storage, name: str = "s") -> FinalMetricOptunaSearch:
    params = {"optim.lr": ParamSpec(type="float", low=1e-4, high=1e-2, log=True)}
    return FinalMetricOptunaSearch(space=DefineByRun(params), metric="knn_top1", mode="max",
                                   sampler=optuna.samplers.RandomSampler(seed=0), study_name=name, storage=storage)


def test_the_default_storage_is_a_journal_file_in_the_search_folder(tmp_path):
    where = study_location("masking", tmp_path)
    create_study(where, ["knn_top1", "encoder_params"], ["max", "min"], "space.yaml")
    assert (tmp_path / "study.journal").stat().st_size > 0
    study = optuna.load_study(study_name="masking", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "study.journal"))))
    assert study.directions == [optuna.study.StudyDirection.MAXIMIZE, optuna.study.StudyDirection.MINIMIZE]
    assert study.metric_names == ["knn_top1", "encoder_params"]
    assert where.dashboard_command() == f"optuna-dashboard {tmp_path / 'study.journal'}"


def test_a_new_search_refuses_a_study_with_trials_and_replaces_an_empty_one(tmp_path):
    url = f"sqlite:///{tmp_path / 'searches.db'}"
    where = study_location("masking", tmp_path, url)
    create_study(where, ["knn_top1"], ["min"], "space.yaml")
    create_study(where, ["knn_top1"], ["max"], "space.yaml")  # empty: replaced, with the new direction
    study = optuna.load_study(study_name="masking", storage=url)
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    study.tell(study.ask(), 1.0)
    with pytest.raises(AsmaError, match="already holds an Optuna study 'masking' with 1 trials.*--resume"):
        create_study(where, ["knn_top1"], ["max"], "space.yaml")
    assert len(optuna.load_study(study_name="masking", storage=url).trials) == 1


def test_storage_must_be_an_rdb_url_that_opens(tmp_path):
    with pytest.raises(ConfigError, match="--storage: searches.db: takes an RDB URL"):
        study_location("masking", tmp_path, "searches.db")
    with pytest.raises(ConfigError, match="--storage: nosuchdialect://x: cannot open it"):
        create_study(study_location("masking", tmp_path, "nosuchdialect://x"), ["knn_top1"], ["max"], "s.yaml")


def test_resume_goes_on_with_the_recorded_study_and_refuses_another(tmp_path):
    url = "postgresql://asma:secret@db.example/searches"
    write_record(tmp_path, study_location("masking", tmp_path, url))
    saved = recorded_location(tmp_path)
    assert saved.url == url and "secret" not in saved.shown and "secret" not in saved.dashboard_command()
    assert resumed_location("masking", tmp_path, None) == saved
    assert resumed_location("masking", tmp_path, url) == saved
    with pytest.raises(AsmaError, match="resume without --storage"):
        resumed_location("masking", tmp_path, f"sqlite:///{tmp_path / 'other.db'}")
    assert resumed_location("masking", tmp_path / "older_search", None) is None


def test_restore_fails_trials_asked_after_the_last_snapshot_and_keeps_the_others(tmp_path):
    where = study_location("s", tmp_path)
    first = searcher(create_study(where, ["knn_top1"], ["max"], "space.yaml"))
    for trial_id in ("t1", "t2", "t3"):
        first.suggest(trial_id)
    first.save(str(tmp_path / "searcher.pkl"))  # Tune's snapshot
    first.on_trial_complete("t1", {"knn_top1": 40.0, "training_iteration": 2})  # after it: Tune re-runs t1
    first.suggest("t4")  # asked after it too, then the search is interrupted

    again = searcher(where.open())  # what Tuner.restore builds, then restores from the snapshot
    again.restore(str(tmp_path / "searcher.pkl"))
    again.on_trial_result("t1", {"knn_top1": 10.0, "training_iteration": 1})  # the re-run's report: no error
    again.on_trial_complete("t2", {"knn_top1": 30.0, "training_iteration": 2})
    study = optuna.load_study(study_name="s", storage=where.open())
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.RUNNING,
                                               TrialState.FAIL]
    assert [t.user_attrs["tune_trial_id"] for t in study.trials] == ["t1", "t2", "t3", "t4"]
    assert [t.value for t in study.trials[:2]] == [40.0, 30.0]  # t1 keeps its first result
    # its told result is its last intermediate value too; the re-run's report is not kept
    assert study.trials[0].intermediate_values == {2: 40.0} and study.user_attrs["never_run"] == [3]


def test_a_new_search_s_study_is_not_announced_twice(tmp_path, caplog):
    """Optuna said "A new study created" (create_study) and then "Using an existing study" (Ray's
    OptunaSearch opening it) for one search; the search prints its own line instead."""
    optuna.logging.set_verbosity(optuna.logging.INFO)  # Optuna's default, which this module's import lowered
    optuna.logging.enable_propagation()
    try:
        with caplog.at_level("INFO", logger="optuna"):
            where = study_location("s", tmp_path)
            searcher(create_study(where, ["knn_top1"], ["max"], "space.yaml"))
    finally:
        optuna.logging.disable_propagation()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    assert not [r.getMessage() for r in caplog.records if r.name.startswith("optuna")]
