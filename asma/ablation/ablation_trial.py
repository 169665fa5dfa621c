"""One ablation run as a Ray Tune trial: pretrain (the loop, unchanged), evaluate, write the result.

The result file `<run_dir>/runs/<run id>.json` is written atomically when the run is complete, so
its presence means "done": a re-run or a resume skips it, and a run interrupted before it is
written continues from its last Tune checkpoint (with --resume) or starts again.

Tracking: Tune's logger writes each trial's TensorBoard events into its folder; with mlflow or wandb
the trial opens a run named after the run id (asma/tracking/trackers.py), found again when the run resumes,
with every epoch's metrics and the evaluation's columns (`eval/<column>`).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable

from asma.config.loading import config_from_dict
from asma.config.schema import Config
from asma.data.atomic import write_json_atomic
from asma.evaluation.proxy import proxy_knn
from asma.experiments.evaluate import distill_columns, evaluate_reference, evaluate_run, needs_pretraining
from asma.models.pretrainer import MaskedPretrainer
from asma.tracking.trackers import TrackedRun, Tracker, open_tracker
from asma.training.data import RunData, build_run_data
from asma.training.loop import pretrain
from asma.training.precision import cpu_record
from asma.training.runtime import Runtime, pick_device
from asma.training.tune_runtime import TuneTrialRuntime, start_trial


def run_record(run: dict, metrics: dict[str, float], final: dict, pretrain_s: float, eval_s: float) -> dict:
    """The result file's content: identity, the report's columns, and what ran.

    The pretraining's time is its wall time over every attempt (the loop's `wall_s`, carried in its
    checkpoints), so a run resumed after an interruption records all of it, not its last part."""
    return {
        "run": run["run"], "variant": run["variant"], "dataset": run["dataset"], "split": run["split"],
        "seed": run["seed"], "metrics": metrics,
        "pretrain": {"epochs": run["config"]["train"]["epochs"], "final_loss": final.get("loss"),
                     "time_s": round(final.get("wall_s", pretrain_s), 2)},
        "eval_time_s": round(eval_s, 2),
        "config": run["config"],
        "data_fingerprint": run.get("data_fingerprint"),  # the data's identity wherever it lies (asma.ablation.finished)
    }


def execute_run(run: dict, cfg: Config, data: RunData, eval_path: Path, tracker: Tracker,
                make_runtime: Callable[[], Runtime]) -> dict:
    """One run's record (without `machine`): a floor or ceiling evaluated, a fixed teacher distilled,
    random-init encoders evaluated for a study of `supervised` alone, or pretraining (in the runtime
    `make_runtime` gives: Tune's in a trial, LocalRuntime in `asma pool`) then evaluation."""
    started = time.perf_counter()
    if run.get("reference"):
        metrics = evaluate_reference(cfg, data, run["reference"], run["protocols"], eval_path)
    elif cfg.distill.teacher and not needs_pretraining(run["protocols"], cfg.distill.teacher):
        metrics = distill_columns(cfg, None, eval_path)  # a fixed teacher distilled into this run's student
    elif not needs_pretraining(run["protocols"]):  # supervised only: random-init encoders, no pretraining
        untrained = MaskedPretrainer(cfg, data.dataset.layout, data.in_channels)
        metrics = evaluate_run(cfg, data, untrained, run["protocols"], {}, pick_device(cfg.train.device), eval_path)
    else:
        runtime = make_runtime()
        result = pretrain(cfg, data, runtime, tracker, proxy=proxy_knn)
        pretrained = time.perf_counter()
        metrics = evaluate_run(cfg, data, result.model, run["protocols"], result.final, runtime.device, eval_path)
        record = run_record(run, metrics, result.final, pretrained - started, time.perf_counter() - pretrained)
        record["pretrain"]["resumed_from_epoch"] = result.resumed_from
        return record
    record = run_record(run, metrics, {}, 0.0, time.perf_counter() - started)
    record["pretrain"]["epochs"] = 0
    return record


def ablation_trial(config: dict, runs: dict[str, dict]) -> None:
    """Tune function trainable; `config['run']` picks the run, `runs` holds every run's spec."""
    from ray import tune

    start_trial()
    run_id = config["run"]
    if run_id not in runs:
        raise KeyError(f"run {run_id!r} is not in this study any more; start the study without --resume")
    run = runs[run_id]
    load_start = os.getloadavg()[0]
    result_path = Path(run["result_path"])
    if result_path.exists():  # finished by an earlier attempt: report it again, repeat nothing
        done = json.loads(result_path.read_text())
        tune.report({"run": run_id, "done": True, **{f"eval/{k}": v for k, v in done["metrics"].items()}})
        return
    cfg = config_from_dict(run["config"], source=f"run {run_id}")
    data = build_run_data(cfg)
    eval_path = result_path.parent.parent / "evals" / f"{run_id}.json"
    tracked = TrackedRun(run_id, str(result_path.parent.parent / "tracking" / run_id))
    study = {"variant": run["variant"], "dataset": run["dataset"], "seed": run["seed"]}
    with open_tracker(cfg, tracked, params={"study": study, **run["config"]}) as tracker:
        record = execute_run(run, cfg, data, eval_path, tracker, lambda: TuneTrialRuntime(
            cfg.train.device, cfg.data.loader_workers, extra_metrics={"run": run_id}))
        scores = {f"eval/{k}": v for k, v in record["metrics"].items()}
        tracker.log_metrics(scores, record["pretrain"]["epochs"])
    # what else ran: the machine's 1-minute load average when this attempt started and ended; the CPU
    record["machine"] = {"cpus": os.cpu_count(), "load_start": round(load_start, 2),
                         "load_end": round(os.getloadavg()[0], 2),
                         **cpu_record(cfg.train.precision, pick_device(cfg.train.device))}
    write_json_atomic(result_path, record)
    tune.report({"run": run_id, "done": True, **scores})
