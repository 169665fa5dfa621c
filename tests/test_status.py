"""`asma status`: a study's and a search's standing read from folders written here in the layout Ray
Tune and the runner leave (progress.csv, checkpoint_* folders, error.txt, run results, an Optuna
journal). The end-to-end runs check it against real folders (tests/test_ablate_end_to_end.py,
tests/test_tune.py)."""
from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

import optuna
import pytest

from asma.cli.main import main
from asma.experiments.trial_files import last_error, read_local_run, read_run_folder, read_trial, study_trial_dirs
from asma.experiments.trial_files import STALE_AFTER_S
from asma.reports.search_status import expected_epochs_left, search_status
from asma.reports.study_status import study_status
from asma.search.space import asha_rungs

FIELDS = ["loss", "epoch", "checkpoint_dir_name", "done", "run", "time_this_iter_s", "eval/knn"]


def write_trial(folder: Path, epoch_times: list[float], kept: tuple[int, ...] = (), evaluated: bool = False,
                error: str | None = None, age_s: float = 0.0) -> Path:
    """A trial folder: one progress row per epoch (checkpoint_{epoch-1:06d} beside it), the evaluation's
    row when `evaluated`, the checkpoints of the epochs in `kept`, progress written `age_s` ago."""
    folder.mkdir(parents=True)
    with (folder / "progress.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, FIELDS)
        writer.writeheader()
        for epoch, seconds in enumerate(epoch_times, start=1):
            writer.writerow({"loss": 1.0, "epoch": epoch, "checkpoint_dir_name": f"checkpoint_{epoch - 1:06d}",
                             "done": False, "time_this_iter_s": seconds})
        if evaluated:
            writer.writerow({"done": True, "eval/knn": 50.0, "time_this_iter_s": 3.0})
    for epoch in kept:
        (folder / f"checkpoint_{epoch - 1:06d}").mkdir()
    if error:
        (folder / "error.txt").write_text(f"Traceback (most recent call last):\n  ...\n{error}\n")
    stamp = time.time() - age_s
    os.utime(folder / "progress.csv", (stamp, stamp))
    return folder


def test_a_trial_folder_gives_its_last_epoch_newest_kept_checkpoint_and_median_epoch_time(tmp_path):
    trial = read_trial(write_trial(tmp_path / "t", [10.0, 12.0, 30.0, 11.0], kept=(3, 2), evaluated=True))
    assert trial.epoch == 4 and trial.checkpoint_epoch == 3  # checkpoint_000003 (epoch 4) was not kept
    assert trial.seconds_per_epoch == pytest.approx(11.5)  # the evaluation's row is not an epoch
    assert trial.error is None
    failed = read_trial(write_trial(tmp_path / "f", [5.0], error="RuntimeError: out of memory"))
    assert failed.error == "RuntimeError: out of memory" and failed.checkpoint_epoch == 0
    empty = tmp_path / "e"
    empty.mkdir()
    assert read_trial(empty).epoch == 0 and read_trial(empty).seconds_per_epoch is None


def test_a_run_s_trial_folders_are_matched_by_its_exact_id(tmp_path):
    old = write_trial(tmp_path / "v__d__seed1_822fe_00001", [1.0], age_s=100)
    new = write_trial(tmp_path / "v__d__seed1_c53fb_00000", [1.0], error="ValueError: late")
    write_trial(tmp_path / "v__d__seed10_822fe_00002", [1.0], error="ValueError: not this run")
    assert study_trial_dirs(tmp_path, "v__d__seed1") == [old, new]  # oldest first, seed10's left out
    assert last_error(tmp_path, "v__d__seed1") == "ValueError: late"
    assert last_error(tmp_path, "v__d__seed2") is None


def result(run_dir: Path, run: str, epochs: int, metrics: dict, eval_s: float) -> None:
    path = run_dir / "runs" / f"{run}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"run": run, "metrics": metrics, "pretrain": {"epochs": epochs}, "eval_time_s": eval_s}))


def make_study(tmp_path: Path) -> Path:
    """Seven runs of 10 epochs (a floor and a ceiling pretrain none): two done, one running, one stopped,
    one failed, the rest pending; every epoch of variant `m` on set `d` took 10 s or 14 s."""
    run_dir = tmp_path / "ablations" / "s"
    runs = ["m__d__seed0", "m__d__seed1", "m__d__seed2", "m__d__seed3", "m__d__seed4", "m__e__seed0",
            "floor__d__seed0", "ceiling__d__seed0", "ceiling__d__seed1"]
    epochs = {r: 0 if r.startswith(("floor", "ceiling")) else 10 for r in runs}
    run_dir.mkdir(parents=True)
    (run_dir / "study.json").write_text(json.dumps({"name": "s", "runs": runs, "epochs": epochs}))
    tune = run_dir / "tune"
    result(run_dir, "m__d__seed0", 10, {"linear": 60.0, "knn": 40.0}, eval_s=6.0)
    write_trial(tune / "m__d__seed0_aaaaa_00000", [10.0] * 10, kept=(9, 10), evaluated=True, age_s=5000)
    result(run_dir, "m__d__seed1", 10, {"linear": 50.0, "knn": 30.0}, eval_s=8.0)
    write_trial(tune / "m__d__seed1_aaaaa_00001", [14.0] * 10, kept=(9, 10), evaluated=True, age_s=4000)
    write_trial(tune / "m__d__seed2_aaaaa_00002", [10.0, 14.0, 10.0, 14.0], kept=(3, 4))  # running at 4
    write_trial(tune / "m__d__seed3_aaaaa_00003", [10.0] * 6, kept=(5,), age_s=2 * STALE_AFTER_S)  # stopped
    write_trial(tune / "m__d__seed4_aaaaa_00004", [14.0] * 2, error="RuntimeError: boom", age_s=100)
    result(run_dir, "floor__d__seed0", 0, {"linear": 30.0, "knn": 20.0}, eval_s=2.0)
    result(run_dir, "ceiling__d__seed0", 0, {"linear": 80.0}, eval_s=300.0)
    return run_dir


def test_a_study_s_runs_are_done_running_stopped_failed_or_pending(tmp_path):
    status = study_status(make_study(tmp_path))
    states = {r.run: r.state for r in status.runs}
    assert states == {"m__d__seed0": "done", "m__d__seed1": "done", "m__d__seed2": "running",
                      "m__d__seed3": "stopped", "m__d__seed4": "failed", "m__e__seed0": "pending",
                      "floor__d__seed0": "done", "ceiling__d__seed0": "done", "ceiling__d__seed1": "pending"}
    runs = {r.run: r for r in status.runs}
    assert runs["m__d__seed0"].metrics == {"linear": 60.0, "knn": 40.0}
    assert (runs["m__d__seed2"].epoch, runs["m__d__seed3"].resumes_from) == (4, 5)
    assert runs["m__d__seed4"].error == "RuntimeError: boom"
    assert status.count("done") == 4 and status.epochs_from == "study.json"


def test_a_run_that_only_evaluates_is_running_while_quiet_for_less_than_twice_the_longest_such_run(tmp_path):
    """A fixed teacher's distillation pretrains nothing and reports nothing until it ends (its trial
    folder stays as it started): 25 min into a study whose finished such run took 1000 s it is
    running, not 'stopped' as the pretraining runs' 10-minute rule read it; past 2 x 1000 s it is stopped."""
    run_dir = tmp_path / "ablations" / "students"
    runs = ["w8__d__seed0", "w8__d__seed1", "w4__d__seed1"]
    run_dir.mkdir(parents=True)
    (run_dir / "study.json").write_text(json.dumps({"name": "students", "runs": runs, "epochs": dict.fromkeys(runs, 0)}))
    result(run_dir, "w8__d__seed0", 0, {"student_distilled": 70.0}, eval_s=1000.0)
    write_trial(run_dir / "tune" / "w8__d__seed1_aaaaa_00001", [], age_s=1500)
    write_trial(run_dir / "tune" / "w4__d__seed1_aaaaa_00002", [], age_s=2500)
    states = {r.run: r.state for r in study_status(run_dir).runs}
    assert states == {"w8__d__seed0": "done", "w8__d__seed1": "running", "w4__d__seed1": "stopped"}


def test_the_time_to_go_is_the_remaining_epochs_at_the_study_s_own_epoch_and_evaluation_times(tmp_path):
    status = study_status(make_study(tmp_path))
    runs = {r.run: r for r in status.runs}
    # m on d: the median of its trials' median epoch times (10, 14, 12, 10, 14) = 12 s; evaluation: median(6, 8) = 7 s
    assert runs["m__d__seed2"].remaining_s == pytest.approx((10 - 4) * 12 + 7)  # running: from its last epoch
    assert runs["m__d__seed3"].remaining_s == pytest.approx((10 - 5) * 12 + 7)  # stopped: from its checkpoint
    assert runs["m__d__seed4"].remaining_s == pytest.approx((10 - 0) * 12 + 7)  # failed before a checkpoint
    assert runs["ceiling__d__seed1"].remaining_s == pytest.approx(300.0)  # a reference row: its evaluation
    assert runs["m__e__seed0"].remaining_s is None  # nothing has run on set e
    assert status.unestimated == ["m__e__seed0"]
    assert status.remaining_s == pytest.approx(79 + 67 + 127 + 300)


def test_a_study_folder_without_the_epochs_record_plans_from_its_study_file(tmp_path, monkeypatch):
    study = {"name": "old", "base": "smoke", "overrides": {"train.epochs": 7},
             "variants": {"floor": {"masking.views": ["a", "b"], "reference": "floor"}, "asma": {"default": True}},
             "factors": [{"name": "f", "variants": ["floor", "asma"]}], "seeds": 1, "protocols": ["knn"]}
    import yaml

    (tmp_path / "old.yaml").write_text(yaml.safe_dump(study))
    run_dir = tmp_path / "runs" / "ablations" / "old"
    run_dir.mkdir(parents=True)
    (run_dir / "study.json").write_text(json.dumps({"name": "old", "source": "old.yaml",
                                                    "runs": ["floor__synthetic__seed0", "asma__synthetic__seed0"]}))
    monkeypatch.chdir(tmp_path)
    status = study_status(run_dir)
    assert {r.run: r.epochs for r in status.runs} == {"floor__synthetic__seed0": 0, "asma__synthetic__seed0": 7}
    assert status.epochs_from == "old.yaml (as it is now)"
    (tmp_path / "old.yaml").write_text("name: old\nbase: smoke\nvariants: {asma: {masking.views: [nope]}}\n")
    broken = study_status(run_dir)
    assert all(r.epochs is None for r in broken.runs) and broken.epochs_from.startswith("unknown (old.yaml does not load")
    (tmp_path / "old.yaml").unlink()
    assert all(r.epochs is None for r in study_status(run_dir).runs)


def test_status_names_a_folder_that_is_neither_a_study_nor_a_search(tmp_path, capsys):
    assert main(["status", str(tmp_path)]) == 2
    assert "neither a study folder (no study.json) nor a search folder" in " ".join(capsys.readouterr().err.split())
    (tmp_path / "study.json").write_text("{}")
    assert main(["status", str(tmp_path)]) == 2
    assert "not an ablation study folder (no readable study.json with runs)" in " ".join(capsys.readouterr().err.split())


def write_pool_run(folder: Path, epoch_times: list[float], checkpoint: int | None, age_s: float = 0.0) -> Path:
    """A LocalRuntime folder as `asma pool` leaves it: a metrics.jsonl line per epoch (the last
    one cut off, as a kill mid-write leaves it) and checkpoints/latest.json naming the newest checkpoint."""
    (folder / "checkpoints").mkdir(parents=True)
    lines = [json.dumps({"loss": 1.0, "epoch": e, "epoch_time_s": t}) for e, t in enumerate(epoch_times, start=1)]
    (folder / "metrics.jsonl").write_text("\n".join(lines) + '\n{"loss": 1.0, "ep')
    if checkpoint is not None:
        (folder / "checkpoints" / "latest.json").write_text(json.dumps({"path": f"epoch_{checkpoint:04d}.pt",
                                                                        "epoch": checkpoint}))
    stamp = time.time() - age_s
    os.utime(folder / "metrics.jsonl", (stamp, stamp))
    return folder


def test_a_pool_run_s_folder_gives_its_last_epoch_checkpoint_and_median_epoch_time(tmp_path):
    run = read_local_run(write_pool_run(tmp_path / "r", [30.0, 28.0, 29.0, 90.0], checkpoint=3))
    assert (run.epoch, run.checkpoint_epoch, run.seconds_per_epoch, run.error) == (4, 3, 29.5, None)
    assert read_run_folder(tmp_path / "r") == run  # told from a Tune trial folder by its files
    assert read_run_folder(write_trial(tmp_path / "t", [10.0], kept=(1,))).checkpoint_epoch == 1
    fresh = read_local_run(write_pool_run(tmp_path / "f", [], checkpoint=None))
    assert (fresh.epoch, fresh.checkpoint_epoch, fresh.seconds_per_epoch) == (0, 0, None)


def test_runs_the_pool_trains_count_when_status_is_given_its_work_folder(tmp_path, capsys):
    """A run stopped under Tune (its last trial slow and quiet) that the pool now trains in --work:
    without --work it reads as stopped at its Tune checkpoint; with it, running at the pool's epoch and
    pace. A pool run quiet past the stale limit is stopped at its checkpoint; another study's is not read."""
    run_dir = make_study(tmp_path)
    work = tmp_path / "pool"
    write_pool_run(work / "s" / "m__d__seed3", [8.0] * 7, checkpoint=7)  # newer than its Tune trial
    write_pool_run(work / "s" / "m__e__seed0", [20.0] * 3, checkpoint=2, age_s=2 * STALE_AFTER_S)
    write_pool_run(work / "other" / "m__d__seed4", [8.0] * 9, checkpoint=9)
    before = {r.run: r for r in study_status(run_dir).runs}
    assert (before["m__d__seed3"].state, before["m__d__seed3"].resumes_from) == ("stopped", 5)
    assert before["m__e__seed0"].state == "pending"
    runs = {r.run: r for r in study_status(run_dir, work=work).runs}
    assert (runs["m__d__seed3"].state, runs["m__d__seed3"].epoch) == ("running", 7)
    assert runs["m__d__seed3"].remaining_s == pytest.approx((10 - 7) * 8 + 7)  # at its own 8 s an epoch
    assert (runs["m__e__seed0"].state, runs["m__e__seed0"].resumes_from) == ("stopped", 2)
    assert runs["m__e__seed0"].remaining_s == pytest.approx((10 - 2) * 20)  # the pool's epochs on set e
    assert runs["m__d__seed4"].state == "failed"  # the other study's pool run is not this one
    assert main(["status", str(run_dir), "--work", str(work)]) == 0
    assert "4 done, 2 running, 1 stopped, 1 failed, 1 pending" in " ".join(capsys.readouterr().out.split())
    assert main(["status", str(run_dir), "--work", str(tmp_path / "nowhere")]) == 2
    assert "no such folder (--work)" in " ".join(capsys.readouterr().err.split())


def make_search(tmp_path: Path) -> Path:
    """A search of 8 trials (budget 10, 5 epochs each) as OptunaSearch leaves it: one complete, one
    stopped at its rung (COMPLETE in Optuna, a per-epoch metric), one pruned, one running, one
    RUNNING whose folder went quiet, one repeat; each with its Tune trial folder."""
    run_dir = tmp_path / "tune" / "q"
    run_dir.mkdir(parents=True)
    space = {"metric": "knn_top1", "mode": "max", "scheduler": "asha",
             "budget": {"trials": 10, "epochs": 5, "grace_period": 1, "reduction_factor": 2}}
    (run_dir / "space.json").write_text(json.dumps({"name": "q", "space": space}))
    (run_dir / "budget.json").write_text(json.dumps({"trials": 12}))
    (run_dir / "study.json").write_text(json.dumps({"study_name": "q", "url": None}))
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(run_dir / "study.journal")))
    study = optuna.create_study(study_name="q", storage=storage, direction="maximize")
    plan = [("t0", 5, 0, optuna.trial.TrialState.COMPLETE, 40.0), ("t1", 1, 0, optuna.trial.TrialState.COMPLETE, 55.0),
            ("t2", 1, 0, optuna.trial.TrialState.PRUNED, None), ("t3", 3, 0, None, None),
            ("t4", 2, 2 * STALE_AFTER_S, None, None), ("t5", 0, 0, optuna.trial.TrialState.FAIL, None),
            ("t6", 5, 0, optuna.trial.TrialState.COMPLETE, 45.0)]
    for tune_id, epochs, age, state, value in plan:
        trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
        trial.set_user_attr("tune_trial_id", tune_id)
        if tune_id == "t5":
            trial.set_user_attr("repeat_of", 0)
        if epochs:
            write_trial(run_dir / "experiment" / f"trial_{tune_id}", [2.0] * epochs, kept=(epochs,), age_s=age)
        if state is not None:
            study.tell(trial, value, state=state)
    return run_dir


def test_a_search_s_trials_are_read_from_its_optuna_study_and_trial_folders(tmp_path):
    status = search_status(make_search(tmp_path))
    assert [t.state for t in status.trials] == ["complete", "stopped early", "stopped early", "running",
                                                "stopped", "repeat", "complete"]
    assert [t.epoch for t in status.trials] == [5, 1, 1, 3, 2, 0, 5]
    assert status.trials[5].repeat_of == 0 and status.trials[4].resumes_from == 2
    assert status.budget == 12 and status.epochs == 5 and status.epochs_spent == 17 and status.started == 6
    # the best is a full-budget trial: 55.0 was read at the rung that stopped its trial
    assert [(t.number, t.values) for t in status.best()] == [(6, [45.0])]


def test_asha_s_rungs_and_the_epochs_a_trial_is_expected_to_train_still():
    assert asha_rungs(20, 200, 3) == [20, 60, 180] and asha_rungs(1, 5, 2) == [1, 2, 4]
    # each rung keeps a third: all train 20 epochs, a third the next 40, a ninth 120, a 27th the last 20
    assert expected_epochs_left(0, 200, [20, 60, 180], 3) == pytest.approx(20 + 40 / 3 + 120 / 9 + 20 / 27)
    assert expected_epochs_left(30, 200, [20, 60, 180], 3) == pytest.approx(30 + 120 / 3 + 20 / 9)
    assert expected_epochs_left(200, 200, [20, 60, 180], 3) == 0
    assert expected_epochs_left(30, 200, [], 3) == 170  # FIFO: every epoch


def test_a_search_s_time_to_go_counts_its_unstarted_and_unfinished_trials(tmp_path):
    status = search_status(make_search(tmp_path))
    # rungs 1, 2, 4 of 5 epochs, half kept at each: the running trial (epoch 3) 1 + 1/2 epochs, the
    # stopped one (checkpoint at 2) 2 + 1/2, each of the 12 - 6 unstarted 1 + 1/2 + 2/4 + 1/8; 2 s an epoch
    assert status.remaining_s == pytest.approx((1.5 + 2.5 + 6 * 2.125) * 2.0)


def test_status_prints_a_study_and_a_search(tmp_path, capsys):
    assert main(["status", str(make_study(tmp_path)), str(make_search(tmp_path)), "--concurrency", "2"]) == 0
    out = capsys.readouterr().out
    assert "study s: 9 runs: 4 done, 1 running, 1 stopped, 1 failed, 2 pending" in " ".join(out.split())
    assert "failed m__d__seed4: RuntimeError: boom" in out
    assert "search q: 6 of 12 trials started" in out  # the repeat ran nothing of the budget
    # trials by Tune's id, as summary.md names them (Optuna's number beside it)
    assert "best (knn_top1, full budget): t6 45" in " ".join(out.split())
    assert "repeat of t0" in out and "#6" not in out


def test_status_and_report_say_what_they_take_when_given_a_pretrain_run(tmp_path, capsys):
    run = tmp_path / "runs" / "synth_demo"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("name: synth_demo\n")
    (run / "metrics.jsonl").write_text("")
    for command in ("status", "report"):
        assert main([command, str(run)]) == 2
        err = " ".join(capsys.readouterr().err.split())
        assert "it is a run folder of `asma pretrain`" in err and f"asma eval {run}" in err
        assert f"`asma {command}` takes" in err and "runs/ablations/quick" in err


def test_a_distillation_search_s_budget_is_its_base_config_s_distill_epochs(tmp_path):
    """A distillation space leaves budget.epochs out: each trial trains the base's distill.epochs,
    not (as read before) the most epochs any trial has reached so far."""
    run_dir = make_search(tmp_path)
    saved = json.loads((run_dir / "space.json").read_text())
    saved["space"].update(task="distill", scheduler="fifo")
    saved["space"]["budget"]["epochs"] = None
    saved["base"] = {"distill": {"epochs": 150}, "train": {"epochs": 200}}
    (run_dir / "space.json").write_text(json.dumps(saved))
    status = search_status(run_dir)
    assert status.epochs == 150
    assert [t.state for t in status.trials][:2] == ["stopped early", "stopped early"]  # 5 and 1 of 150 epochs
