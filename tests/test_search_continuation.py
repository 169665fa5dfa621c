"""A search continued from its Optuna study when its Tune experiment is gone: which trials are kept,
which run again, and what ASHA's rungs start with (the end-to-end run is in test_tune.py)."""
from __future__ import annotations

import json
from types import SimpleNamespace

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState
from ray.tune.schedulers import ASHAScheduler, TrialScheduler

from asma.search.continuation import earlier_rows, requeue_lost, row_from_study, seed_rungs

SPACE = SimpleNamespace(metrics=["eval/linear"], schedule_metric="knn_top1", epochs=9)
RATIO = {"masking.specs.a.joints.ratio": FloatDistribution(0.1, 0.6)}


def study_with(states_and_attrs):
    """An in-memory study: one trial per (state, value, user attrs), params drawn by the sampler."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    for number, (state, value, attrs) in enumerate(states_and_attrs):
        trial = study.ask(RATIO)
        trial.set_user_attr("tune_trial_id", f"t{number}")
        for key, attr in attrs.items():
            trial.set_user_attr(key, attr)
        if state is not TrialState.RUNNING:
            study.tell(trial, value if state is TrialState.COMPLETE else None, state=state)
    return study


def test_rows_come_from_the_summary_else_from_what_the_searcher_recorded(tmp_path):
    study = study_with([
        (TrialState.COMPLETE, 61.0, {"epochs": 9, "proxy_curve": [[3, 30.0], [9, 40.0]]}),
        (TrialState.PRUNED, None, {"epochs": 3, "proxy_curve": [[1, 20.0], [3, 25.0]]}),
        (TrialState.RUNNING, None, {}),  # interrupted: not a finished trial
        (TrialState.FAIL, None, {"repeat_of": 0}),
    ])
    (tmp_path / "summary").mkdir()
    kept = {"trial_id": "t0", "status": "done", "epochs": 9, "params": {}, "metrics": {"eval/linear": 61.0},
            "time_s": 12.5, "curve": [[1, 10.0], [3, 30.0], [9, 40.0]], "error": None}
    (tmp_path / "summary" / "summary.json").write_text(json.dumps({"trials": [kept]}))
    rows = earlier_rows(tmp_path, study, SPACE)
    assert [r["trial_id"] for r in rows] == ["t0", "t1"]
    assert rows[0] == kept  # the summary's row as it was
    pruned = rows[1]  # not in the summary: rebuilt from the study
    assert pruned["status"] == "stopped early" and pruned["epochs"] == 3 and pruned["curve"] == [[1, 20.0], [3, 25.0]]
    assert pruned["metrics"] == {"eval/linear": None, "knn_top1": 25.0}
    assert pruned["params"] == study.trials[1].params


def test_a_trial_of_a_search_on_its_proxy_takes_its_curve_from_the_intermediate_values():
    study = study_with([(TrialState.RUNNING, None, {})])
    trial = study.trials[0]
    for epoch, value in ((1, 5.0), (2, 7.0)):
        study._storage.set_trial_intermediate_value(trial._trial_id, epoch, value)
    study.tell(trial.number, 7.0)
    space = SimpleNamespace(metrics=["knn_top1"], schedule_metric="knn_top1", epochs=2)
    row = row_from_study(study.trials[0], space)
    assert row["status"] == "done" and row["epochs"] == 2 and row["curve"] == [[1, 5.0], [2, 7.0]]


def test_interrupted_trials_are_failed_and_their_points_run_again():
    study = study_with([(TrialState.COMPLETE, 50.0, {}), (TrialState.RUNNING, None, {})])
    lost_params = study.trials[1].params
    assert requeue_lost(study) == [1]
    assert study.trials[1].state is TrialState.FAIL and study.user_attrs["lost"] == [1]
    again = study.ask(RATIO)  # the sampler hands out the queued point first
    assert again.params == lost_params
    assert requeue_lost(study) == [2] and study.user_attrs["lost"] == [1, 2]  # it, too, was interrupted


def asha(mode="max"):
    return ASHAScheduler(metric="knn_top1", mode=mode, time_attr="training_iteration", max_t=9,
                         grace_period=1, reduction_factor=3)


def result_at(scheduler, epoch, value):
    bracket = scheduler._brackets[0]
    return bracket.on_result(SimpleNamespace(trial_id="new"), epoch, scheduler._metric_op * value)


def test_asha_rungs_start_with_the_earlier_trials_proxy():
    rows = [{"trial_id": f"e{i}", "epochs": 9, "curve": [[1, v], [3, v + 5], [9, v + 9]]} for i, v in enumerate((40.0, 50.0, 60.0))]
    rows.append({"trial_id": "short", "epochs": 1, "curve": [[1, 70.0]]})  # stopped at the first rung
    fresh, seeded = asha(), asha()
    assert seed_rungs(seeded, rows) == 4 + 3 + 3  # rung 1: all four; rungs 3 and 9: the three that reached them
    recorded = dict(seeded._brackets[0]._rungs)
    assert recorded[1]["earlier_short"] == 70.0 and recorded[3]["earlier_e0"] == 45.0 and "earlier_short" not in recorded[3]
    # a new trial at 45 at the first rung: under the earlier trials' 2/3 quantile, so stopped; a fresh ASHA lets it on
    assert result_at(seeded, 1, 45.0) == TrialScheduler.STOP
    assert result_at(fresh, 1, 45.0) == TrialScheduler.CONTINUE
    low = asha("min")  # min mode: ASHA keeps negated values
    seed_rungs(low, rows)
    assert dict(low._brackets[0]._rungs)[1]["earlier_e0"] == -40.0


def test_a_search_kept_in_git_resumes_in_another_checkout_with_the_same_data(tmp_path):
    """space.json holds the base config with absolute paths; in another checkout they differ, and
    only the data they point at has to be the same."""
    import shutil

    import pytest
    import yaml

    from asma.errors import AsmaError
    from asma.search.search_resume import check_resume
    from asma.search.space import load_space
    from tests.test_fingerprint import prepared

    spec = {"base": "smoke", "params": {"masking.specs.a.joints.ratio": {"type": "float", "low": 0.1, "high": 0.6}},
            "overrides": {"data.split": "xsub_val"}, "budget": {"trials": 2, "epochs": 1}}
    (tmp_path / "space.yaml").write_text(yaml.safe_dump(spec))
    here = prepared(tmp_path / "here" / "data" / "msr")
    shutil.copytree(here, tmp_path / "there" / "data" / "msr")
    started = load_space(tmp_path / "space.yaml", [f"out_dir={tmp_path / 'here' / 'records'}"], data=str(here))
    run_dir = tmp_path / "search"
    run_dir.mkdir()
    (run_dir / "space.json").write_text(json.dumps(started.to_dict()))
    there = load_space(tmp_path / "space.yaml", [f"out_dir={tmp_path / 'there' / 'records'}",
                                                 f"data.cache_dir={tmp_path / 'there' / 'cache'}"],
                       data=str(tmp_path / "there" / "data" / "msr"))
    check_resume(there, run_dir)
    other = load_space(tmp_path / "space.yaml", [], data=str(prepared(tmp_path / "other", scale=2.0)))
    with pytest.raises(AsmaError, match="data"):
        check_resume(other, run_dir)
    lr = load_space(tmp_path / "space.yaml", ["optim.lr=0.5"], data=str(here))
    with pytest.raises(AsmaError, match="optim"):
        check_resume(lr, run_dir)


def test_a_journal_copied_mid_write_is_cut_back_to_its_last_whole_line(tmp_path):
    """A commit taken while the search writes, or a machine lost mid-write, leaves a last line without
    its end; Optuna then refuses the file once anything is written after it."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from asma.search.continuation import drop_torn_write

    journal = tmp_path / "study.journal"
    study = optuna.create_study(study_name="s", storage=JournalStorage(JournalFileBackend(str(journal))))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    whole = journal.read_bytes()
    journal.write_bytes(whole + b'{"op_code": 5, "worker_id": "w", "tri')
    assert drop_torn_write(journal) == len(b'{"op_code": 5, "worker_id": "w", "tri')
    assert journal.read_bytes() == whole and drop_torn_write(journal) == 0
    again = optuna.load_study(study_name="s", storage=JournalStorage(JournalFileBackend(str(journal))))
    again.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)  # writes after the cut: still readable
    reread = optuna.load_study(study_name="s", storage=JournalStorage(JournalFileBackend(str(journal))))
    assert len(reread.trials) == 3


def test_a_trial_a_stop_signal_left_running_is_interrupted_not_stopped_early(tmp_path):
    """Tune's results read the same for a trial ASHA stopped and one Ctrl-C stopped; the study does not."""
    from asma.search.optuna_study import study_location, write_record
    from asma.search.summary import mark_interrupted

    location = study_location("s", tmp_path)
    write_record(tmp_path, location)
    study = optuna.create_study(study_name="s", storage=location.open(), direction="maximize")
    for number, state in enumerate((TrialState.PRUNED, TrialState.RUNNING)):
        trial = study.ask(RATIO)
        trial.set_user_attr("tune_trial_id", f"t{number}")
        if state is TrialState.PRUNED:
            study.tell(trial, state=state)
    rows = [{"trial_id": f"t{n}", "status": "stopped early"} for n in (0, 1)]
    assert [r["status"] for r in mark_interrupted(rows, tmp_path)] == ["stopped early", "interrupted"]
    assert mark_interrupted(rows, tmp_path / "elsewhere") == rows  # a search without a stored study
