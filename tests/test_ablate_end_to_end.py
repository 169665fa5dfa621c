"""A tiny real ablation through Ray Tune: 2 variants x 2 seeds on the synthetic set, then the report;
a study of the supervised recipe alone (no pretraining);
re-running skips finished runs. (A killed driver's --resume: tests/test_cluster_faults.py.)"""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from asma.ablation.runner import run_study
from asma.ablation.study_file import load_study
from asma.reports.report import write_report

pytestmark = pytest.mark.slow


def tiny_study(tmp_path: Path, epochs: int = 1) -> Path:
    study = {
        "name": "tiny",
        "base": "smoke",
        "overrides": {"data.cache_dir": str(tmp_path / "cache"), "train.max_steps_per_epoch": 2,
                      "data.synthetic.samples_per_class": 12},
        "variants": {"pstl": {"masking.views": ["pstl"]}, "asma": {"masking.views": ["a", "b"], "default": True}},
        "factors": [{"name": "strategy", "variants": ["pstl", "asma"]}],
        "seeds": 2,
        "protocols": ["knn"],
        "budget": {"epochs": epochs},
        "resources": {"cpus": 1},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def finished(ray_session, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ablate")
    study = load_study(tiny_study(tmp))
    outcome = run_study(study, out_dir=tmp / "out")
    return study, outcome, write_report(outcome.run_dir)


def test_every_run_finishes_with_a_result(finished):
    study, outcome, files = finished
    assert outcome.run_dir.name == "tiny" and outcome.run_dir.parent.name == "ablations"
    assert sorted(outcome.finished) == sorted(r.run_id for r in study.runs()) and not outcome.failed
    for run in study.runs():
        record = json.loads((outcome.run_dir / "runs" / f"{run.run_id}.json").read_text())
        assert record["machine"]["cpus"] >= 1 and record["machine"]["load_start"] >= 0  # what ran beside it
        assert record["machine"]["cpu"]["capability"] == torch.backends.cpu.get_cpu_capability()  # and on what
    # two at a time, the later trials ran in the processes the first two left (TuneConfig(reuse_actors=True))
    pids = {json.loads(line)["pid"] for trial in (outcome.run_dir / "tune").glob("*/result.json")
            for line in trial.read_text().splitlines()}
    assert 1 <= len(pids) < len(study.runs()), pids


def test_report_and_csv_hold_what_each_run_s_protocol_wrote(finished):
    """The table's mean ± std and the CSV's values are recomputed from each run's own evaluation
    file (evals/<run>.json, written by the kNN protocol), not from the records the report reads."""
    study, outcome, files = finished
    knn = {run.run_id: json.loads((outcome.run_dir / "evals" / f"{run.run_id}.json").read_text())["protocols"]["knn"]["top1"]
           for run in study.runs()}
    by_variant = {v: [knn[r.run_id] for r in study.runs() if r.variant == v] for v in ("pstl", "asma")}
    assert all(len(values) == 2 for values in by_variant.values())
    rows = list(csv.DictReader(files.csv.open()))
    assert {r["run"]: float(r["knn"]) for r in rows} == pytest.approx(knn, abs=1e-6)
    assert all(float(r["load_end"]) >= 0 and r["reused_from"] == "" for r in rows)
    text = files.markdown.read_text()
    table = [line for line in text.split("## strategy", 1)[1].splitlines() if line.startswith("| ")][2:4]
    cells = {line.split(" | ")[0].strip("| "): line.split(" | ")[1].strip(" |") for line in table}
    assert set(cells) == {"pstl", "asma *(default)*"}
    means = {}
    for variant, label in (("pstl", "pstl"), ("asma", "asma *(default)*")):
        values = by_variant[variant]
        means[variant] = np.mean(values)
        assert cells[label].strip("*") == f"{np.mean(values):.1f} ± {np.std(values, ddof=1):.1f}"
    best = max(means, key=means.get)
    best_label = "asma *(default)*" if best == "asma" else "pstl"
    assert cells[best_label].startswith("**") and not cells[({"pstl", "asma *(default)*"} - {best_label}).pop()].startswith("**")
    assert "2 seeds (0, 1)" in text


def test_status_reads_the_finished_study_from_its_folder(finished):
    """`asma status` on a real study folder: every run done with the metrics its record holds, the
    epochs each run pretrained recorded in study.json, nothing left to go."""
    from asma.reports.study_status import study_status

    study, outcome, _ = finished
    status = study_status(outcome.run_dir)
    assert status.epochs_from == "study.json" and status.count("done") == len(study.runs()) == 4
    for run in status.runs:
        record = json.loads((outcome.run_dir / "runs" / f"{run.run}.json").read_text())
        assert run.metrics == record["metrics"] and run.epochs == record["pretrain"]["epochs"] == 1
    assert status.remaining_s == 0 and not status.unestimated


def test_latex_balanced(finished):
    tex = finished[2].latex.read_text()
    assert sorted(re.findall(r"\\begin\{(\w+)\}", tex)) == sorted(re.findall(r"\\end\{(\w+)\}", tex))
    assert all(rule in tex for rule in (r"\toprule", r"\midrule", r"\bottomrule"))


def test_rerun_only_runs_what_is_missing(finished):
    study, outcome, _ = finished
    results = sorted((outcome.run_dir / "runs").glob("*.json"))
    removed = results[0]
    removed.unlink()
    before = {p: p.stat().st_mtime_ns for p in results[1:]}
    again = run_study(study, out_dir=outcome.run_dir.parent.parent)
    assert again.finished == [removed.stem] and sorted(again.skipped) == sorted(p.stem for p in before)
    assert removed.exists() and all(p.stat().st_mtime_ns == t for p, t in before.items())


def test_ctrl_c_during_a_resume_stops_there_and_the_next_resume_trains_each_run_once(ray_session, tmp_path, monkeypatch):
    """A real Ctrl-C (SIGINT from the driver's own progress callback, after a trial's first report)
    during a fresh run and then during `--resume`: each time Tune saves its state and the runner
    stops, with no fresh experiment started over the saved one (which lost an interrupted run's
    checkpoints twice on real_converged: Tune's ResultGrid of an interrupted fit looked complete).
    The next --resume finishes every run, each in its one trial folder of the first experiment."""
    import os
    import signal

    import asma.ablation.runner as runner

    study = load_study(tiny_study(tmp_path, epochs=2))
    out = tmp_path / "out"
    sent = []
    progress = runner.ProgressCallback.on_trial_result

    def interrupt_once(self, iteration, trials, trial, result, **info):
        progress(self, iteration, trials, trial, result, **info)
        if not sent:
            sent.append(result.get("run"))
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(runner.ProgressCallback, "on_trial_result", interrupt_once)
    tune_dir = runner.study_dir(study, out) / runner.TUNE_NAME

    def experiments() -> set[str]:  # trial folders are <run>_<experiment>_<index>
        return {p.name.rsplit("_", 2)[1] for p in tune_dir.iterdir() if p.is_dir()}

    first = run_study(study, out_dir=out, concurrency=1)
    assert sent and len(first.finished) < len(study.runs()) and len(experiments()) == 1
    assert not first.failed and sorted(first.finished + first.interrupted) == sorted(r.run_id for r in study.runs())
    sent.clear()
    second = run_study(study, out_dir=out, resume=True, concurrency=1)
    assert sent and len(first.finished) + len(second.finished) < len(study.runs())
    assert len(experiments()) == 1  # the restored experiment only: no fresh fit after the interruption
    assert not second.failed and second.interrupted
    monkeypatch.undo()
    third = run_study(study, out_dir=out, resume=True, concurrency=1)
    assert not third.failed and not third.interrupted and sorted(first.finished + second.finished + third.finished) == sorted(
        r.run_id for r in study.runs())
    assert len(experiments()) == 1
    assert sorted(p.name.rsplit("_", 2)[0] for p in tune_dir.iterdir() if p.is_dir()) == sorted(
        r.run_id for r in study.runs())  # one trial folder per run


def test_a_resume_runs_as_many_trials_at_a_time_as_it_is_told(ray_session, tmp_path, monkeypatch):
    """A study started one trial at a time and stopped (Ctrl-C) resumes with --concurrency 2: the
    restored experiment runs two trials at once. Tune keeps the concurrency an experiment was started
    with in its saved state, and `Tuner.restore` takes no new one: before asma rewrote the saved
    value, the resume went on one at a time. Without --concurrency a resume keeps the saved one."""
    import os
    import signal

    import asma.ablation.runner as runner
    from asma.experiments.tune_restore import saved_concurrency

    raw = yaml.safe_load(tiny_study(tmp_path, epochs=3).read_text())
    raw["seeds"] = 3  # 6 runs: after the stop, more than two are left
    path = tmp_path / "six.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    study = load_study(path)
    out = tmp_path / "out"
    running: list[int] = []
    progress = runner.ProgressCallback.on_trial_result

    def count_running(self, iteration, trials, trial, result, **info):
        progress(self, iteration, trials, trial, result, **info)
        running.append(sum(t.status == "RUNNING" for t in trials))
        if stop_after_first:
            stop_after_first.clear()
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(runner.ProgressCallback, "on_trial_result", count_running)
    stop_after_first = [True]
    first = run_study(study, out_dir=out, concurrency=1)
    assert first.interrupted and max(running) == 1
    tune_dir = runner.study_dir(study, out) / runner.TUNE_NAME
    assert saved_concurrency(tune_dir) == 1
    running.clear()
    stop_after_first.append(True)
    kept = run_study(study, out_dir=out, resume=True)  # no --concurrency: the saved one
    assert kept.interrupted and max(running) == 1 and saved_concurrency(tune_dir) == 1
    running.clear()
    resumed = run_study(study, out_dir=out, resume=True, concurrency=2)
    assert not resumed.failed and not resumed.interrupted
    assert sorted(first.finished + kept.finished + resumed.finished) == sorted(r.run_id for r in study.runs())
    assert max(running) == 2 and saved_concurrency(tune_dir) == 2


def test_a_supervised_only_study_trains_without_pretraining(ray_session, tmp_path):
    """protocols: [supervised] studies the supervised recipe: no run pretrains, each trains random-init
    encoders with the labels, and two recipes give two different results."""
    raw = yaml.safe_load(tiny_study(tmp_path).read_text())
    raw.update(name="recipe", protocols=["supervised"], seeds=1,
               variants={"adam": {"supervised.optim.optimizer": "adam", "supervised.optim.lr": 0.01},
                         "sgd": {"default": True}},
               factors=[{"name": "recipe", "variants": ["adam", "sgd"]}])
    raw["overrides"].update({"supervised.epochs": 2, "supervised.batch_size": 16})
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    outcome = run_study(load_study(path), out_dir=tmp_path / "out")
    assert sorted(outcome.finished) == ["adam__synthetic__seed0", "sgd__synthetic__seed0"] and not outcome.failed
    records = {r: json.loads((outcome.run_dir / "runs" / f"{r}.json").read_text()) for r in outcome.finished}
    assert all(rec["pretrain"]["epochs"] == 0 and rec["pretrain"]["final_loss"] is None for rec in records.values())
    evals = {r: json.loads((outcome.run_dir / "evals" / f"{r}.json").read_text()) for r in records}
    assert all(set(e["protocols"]) == {"supervised"} and e["protocols"]["supervised"]["epochs"] == 2
               for e in evals.values())
    assert {r: e["config"]["supervised"]["optim"]["optimizer"] for r, e in evals.items()} == {
        "adam__synthetic__seed0": "adam", "sgd__synthetic__seed0": "sgd"}


def test_a_study_distils_a_fixed_teacher_from_another_studys_run(finished, tmp_path):
    """distill.teacher names a finished run's record of the first study: no run pretrains, each
    distils that run's Tune checkpoint into its student and trains the same student from scratch."""
    _, first, _ = finished
    teacher = first.run_dir / "runs" / "asma__synthetic__seed0.json"
    raw = yaml.safe_load(tiny_study(tmp_path).read_text())
    raw.update(name="students", protocols=["distill"], seeds=1,
               variants={"w4": {"default": True}, "w8": {"student.base_channels": 8}},
               factors=[{"name": "student size", "variants": ["w4", "w8"]}])
    raw["overrides"].update({"distill.teacher": str(teacher), "distill.epochs": 2, "distill.batch_size": 16,
                             "student.window": 12, "student.depth": 2, "student.base_channels": 4,
                             "student.feature_dim": 16, "eval.epochs": 10})
    path = tmp_path / "students.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    outcome = run_study(load_study(path), out_dir=tmp_path / "out")
    assert sorted(outcome.finished) == ["w4__synthetic__seed0", "w8__synthetic__seed0"] and not outcome.failed
    records = {r: json.loads((outcome.run_dir / "runs" / f"{r}.json").read_text()) for r in outcome.finished}
    assert all(rec["pretrain"]["epochs"] == 0 for rec in records.values())
    assert all(set(rec["metrics"]) == {"teacher_linear", "student_distilled", "student_scratch"} for rec in records.values())
    assert len({rec["metrics"]["teacher_linear"] for rec in records.values()}) == 1  # one teacher, probed alike
    distilled = {r: json.loads((outcome.run_dir / "evals" / f"{r}.student" / "distill.json").read_text()) for r in records}
    sources = {Path(d["teacher"]["source"]) for d in distilled.values()}
    assert len(sources) == 1 and first.run_dir / "tune" in next(iter(sources)).parents
    assert distilled["w4__synthetic__seed0"]["student"]["parameters"] < distilled["w8__synthetic__seed0"]["student"]["parameters"]
