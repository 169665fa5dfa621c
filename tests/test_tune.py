"""`asma tune` end to end on a local Ray: Optuna proposes, ASHA stops trials, results survive a resume,
and the Optuna study the search wrote opens with `optuna.load_study` and optuna-dashboard."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pytest
import yaml
from rich.console import Console

from asma.search.space import load_space
from asma.search.summary import write_summary
from asma.search.tuner import run_search

pytestmark = pytest.mark.slow


def space_file(tmp_path: Path, cache: Path, **changes) -> Path:
    raw = {
        "base": "smoke",
        # one step per epoch and a small batch: each epoch is its kNN proxy plus a step
        "overrides": {"out_dir": str(tmp_path / "runs"), "data.cache_dir": str(cache), "data.split": "xsub_val",
                      "train.batch_size": 16,
                      "train.max_steps_per_epoch": 1},
        "params": {
            "masking.specs.a.joints.ratio": {"type": "float", "low": 0.1, "high": 0.6},
            "masking.specs.a.joints.mode": {"type": "categorical", "choices": ["degree", "threshold"]},
            "masking.specs.a.joints.degree_power": {"type": "float", "low": 0.5, "high": 4.0, "log": True,
                                                    "when": {"masking.specs.a.joints.mode": "degree"}},
            "optim.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
        },
        "budget": {"trials": 6, "epochs": 3, "grace_period": 1, "reduction_factor": 3},
        "seed": 7,
    }
    raw.update(changes)
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("synthetic_cache")


def trial_reports(run_dir: Path) -> dict[str, int]:
    """{trial folder: number of results it reported} from Tune's result.json files."""
    return {p.parent.name: len(p.read_text().splitlines()) for p in (run_dir / "experiment").glob("trial_*/result.json")}


def journal_study(run_dir: Path, name: str) -> optuna.Study:
    """The study as optuna-dashboard opens the journal file: a JournalStorage on it, loaded by name."""
    backend = optuna.storages.journal.JournalFileBackend(str(run_dir / "study.journal"))
    return optuna.load_study(study_name=name, storage=optuna.storages.JournalStorage(backend))


def by_tune_id(study: optuna.Study) -> dict[str, optuna.trial.FrozenTrial]:
    return {t.user_attrs["tune_trial_id"]: t for t in study.trials}


@pytest.fixture(scope="module")
def masking_search(ray_session, tmp_path_factory, cache):
    """Six trials of a conditional masking space, ASHA on: (space, outcome, summary)."""
    space = load_space(space_file(tmp_path_factory.mktemp("masking"), cache))
    outcome = run_search(space, concurrency=2, console=Console(quiet=True))
    return space, outcome, write_summary(outcome.results, space, outcome.run_dir)


def test_search_proposes_stops_early_and_writes_results(masking_search):
    space, outcome, summary = masking_search

    trials = summary["trials"]
    assert len(trials) == 6 and summary["compute"]["errors"] == 0
    # Optuna proposed distinct configs, each with its condition respected
    assert len({json.dumps(t["params"], sort_keys=True) for t in trials}) == 6
    for t in trials:
        assert ("masking.specs.a.joints.degree_power" in t["params"]) == (t["params"]["masking.specs.a.joints.mode"] == "degree")
    # ASHA (grace 1, factor 3: a rung at epoch 1 keeps the top third) stopped trials before epoch 3
    stopped = [t for t in trials if t["status"] == "stopped early"]
    assert stopped and all(t["epochs"] < 3 for t in stopped)
    assert any(t["epochs"] == 3 for t in trials)
    assert summary["compute"]["epochs"] == sum(t["epochs"] for t in trials) < 6 * 3
    # the proxy was measured at ASHA's rungs (epochs 1 and 3) only, and carried between them
    for t in trials:
        assert [e for e, _ in t["curve"]] == [e for e in (1, 3) if e <= t["epochs"]]
        assert t["curve"][-1][1] == pytest.approx(t["metrics"]["knn_top1"])
    # the best trial ran the whole budget, and its config is the base with its params
    best = summary["best"]
    assert best["status"] == "done"
    assert best["metrics"]["knn_top1"] == max(t["metrics"]["knn_top1"] for t in trials if t["status"] == "done")
    cfg = yaml.safe_load((outcome.run_dir / "summary" / "best_config.yaml").read_text())
    assert cfg["masking"]["specs"]["a"]["joints"]["ratio"] == pytest.approx(best["params"]["masking.specs.a.joints.ratio"])
    for name in ("summary.md", "summary.json", "history.png", "importances.png"):
        assert (outcome.run_dir / "summary" / name).stat().st_size > 0
    assert set(summary["importances"]) <= set(space.params)
    import csv

    table = list(csv.DictReader((outcome.run_dir / "summary" / "trials.csv").open()))
    assert [r["trial"] for r in table] == [t["trial_id"] for t in trials]
    assert [r["status"] for r in table] == [t["status"] for t in trials]
    assert float(table[0]["knn_top1"]) == pytest.approx(trials[0]["metrics"]["knn_top1"])
    # the rank agreement covers the epochs the full-budget trials measured (1 and 3)
    assert [a["epoch"] for a in summary["proxy_agreement"]] == [1, 3]


def test_the_search_is_an_optuna_study_in_a_journal_file(masking_search):
    space, outcome, summary = masking_search
    study = journal_study(outcome.run_dir, space.name)
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE and study.metric_names == ["knn_top1"]
    # one Optuna trial per Tune trial, never one more: each told with the trial's last kNN top-1,
    # and every epoch's value reported (what optuna-dashboard plots as intermediate values)
    trials = by_tune_id(study)
    assert sorted(t.number for t in study.trials) == list(range(6))
    assert set(trials) == {t["trial_id"] for t in summary["trials"]}
    for row in summary["trials"]:
        trial = trials[row["trial_id"]]
        assert trial.state == optuna.trial.TrialState.COMPLETE
        assert trial.value == pytest.approx(row["metrics"]["knn_top1"])
        assert sorted(trial.intermediate_values) == list(range(1, row["epochs"] + 1))
        assert trial.intermediate_values[row["epochs"]] == pytest.approx(row["metrics"]["knn_top1"])
        assert trial.params == pytest.approx(row["params"])
    text = (outcome.run_dir / "summary" / "summary.md").read_text()
    assert f"optuna-dashboard {outcome.run_dir / 'study.journal'}" in text


def test_status_reads_the_search_as_its_summary_does(masking_search):
    """`asma status` on a real search folder: each trial's state and epochs as the summary (from Tune's
    results) has them, and the same best trial."""
    from asma.reports.search_status import search_status

    space, outcome, summary = masking_search
    status = search_status(outcome.run_dir)
    by_number = {journal_study(outcome.run_dir, space.name).trials[t.number].user_attrs["tune_trial_id"]: t
                 for t in status.trials}
    assert set(by_number) == {t["trial_id"] for t in summary["trials"]}
    for row in summary["trials"]:
        trial = by_number[row["trial_id"]]
        assert trial.epoch == row["epochs"]
        assert trial.state == {"done": "complete", "stopped early": "stopped early"}[row["status"]]
    assert status.epochs_spent == summary["compute"]["epochs"]
    [best] = status.best()
    assert best.values[0] == pytest.approx(summary["best"]["metrics"]["knn_top1"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, timeout_s: float = 30.0, server: subprocess.Popen | None = None) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read())
        except OSError:
            if time.monotonic() > deadline or (server is not None and server.poll() is not None):
                raise
            time.sleep(0.3)


def test_optuna_dashboard_serves_the_search_on_loopback(masking_search):
    pytest.importorskip("optuna_dashboard", reason="optuna-dashboard is optional: pip install -e '.[dashboard]'")
    space, outcome, summary = masking_search
    command = Path(sys.executable).with_name("optuna-dashboard")
    port = free_port()
    server = subprocess.Popen([str(command), str(outcome.run_dir / "study.journal"), "--host", "127.0.0.1",
                               "--port", str(port), "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        studies = get_json(f"http://127.0.0.1:{port}/api/studies", server=server)["study_summaries"]
        assert [s["study_name"] for s in studies] == [space.name]
        detail = get_json(f"http://127.0.0.1:{port}/api/studies/{studies[0]['study_id']}")
    finally:
        server.terminate()
        server.wait(timeout=30)
    tune_id = {t["number"]: {a["key"]: a["value"] for a in t["user_attrs"]}["tune_trial_id"] for t in detail["trials"]}
    values = {tune_id[t["number"]]: t["values"] for t in detail["trials"]}
    assert values.keys() == {t["trial_id"] for t in summary["trials"]}
    for row in summary["trials"]:
        assert values[row["trial_id"]] == [pytest.approx(row["metrics"]["knn_top1"])]
    assert {t["state"] for t in detail["trials"]} == {"Complete"} and detail["has_intermediate_values"]


def test_resume_to_a_larger_budget_repeats_no_finished_trial(ray_session, tmp_path, cache, monkeypatch):
    """...and runs as many trials at a time as the resume is told: Tune keeps the concurrency a
    search was started with in its saved state, which asma rewrites (asma.experiments.tune_restore)."""
    import asma.search.tuner as tuner
    from asma.experiments.tune_restore import saved_concurrency

    running: list[int] = []
    progress = tuner.ProgressCallback.on_trial_result

    def count_running(self, iteration, trials, trial, result, **info):
        progress(self, iteration, trials, trial, result, **info)
        running.append(sum(t.status == "RUNNING" for t in trials))

    monkeypatch.setattr(tuner.ProgressCallback, "on_trial_result", count_running)
    path = space_file(tmp_path, cache, budget={"trials": 2, "epochs": 2}, scheduler="fifo")
    first = run_search(load_space(path), console=Console(quiet=True))  # 2 at a time by default
    assert max(running) == 2 and saved_concurrency(first.run_dir / "experiment") == 2
    before = trial_reports(first.run_dir)
    assert sorted(before.values()) == [2, 2]
    assert len(journal_study(first.run_dir, "space").trials) == 2
    texts = {name: (first.run_dir / "experiment" / name / "result.json").read_text() for name in before}

    with pytest.raises(Exception, match="--resume"):  # the same search again without --resume is refused
        run_search(load_space(path), console=Console(quiet=True))
    running.clear()
    again = run_search(load_space(path, trials=4), resume=True, concurrency=1, console=Console(quiet=True))
    assert running and max(running) == 1 and saved_concurrency(again.run_dir / "experiment") == 1
    after = trial_reports(again.run_dir)
    assert again.resumed and len(after) == 4 and set(before) < set(after)
    for name in before:  # finished trials are kept as they were, not run again
        assert after[name] == before[name]
        assert (again.run_dir / "experiment" / name / "result.json").read_text() == texts[name]
    assert all(n == 2 for n in after.values())
    summary = write_summary(again.results, load_space(path, trials=4), again.run_dir)
    assert len(summary["trials"]) == 4
    # the same Optuna study goes on: 2 + 2 trials, numbered on, each told once
    study = journal_study(again.run_dir, "space")
    assert sorted(t.number for t in study.trials) == [0, 1, 2, 3]
    assert set(by_tune_id(study)) == {name.removeprefix("trial_") for name in after}
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    for row in summary["trials"]:
        assert by_tune_id(study)[row["trial_id"]].value == pytest.approx(row["metrics"]["knn_top1"])


def test_a_search_of_a_finite_space_runs_each_point_once_and_ends_when_all_have_run(ray_session, tmp_path, cache):
    """`repeats: skip` (the default): TPE's fourth proposal in a 3-point space can only repeat one of
    the first three, so it is told as failed (`repeat_of`) and the search ends at 3 trials, not 5."""
    path = space_file(tmp_path, cache, params={"masking.specs.a.joints.ratio": {"type": "categorical",
                                                                                "choices": [0.2, 0.4, 0.6]}},
                      budget={"trials": 5, "epochs": 1}, scheduler="fifo")
    outcome = run_search(load_space(path), concurrency=1, console=Console(quiet=True))
    summary = write_summary(outcome.results, load_space(path), outcome.run_dir)
    ratios = [t["params"]["masking.specs.a.joints.ratio"] for t in summary["trials"]]
    assert sorted(ratios) == [0.2, 0.4, 0.6]
    study = journal_study(outcome.run_dir, "space")
    repeats = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
    assert repeats and all("repeat_of" in t.user_attrs for t in repeats)
    assert len([t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]) == 3


def test_a_search_on_the_final_linear_probe_stops_trials_on_the_knn_and_ranks_the_finished_ones(
        ray_session, tmp_path, cache):
    """metric: eval/linear comes with a trial's last epoch only; ASHA stops trials on the per-epoch kNN
    meanwhile, and a stopped trial has no linear probe (told to Optuna as pruned)."""
    path = space_file(tmp_path, cache, metric="eval/linear", evaluate=["linear"], schedule_metric="knn_top1",
                      budget={"trials": 4, "epochs": 3, "grace_period": 1, "reduction_factor": 3})
    space = load_space(path)
    outcome = run_search(space, concurrency=2, console=Console(quiet=True))
    summary = write_summary(outcome.results, space, outcome.run_dir)
    assert len(summary["trials"]) == 4 and not summary["compute"]["errors"]
    for trial in summary["trials"]:
        assert (trial["metrics"]["eval/linear"] is not None) == (trial["status"] == "done"), trial
    done = [t for t in summary["trials"] if t["status"] == "done"]
    assert done and summary["best"]["trial_id"] in {t["trial_id"] for t in done}
    study = journal_study(outcome.run_dir, "space")
    states = {t.user_attrs["tune_trial_id"]: t.state for t in study.trials}
    for trial in summary["trials"]:
        wanted = optuna.trial.TrialState.COMPLETE if trial["status"] == "done" else optuna.trial.TrialState.PRUNED
        assert states[trial["trial_id"]] == wanted


def test_multi_objective_search_runs_fifo_and_writes_a_pareto_front(ray_session, tmp_path, cache):
    """NSGA-II, as the shipped multi-objective spaces search: Tune pickles it with the searcher."""
    params = {"encoder.base_channels": {"type": "categorical", "choices": [4, 8, 16]},
              "encoder.depth": {"type": "int", "low": 2, "high": 4}}
    space = load_space(space_file(tmp_path, cache, params=params, metric=["knn_top1", "encoder_params"],
                                  mode=["max", "min"], sampler="nsga2", budget={"trials": 3, "epochs": 1}))
    url = f"sqlite:///{tmp_path / 'searches.db'}"  # --storage: the study in an RDB instead of the journal
    outcome = run_search(space, concurrency=2, console=Console(quiet=True), storage=url)
    summary = write_summary(outcome.results, space, outcome.run_dir)
    assert summary["scheduler"].startswith("FIFO") and summary["compute"]["stopped_early"] == 0
    sizes = {t["trial_id"]: t["metrics"]["encoder_params"] for t in summary["trials"]}
    assert all(s > 0 for s in sizes.values())
    front = summary["pareto"]
    assert front and min(sizes.values()) in [t["metrics"]["encoder_params"] for t in front]
    assert (outcome.run_dir / "summary" / "pareto.png").stat().st_size > 0
    study = optuna.load_study(study_name=space.name, storage=url)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert study.metric_names == ["knn_top1", "encoder_params"]
    assert not (outcome.run_dir / "study.journal").exists()
    for row in summary["trials"]:
        trial = by_tune_id(study)[row["trial_id"]]
        assert trial.values == pytest.approx([row["metrics"]["knn_top1"], row["metrics"]["encoder_params"]])
    assert {t.number for t in study.best_trials} == {by_tune_id(study)[t["trial_id"]].number for t in front}


def test_a_trial_with_two_workers_launches_a_torch_trainer_inside_the_trial(ray_session, tmp_path, cache):
    params = {"masking.specs.a.joints.ratio": {"type": "float", "low": 0.1, "high": 0.6}}
    space = load_space(space_file(tmp_path, cache, params=params, scheduler="fifo", budget={"trials": 1, "epochs": 2},
                                  resources={"cpus": 1, "gpus": 0, "workers": 2}))
    outcome = run_search(space, concurrency=1, console=Console(quiet=True))
    (result,) = list(outcome.results)
    assert result.error is None and result.metrics["workers"] == 2
    assert result.metrics["training_iteration"] == 2 and result.metrics["encoder_params"] > 0
    trial_dir = Path(result.path)
    assert (trial_dir / "ray_train" / "train").is_dir()  # the TorchTrainer's storage lives in the trial
    assert len((trial_dir / "train" / "metrics.jsonl").read_text().splitlines()) == 2


def test_a_distillation_search_trains_students_of_one_teacher_and_keeps_their_costs(ray_session, tmp_path, cache):
    """`task: distill`: each trial distils the same pretrained run into its own student size; every epoch
    reports the student's top-1, and the trial's constants (parameters, FLOPs, latency, the teacher's
    probe) come with each report. The smaller student has fewer parameters and FLOPs."""
    from asma.config import load_config
    from asma.evaluation.proxy import proxy_knn
    from asma.training.local import pretrain_locally

    teacher = tmp_path / "teacher"
    pretrain_locally(load_config("smoke", [f"data.cache_dir={cache}", "train.epochs=1", "train.max_steps_per_epoch=1",
                                           "train.batch_size=16"]), teacher, quiet=True, proxy=proxy_knn)
    params = {"student.base_channels": {"type": "categorical", "choices": [4, 8]},
              "student.depth": {"type": "int", "low": 2, "high": 3}}
    raw = space_file(tmp_path, cache, task="distill", params=params, metric=["student_top1", "student_params"],
                     mode=["max", "min"], sampler="grid", budget={"trials": 4, "epochs": 2})
    overrides = {**yaml.safe_load(raw.read_text())["overrides"], "distill.teacher": str(teacher),
                 "distill.batch_size": 16, "student.window": 12, "student.feature_dim": 16, "eval.epochs": 20}
    overrides.pop("train.max_steps_per_epoch")
    raw.write_text(yaml.safe_dump({**yaml.safe_load(raw.read_text()), "overrides": overrides}, sort_keys=False))
    space = load_space(raw)
    outcome = run_search(space, concurrency=2, console=Console(quiet=True))
    summary = write_summary(outcome.results, space, outcome.run_dir)
    assert all(n == 2 for n in trial_reports(outcome.run_dir).values()) and len(summary["trials"]) == 4
    results = {(r.config["student.base_channels"], r.config["student.depth"]): r.metrics for r in outcome.results}
    assert set(results) == {(4, 2), (4, 3), (8, 2), (8, 3)}
    for m in results.values():
        assert 0 <= m["student_top1"] <= 100 and m["student_latency_ms"] > 0
        assert m["teacher_params"] > m["student_params"] > 0
    assert results[(4, 2)]["student_params"] < results[(8, 2)]["student_params"] < results[(8, 3)]["student_params"]
    assert results[(4, 2)]["student_mflops"] < results[(8, 3)]["student_mflops"]
    assert len({m["teacher_top1"] for m in results.values()}) == 1  # one teacher, probed alike in every trial
    study = journal_study(outcome.run_dir, space.name)
    assert study.metric_names == ["student_top1", "student_params"] and len(study.trials) == 4
    assert summary["pareto"] and (outcome.run_dir / "summary" / "pareto.png").stat().st_size > 0


def test_a_search_whose_experiment_is_gone_continues_from_its_study(ray_session, tmp_path, cache):
    """A fresh machine keeps the search folder's small files (study journal, summary) but not Tune's
    experiment: --resume keeps the finished trials, runs an interrupted one's point again from the
    start, and runs only the rest of the budget."""
    import shutil

    path = space_file(tmp_path, cache, metric="eval/linear", evaluate=["linear"], schedule_metric="knn_top1",
                      budget={"trials": 3, "epochs": 3, "grace_period": 1, "reduction_factor": 3})
    first = run_search(load_space(path), concurrency=1, console=Console(quiet=True))
    before = write_summary(first.results, load_space(path), first.run_dir)
    study = journal_study(first.run_dir, "space")
    for trial in study.trials:  # what the searcher recorded lets the study alone say how far each got
        row = next(r for r in before["trials"] if r["trial_id"] == trial.user_attrs["tune_trial_id"])
        assert trial.user_attrs["epochs"] == row["epochs"] and trial.user_attrs["proxy_curve"] == row["curve"]
    # a trial running when the machine went: RUNNING in the study, its folder gone with the experiment
    point = {"masking.specs.a.joints.ratio": 0.5, "masking.specs.a.joints.mode": "degree",
             "masking.specs.a.joints.degree_power": 1.5, "optim.lr": 1e-3}
    study.enqueue_trial(point)
    interrupted = study.ask({
        "masking.specs.a.joints.ratio": optuna.distributions.FloatDistribution(0.1, 0.6),
        "masking.specs.a.joints.mode": optuna.distributions.CategoricalDistribution(["degree", "threshold"]),
        "masking.specs.a.joints.degree_power": optuna.distributions.FloatDistribution(0.5, 4.0, log=True),
        "optim.lr": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)})
    assert interrupted.params == point
    interrupted.set_user_attr("tune_trial_id", "gone0001")
    shutil.rmtree(first.run_dir / "experiment")

    again = run_search(load_space(path, trials=5), resume=True, concurrency=1, console=Console(quiet=True))
    assert not again.resumed and len(trial_reports(again.run_dir)) == 2  # only the budget's rest ran
    summary = write_summary(again.results, load_space(path, trials=5), again.run_dir)
    assert [r["trial_id"] for r in summary["trials"][:3]] == [r["trial_id"] for r in before["trials"]]
    assert summary["trials"][:3] == before["trials"] and len(summary["trials"]) == 5
    study = journal_study(again.run_dir, "space")
    assert study.trials[interrupted.number].state == optuna.trial.TrialState.FAIL
    assert study.user_attrs["lost"] == [interrupted.number]
    rerun = [t for t in study.trials if t.number > interrupted.number and t.params == interrupted.params]
    assert len(rerun) == 1 and rerun[0].state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    # the continued sampler does not draw the first search's start-up points again
    assert not [t for t in study.trials[interrupted.number + 1:]
                if any(t.params == e.params for e in study.trials[:interrupted.number])]
    assert json.loads((again.run_dir / "budget.json").read_text()) == {"trials": 5, "earlier": 3}
    # asma status: the earlier trials' folders are gone, their epochs come from the study; the lost one says so
    from asma.reports.search_status import search_status

    status = {t.number: t for t in search_status(again.run_dir).trials}
    assert status[interrupted.number].state == "lost"
    for trial in study.trials[:3]:
        row = next(r for r in before["trials"] if r["trial_id"] == trial.user_attrs["tune_trial_id"])
        assert status[trial.number].epoch == row["epochs"]
        assert status[trial.number].state == ("complete" if row["status"] == "done" else "stopped early")
    # the continued experiment resumes as any other; the budget spent, nothing more runs
    last = run_search(load_space(path, trials=5), resume=True, concurrency=1, console=Console(quiet=True))
    assert last.resumed and len(trial_reports(last.run_dir)) == 2
    assert len(write_summary(last.results, load_space(path, trials=5), last.run_dir)["trials"]) == 5
