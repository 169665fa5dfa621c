"""Run tracking (asma/tracking/trackers.py): what each backend writes is read back with that tool's own reader
(TensorBoard's EventAccumulator, MLflow's client on a real file store, W&B's offline record file) and
compared with the run's metrics.jsonl and eval.json, not with the tracker's own view."""
from __future__ import annotations

import importlib.util
import json
import logging
import time
from pathlib import Path

import pytest

from asma.cli.main import main
from asma.config.loading import load_config
from asma.errors import ConfigError
from asma.evaluation.proxy import proxy_knn
from asma.tracking.trackers import TensorBoardTracker, TrackedRun, check_tracking, mlflow_key, open_tracker
from asma.training.local import pretrain_locally

TINY = ["data.window=12", "data.synthetic.num_classes=3", "data.synthetic.samples_per_class=8",
        "encoder.base_channels=4", "encoder.feature_dim=16", "encoder.depth=2", "projector.dim=32",
        "train.batch_size=4", "train.max_steps_per_epoch=2", "train.threads=1", "eval.knn_k=3"]


def tiny(tmp_path: Path, *overrides: str):
    return load_config("smoke", [f"out_dir={tmp_path / 'runs'}", f"data.cache_dir={tmp_path.parent / 'tracking-cache'}",
                                 "name=tracked", "train.epochs=2", *TINY, *overrides])


def logged(run_dir: Path, key: str) -> list[float]:
    """`key` of every epoch of metrics.jsonl that has it."""
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [m[key] for m in lines if key in m]


def tensorboard_scalars(log_dir: Path, tag: str) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir))
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)]


def test_local_pretraining_writes_tensorboard_scalars_by_default(tmp_path):
    pytest.importorskip("tensorboard")
    cfg = tiny(tmp_path)
    assert cfg.tracking.backend == "auto"
    pretrain_locally(cfg, quiet=True, proxy=proxy_knn)
    run_dir = tmp_path / "runs" / "tracked"
    assert len(list((run_dir / "tensorboard").glob("events.out.tfevents.*"))) == 1
    loss = tensorboard_scalars(run_dir / "tensorboard", "loss")
    assert [step for step, _ in loss] == [1, 2]
    assert [value for _, value in loss] == pytest.approx(logged(run_dir, "loss"), rel=1e-6)
    assert tensorboard_scalars(run_dir / "tensorboard", "knn_top1")[-1][1] == pytest.approx(logged(run_dir, "knn_top1")[-1])
    # `asma eval` adds each protocol's scores beside them, at the checkpoint's epoch
    assert main(["eval", str(run_dir), "--protocols", "knn", "--quiet"]) == 0
    knn = json.loads((run_dir / "eval.json").read_text())["protocols"]["knn"]
    assert tensorboard_scalars(run_dir / "tensorboard", "eval/knn/top1") == [(2, pytest.approx(knn["top1"]))]


def mlflow_runs(uri: str, experiment: str = "asma"):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    return client, client.search_runs([found.experiment_id]) if found else []


def test_mlflow_file_store_holds_params_metrics_resume_and_eval(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    store = tmp_path / "mlruns"
    uri = store.resolve().as_uri()
    cfg = tiny(tmp_path, "tracking.backend=mlflow", f"tracking.uri={store}")
    pretrain_locally(cfg, quiet=True, proxy=proxy_knn)
    run_dir = tmp_path / "runs" / "tracked"
    client, runs = mlflow_runs(uri)
    assert len(runs) == 1 and runs[0].info.run_name == "tracked" and runs[0].info.status == "FINISHED"
    run_id = runs[0].info.run_id
    assert runs[0].data.params["train.epochs"] == "2" and runs[0].data.params["masking.views"] == '["a", "b"]'
    # resumed for a third epoch (as `asma pretrain` re-run with more epochs): the same MLflow run goes on
    pretrain_locally(tiny(tmp_path, "tracking.backend=mlflow", f"tracking.uri={store}", "train.epochs=3"), quiet=True, proxy=proxy_knn)
    client, runs = mlflow_runs(uri)
    assert [r.info.run_id for r in runs] == [run_id]
    history = client.get_metric_history(run_id, "loss")
    assert [m.step for m in history] == [1, 2, 3]
    assert [m.value for m in history] == pytest.approx(logged(run_dir, "loss"), rel=1e-6)
    assert [m.step for m in client.get_metric_history(run_id, mlflow_key("loss/a/spatial"))] == [1, 2, 3]
    # `asma eval` adds its results to the pretraining's run, at the checkpoint's epoch
    assert main(["eval", str(run_dir), "--protocols", "knn", "--quiet", "--tracking-uri", str(store)]) == 0
    knn = json.loads((run_dir / "eval.json").read_text())["protocols"]["knn"]
    client, runs = mlflow_runs(uri)
    assert [r.info.run_id for r in runs] == [run_id]
    assert runs[0].data.metrics["eval.knn.top1"] == pytest.approx(knn["top1"])
    assert [m.step for m in client.get_metric_history(run_id, "eval.knn.top5")] == [3]


@pytest.mark.slow  # wandb starts its service process
def test_wandb_offline_run_records_the_metrics(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.delenv("WANDB_MODE", raising=False)  # offline is the default
    monkeypatch.setenv("WANDB_SILENT", "true")
    pretrain_locally(tiny(tmp_path, "tracking.backend=wandb"), quiet=True, proxy=proxy_knn)
    run_dir = tmp_path / "runs" / "tracked"
    key = TrackedRun("tracked", str(run_dir)).key
    record = list((run_dir / "wandb").glob(f"offline-run-*-{key}/run-{key}.wandb"))
    assert len(record) == 1
    # protobuf records: keys and JSON values are stored as plain text. W&B's service writes them
    # shortly after finish() returns (measured: under 0.5 s), so wait for them a little
    deadline = time.monotonic() + 20
    while b"knn_top1" not in (data := record[0].read_bytes()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert b"loss/a/spatial" in data and b"knn_top1" in data and b"tracked" in data
    assert json.dumps(logged(run_dir, "loss")[-1]).encode() in data


def test_a_missing_backend_package_is_an_error_naming_the_extra(monkeypatch, tmp_path, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("mlflow", "tensorboardX") else real(name, *a))
    with pytest.raises(ConfigError, match=r"asma\[tracking\]") as e:
        check_tracking(tiny(tmp_path, "tracking.backend=mlflow").tracking)
    assert e.value.key == "tracking.backend" and "mlflow" in str(e.value)
    assert main(["pretrain", "smoke", "--tracking", "tensorboard", "--set", f"out_dir={tmp_path}"]) == 2
    assert "pip install 'asma[tracking]'" in " ".join(capsys.readouterr().err.split())
    # auto without tensorboardX tracks nothing and the run goes on
    pretrain_locally(tiny(tmp_path), quiet=True, proxy=proxy_knn)
    assert (tmp_path / "runs" / "tracked" / "metrics.jsonl").exists()
    assert not (tmp_path / "runs" / "tracked" / "tensorboard").exists()


def _open_experiment_in_a_child(uri: str, ready, go) -> None:
    from mlflow import MlflowClient

    from asma.tracking.trackers import MLflowTracker

    tracker = object.__new__(MLflowTracker)
    tracker.client = MlflowClient(tracking_uri=uri)
    ready.wait()
    go.wait()
    tracker._experiment_id("asma")


@pytest.mark.slow  # forked children
def test_trials_starting_together_share_one_mlflow_experiment(tmp_path, monkeypatch):
    """MLflow's file store checks the name and then creates the experiment under a random id; two
    trials starting together made two experiments named `asma` and one run went missing from the
    second (a flaky CI failure). The name check is slowed here so that the race always opens."""
    import multiprocessing

    pytest.importorskip("mlflow")
    from mlflow import MlflowClient
    from mlflow.store.tracking.file_store import FileStore

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    check = FileStore._validate_experiment_does_not_exist

    def slow_check(self, name):
        check(self, name)
        time.sleep(0.5)

    monkeypatch.setattr(FileStore, "_validate_experiment_does_not_exist", slow_check)
    uri = (tmp_path / "mlruns").resolve().as_uri()
    context = multiprocessing.get_context("fork")  # the children keep the slowed check
    ready, go = context.Barrier(3), context.Event()
    children = [context.Process(target=_open_experiment_in_a_child, args=(uri, ready, go)) for _ in range(2)]
    for child in children:
        child.start()
    ready.wait()
    go.set()
    for child in children:
        child.join(60)
    assert [child.exitcode for child in children] == [0, 0]
    named = [e for e in MlflowClient(tracking_uri=uri).search_experiments() if e.name == "asma"]
    assert len(named) == 1


def test_a_failing_backend_does_not_fail_the_run(tmp_path, monkeypatch, caplog):
    calls = []

    def broken(self, metrics, step):
        calls.append(step)
        raise OSError("disk full")

    monkeypatch.setattr(TensorBoardTracker, "_log_metrics", broken)
    with caplog.at_level(logging.WARNING, logger="asma.tracking"):
        result = pretrain_locally(tiny(tmp_path, "tracking.backend=tensorboard"), quiet=True, proxy=proxy_knn)
    assert [h["epoch"] for h in result.history] == [1, 2]
    assert calls == [1]  # quiet after the first failure
    assert "disk full" in caplog.text and "the run goes on" in caplog.text


def test_tune_adds_no_tensorboard_logger_of_its_own(monkeypatch):
    """Tune's TensorBoard logger wrote `ray/tune/loss` where `asma pretrain` writes `loss`, and made
    Tune print a `tensorboard --logdir` hint to a staging folder without events (ray/tune/tune.py
    prints it when a TBXLoggerCallback is among the callbacks). Trials log through asma's tracker,
    and Tune keeps only its CSV and JSON loggers, each once."""
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback, TBXLoggerCallback
    from ray.tune.utils.callback import _create_default_callbacks

    from asma.cluster.ray_session import tune_loggers

    monkeypatch.delenv("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", raising=False)
    callbacks = _create_default_callbacks(tune_loggers(), metric="loss")
    kinds = [type(c) for c in callbacks]
    assert TBXLoggerCallback not in kinds
    assert kinds.count(CSVLoggerCallback) == 1 and kinds.count(JsonLoggerCallback) == 1
    monkeypatch.setenv("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "0")  # the user's choice stands
    assert TBXLoggerCallback in map(type, _create_default_callbacks(tune_loggers(), metric="loss"))


def test_a_trial_s_tensorboard_tags_are_pretrain_s(tmp_path):
    pytest.importorskip("tensorboard")
    with open_tracker(tiny(tmp_path, "tracking.backend=tensorboard"), TrackedRun("trial", str(tmp_path / "t"))) as t:
        t.log_metrics({"loss": 1.5, "knn_top1": 40.0}, 1)
    assert tensorboard_scalars(tmp_path / "t" / "tensorboard", "loss") == [(1, 1.5)]


def test_mlflow_keys_and_cli_overrides():
    from argparse import Namespace

    from asma.cli.common import tracking_overrides

    assert mlflow_key("eval/semi_1%/top1") == "eval.semi_1pct.top1"
    assert tracking_overrides(Namespace(tracking=None, tracking_uri="http://host:5000/#x")) == \
        ["tracking.backend=mlflow", 'tracking.uri="http://host:5000/#x"']
    cfg = load_config("smoke", tracking_overrides(Namespace(tracking=None, tracking_uri="http://host:5000/#x")))
    assert cfg.tracking.uri == "http://host:5000/#x"
    assert tracking_overrides(Namespace(tracking="none", tracking_uri=None)) == ["tracking.backend=none"]


@pytest.mark.slow
def test_ablation_and_search_trials_are_tracked(ray_session, tmp_path, monkeypatch):
    """With mlflow each ablation run and each search trial is one MLflow run holding its config, its
    epochs and its evaluation; Tune writes no TensorBoard events of its own (`ray/tune/` tags)."""
    import yaml

    from asma.ablation.runner import run_study
    from asma.ablation.study_file import load_study
    from asma.search.space import load_space
    from asma.search.tuner import run_search

    pytest.importorskip("mlflow")
    pytest.importorskip("tensorboard")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    store = tmp_path / "mlruns"
    common = {"out_dir": str(tmp_path / "runs"), "data.cache_dir": str(tmp_path / "cache"),
              "train.max_steps_per_epoch": 1, "train.batch_size": 16}
    tracking = ["tracking.backend=mlflow", f"tracking.uri={store}"]
    study_file = tmp_path / "study.yaml"
    study_file.write_text(yaml.safe_dump({
        "name": "tracked", "base": "smoke", "overrides": common, "seeds": 1, "protocols": ["knn"],
        "variants": {"pstl": {"masking.views": ["pstl"]}, "asma": {"masking.views": ["a", "b"], "default": True}},
        "budget": {"epochs": 2}, "resources": {"cpus": 1}}))
    outcome = run_study(load_study(study_file, overrides=tracking))
    assert sorted(outcome.finished) == ["asma__synthetic__seed0", "pstl__synthetic__seed0"]

    client, runs = mlflow_runs(store.resolve().as_uri())
    by_name = {r.info.run_name: r for r in runs}
    assert sorted(by_name) == sorted(outcome.finished)
    for run_id, run in by_name.items():
        result = json.loads((outcome.run_dir / "runs" / f"{run_id}.json").read_text())
        assert run.data.params["study.variant"] == run_id.split("__")[0]
        assert run.data.metrics["eval.knn"] == pytest.approx(result["metrics"]["knn"])
        loss = [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "loss")]
        trial_dir = next((outcome.run_dir / "tune").glob(f"{run_id}_*"))
        assert [s for s, _ in loss] == [1, 2] and (trial_dir / "progress.csv").exists()
        assert not list(trial_dir.glob("events.out.tfevents.*"))  # Tune's TensorBoard logger is off

    space_file = tmp_path / "space.yaml"
    space_file.write_text(yaml.safe_dump({
        "name": "tracked", "base": "smoke", "overrides": {**common, "data.split": "xsub_val"}, "seed": 3,
        "metric": "knn_top1",
        "params": {"optim.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}},
        "budget": {"trials": 2, "epochs": 2, "grace_period": 2}}))
    search = run_search(load_space(space_file, tracking), concurrency=2)
    client, runs = mlflow_runs(store.resolve().as_uri())
    trials = {r.info.run_name: r for r in runs if r.info.run_name.startswith("tracked/trial_")}
    assert len(trials) == 2
    for result in search.results:
        run = trials[f"tracked/trial_{result.metrics['trial_id']}"]
        assert float(run.data.params["optim.lr"]) == pytest.approx(result.config["optim.lr"])
        assert [m.step for m in client.get_metric_history(run.info.run_id, "knn_top1")] == [1, 2]
        assert run.data.metrics["knn_top1"] == pytest.approx(result.metrics["knn_top1"])


def test_mlflow_store_paths_are_made_absolute_for_workers(tmp_path, monkeypatch):
    from asma.config.loading import with_absolute_paths

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    given = with_absolute_paths(load_config("smoke", ["tracking.backend=mlflow", "tracking.uri=store"]))
    assert given.tracking.uri == (tmp_path / "store").as_uri()
    # no URI: left to each run, whose out_dir (`asma ablate --out`) holds the store
    assert with_absolute_paths(load_config("smoke", ["tracking.backend=mlflow"])).tracking.uri is None
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    assert with_absolute_paths(load_config("smoke", ["tracking.backend=mlflow"])).tracking.uri == "http://mlflow.example:5000"
