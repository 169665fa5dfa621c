"""Run a study: every variant x seed x data set as a Ray Tune trial, in a grid; resumable.

The run folder `<out_dir>/ablations/<study>/` holds `study.json` (what the report needs),
`runs/<variant>__<dataset>__seed<k>.json` (one per finished run, written by its trial), `tune/`
(Tune's experiment, for --resume) and the report. Finished runs are never repeated: the runner
only schedules runs without a result file, and `--resume` also continues interrupted trials from
their last epoch checkpoint (`Tuner.restore(..., resume_errored=True)`).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from asma.ablation.ablation_trial import ablation_trial
from asma.ablation.finished import finished_runs
from asma.ablation.reuse import reuse_runs
from asma.ablation.specs import in_seed_order, run_specs, study_dir, write_study_record
from asma.ablation.study_file import Study
from asma.cluster.job_dir import check_outside_ray_folders
from asma.config.loading import config_from_dict
from asma.errors import ConfigError
from asma.experiments.evaluate import check_protocols, pretraining_epochs
from asma.experiments.trial_files import last_error
from asma.experiments.trial_progress import TrialProgress, counted
from asma.experiments.tune_fit import fit_experiment, restored_concurrency
from asma.experiments.tune_run import ProgressCallback, run_config, start_ray  # noqa: F401 (ProgressCallback: pickled)
from asma.training.data import open_dataset
from asma.training.precision import bfloat16_warning
from asma.training.runtime import pick_device

TUNE_NAME = "tune"


def prepare_data(specs: dict[str, dict]) -> None:
    """Open (and generate once, for 'synthetic') each data set before trials start, checking splits."""
    seen = set()
    for spec in specs.values():
        cfg = config_from_dict(spec["config"], source=f"run {spec['run']}")
        key = json.dumps(cfg.data.model_dump(), sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        dataset = open_dataset(cfg.data)
        dataset.split_indices(cfg.data.split, cfg.data.train_part)
        dataset.split_indices(cfg.data.split, cfg.data.test_part)


@dataclass
class StudyOutcome:
    run_dir: Path
    finished: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # run -> its error (interrupted: runs with one only)
    interrupted: list[str] = field(default_factory=list)  # runs a stop signal (Ctrl-C) left unfinished


def run_study(study: Study, out_dir: str | Path | None = None, resume: bool = False,
              address: str | None = None, concurrency: int | None = None,
              console: Console | None = None, num_cpus: int | None = None,
              reuse: list[Path] | tuple[Path, ...] = (), reuse_processes: bool = True) -> StudyOutcome:
    """Run every unfinished run of `study` on Ray; returns what finished, was skipped, failed.

    `reuse`: other study folders whose finished runs of the same config are copied in, not re-run
    (asma.ablation.reuse). `reuse_processes`: a trial runs in a finished trial's process (Tune's
    reuse_actors; off only to measure what that saves: docs/benchmarks.md, "Ablation runner")."""
    console = console or Console()
    check_protocols(study.protocols, study.source)
    if out_dir is not None:
        check_outside_ray_folders(out_dir, "--out")
    else:
        check_outside_ray_folders(study.base["out_dir"], "out_dir")
    run_dir = study_dir(study, out_dir)
    specs = run_specs(study, run_dir)
    if out_dir is not None:
        for spec in specs.values():
            spec["config"]["out_dir"] = str(run_dir.parent.parent)
    if concurrency is not None and concurrency < 1:
        raise ConfigError("--concurrency", "concurrency", f"needs at least 1 trial at a time, got {concurrency}")
    done = finished_runs(specs)
    if reuse:
        shared = reuse_runs(specs, [r for r in specs if r not in done], [Path(p) for p in reuse])
        done |= set(shared.copied)
        sources = sorted({str(p) for p in shared.copied.values()}) or [str(p) for p in reuse]
        console.print(f"{len(shared.copied)} finished runs copied from {', '.join(sources)}", highlight=False)
        for run_id, reason in sorted(shared.differ.items()):
            console.print(f"[yellow]not reused[/] {run_id}: {reason}", highlight=False)
    write_study_record(study, run_dir, specs)
    outcome = StudyOutcome(run_dir, skipped=sorted(done))
    pending = in_seed_order([r for r in specs if r not in done], specs)
    console.print(f"study [bold]{study.name}[/]: {counted(len(specs), 'run')} ({counted(len(study.variants), 'variant')} x "
                  f"{counted(len(study.seeds), 'seed')} x {counted(len(study.datasets), 'data set')}), {len(done)} already done; "
                  f"folder {run_dir}", highlight=False)
    if not pending:
        return outcome
    prepare_data({r: specs[r] for r in pending})
    if address is None:  # the trials run on this machine, and their own warnings do not reach this terminal
        warn_if_bfloat16_is_slow_here(specs, pending, console)
    start_ray(address, num_cpus, study.resources, f"{study.source}: resources (one trial)", log_to_driver=False)
    tune_dir = run_dir / TUNE_NAME
    from ray import tune

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # our progress bar instead of Tune's tables

    ended = True
    if resume and tune.Tuner.can_restore(str(tune_dir)):
        console.print(f"resuming interrupted trials from {tune_dir}")
        ended = _fit(study, specs, pending, run_dir, concurrency, console, restore=True, reuse_processes=reuse_processes)
        # interrupted (Ctrl-C): stop here, not start a fresh experiment over the saved one
        pending = in_seed_order([r for r in specs if not Path(specs[r]["result_path"]).exists()], specs) if ended else []
    if pending:
        ended = _fit(study, specs, pending, run_dir, concurrency, console, restore=False, reuse_processes=reuse_processes)
    for run_id in specs:
        if run_id in done:
            continue
        if Path(specs[run_id]["result_path"]).exists():
            outcome.finished.append(run_id)
    missing = [r for r in specs if r not in done and r not in outcome.finished]
    if ended:
        outcome.failed = _errors(run_dir, missing)
    else:  # not failures: Tune saved their state, and --resume continues them
        outcome.failed = {r: e for r in missing if (e := last_error(run_dir / TUNE_NAME, r))}
        outcome.interrupted = [r for r in missing if r not in outcome.failed]
    return outcome


def warn_if_bfloat16_is_slow_here(specs: dict[str, dict], pending: list[str], console: Console) -> None:
    """Before trials that pretrain in bfloat16 start on this machine: say so if its CPU emulates the
    type (asma.training.precision), once, naming how many runs it concerns."""
    slow = [r for r in pending if pretraining_epochs(specs[r]) and specs[r]["config"]["train"]["precision"] == "bfloat16"]
    devices = {pick_device(specs[r]["config"]["train"]["device"]).type for r in slow}
    message = bfloat16_warning("bfloat16", pick_device("cpu")) if "cpu" in devices else None
    if message:
        console.print(f"[yellow]warning[/] {len(slow)} runs to go pretrain in bfloat16: {message}", highlight=False)


def _errors(run_dir: Path, missing: list[str]) -> dict[str, str]:
    """The last line of each missing run's Tune error, where Tune left one."""
    return {run_id: last_error(run_dir / TUNE_NAME, run_id) or "did not finish" for run_id in missing}


def _fit(study: Study, specs: dict[str, dict], pending: list[str], run_dir: Path,
         concurrency: int | None, console: Console, restore: bool, reuse_processes: bool) -> bool:
    """Fit (or restore and fit) the pending runs; False when a stop signal (Ctrl-C) ended the fit."""
    from ray import tune

    trainable = tune.with_resources(tune.with_parameters(ablation_trial, runs=specs),
                                    {"cpu": study.resources.cpus, "gpu": study.resources.gpus})
    experiment = run_dir / TUNE_NAME
    ray_cfg = specs[pending[0]]["config"]["ray"]

    def new_tuner():
        return tune.Tuner(
            trainable, param_space={"run": tune.grid_search(pending)},
            run_config=run_config(TUNE_NAME, str(run_dir), ray_cfg["max_failures"], ray_cfg["num_to_keep"]),
            tune_config=tune.TuneConfig(max_concurrent_trials=concurrency, reuse_actors=reuse_processes,
                                        trial_dirname_creator=lambda t: f"{t.config['run']}_{t.trial_id}"))

    if restore and concurrency is not None:  # else the concurrency the experiment was started with
        restored_concurrency(experiment, concurrency, console)
    progress = StudyProgress(console, {r: pretraining_epochs(specs[r]) for r in pending})
    return not fit_experiment(experiment, trainable, new_tuner, progress, restore).stopped


class StudyProgress(TrialProgress):
    """A rich progress bar over all pending runs, one step per epoch (and one per evaluation)."""

    def __init__(self, console: Console, epochs: dict[str, int]):
        super().__init__(console, sum(epochs.values()) + len(epochs), "steps")
        self.epochs = epochs

    def trial_result(self, trial, result: dict) -> None:
        run_id = result.get("run", trial.config.get("run"))
        if run_id not in self.epochs:  # a restored trial whose run had finished: nothing to show
            return
        if result.get("done"):
            scores = "  ".join(f"{k.removeprefix('eval/')} {v:.1f}" for k, v in result.items() if k.startswith("eval/"))
            self.progress.console.print(f"[green]done[/] {run_id}  {scores}", highlight=False)
            reached = self.epochs.get(run_id, 0) + 1
        else:
            reached = int(result.get("epoch", 0))
        where = "evaluated" if result.get("done") else f"epoch {result.get('epoch', '-')}"
        self.advance_to(run_id, reached, f"{run_id} {where}")

    def trial_error(self, trial) -> None:
        self.error(trial.config.get("run"), getattr(trial, "path", None) or trial.local_path)
