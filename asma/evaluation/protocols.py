"""Run evaluation protocols on a run's encoders and write eval.json next to the run.

Every protocol is a function (cfg, encoders, data, device, progress, features) -> {"top1",
"top5", ...}; `features` are the frozen features cached once for `linear` and `knn`.
`supervised` fine-tunes randomly initialised encoders of the same config: the ceiling of the
tables (and `asma eval --random-init` with `linear`/`knn` gives the floor). With a `tracker`
(asma/tracking/trackers.py) each protocol's top-1/top-5 is logged as `eval/<protocol>/top1` (random init:
`eval_random_init/...`) at the checkpoint's epoch.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from asma.config.loading import config_from_dict, config_to_dict
from asma.config.schema import Config
from asma.errors import ConfigError, InputFileError
from asma.evaluation.encoder_file import ENCODERS_FOLDER, check_encoder_file, encoder_file_of, is_encoder_file
from asma.evaluation.finetune import finetune_protocol, supervised_config, supervised_encoders, supervised_protocol
from asma.evaluation.heads import recompute_batchnorm_stats
from asma.evaluation.linear import cached_features, knn_protocol, linear_protocol
from asma.evaluation.results import SCORES_KEY, write_results, write_scores
from asma.evaluation.semi import semi_protocol
from asma.evaluation.transfer import transfer_protocol
from asma.models.pretrainer import MaskedPretrainer
from asma.tracking.trackers import Tracker
from asma.training.data import RunData, build_run_data
from asma.training.runtime import load_checkpoint_file, pick_device, with_config_threads

PROTOCOLS = {
    "linear": linear_protocol,
    "knn": knn_protocol,
    "finetune": finetune_protocol,
    "semi": semi_protocol,
    "transfer": transfer_protocol,
    "supervised": supervised_protocol,  # run on random-init encoders, see run_protocols
}
FROZEN = ("linear", "knn")


@dataclass
class EncoderSource:
    """The encoders to evaluate, where they came from, and where their results go."""

    encoders: dict[str, torch.nn.Module]
    origin: str              # the checkpoint file, or "random-init"
    run_dir: Path
    epoch: int | None = None

    @property
    def random_init(self) -> bool:
        return self.epoch is None

    @property
    def results_path(self) -> Path:
        return self.run_dir / ("eval_random_init.json" if self.random_init else "eval.json")


def find_checkpoint(path: str | Path) -> Path:
    """The checkpoint file of a run folder (local or a Ray checkpoint folder), of an ablation run's
    record (`runs/ablations/<study>/runs/<run>.json`), or `path` itself."""
    path = Path(path).expanduser()
    if path.is_file() and path.suffix == ".json":
        return ablation_run_checkpoint(path)
    if path.is_file():
        return path
    pointer = path / "checkpoints" / "latest.json"
    if pointer.exists():
        return path / "checkpoints" / json.loads(pointer.read_text())["path"]
    if (path / "checkpoint.pt").exists():
        return path / "checkpoint.pt"
    if not path.exists():
        raise InputFileError(path, "no such run folder or checkpoint file")
    raise InputFileError(path, "no checkpoint found (looked for checkpoints/latest.json and checkpoint.pt)",
                         fix="pass a run folder of `asma pretrain` or a checkpoint .pt file")


def ablation_run_checkpoint(record: Path) -> Path:
    """The last checkpoint of the trial that wrote an ablation run record.

    A study folder holds runs/<run>.json and tune/<run>_<trial id>/checkpoint_<n>/checkpoint.pt; a
    study resumed into a new Tune experiment may hold several trial folders of one run, and the
    newest checkpoint is the one its record was evaluated from. A run that `asma pool run` trained
    has a LocalRuntime folder instead: the one its record names (machine.run_folder), else the
    default `--work`'s (`<out>/pool/<study>/<run>`).
    """
    try:
        written = json.loads(record.read_text())
        run = written["run"]
    except (ValueError, KeyError, TypeError):
        raise InputFileError(record, "not an ablation run record (no `run` entry)",
                             fix="pass runs/ablations/<study>/runs/<run>.json, a run folder or a checkpoint .pt") from None
    study = record.parent.parent
    found = list(study.glob(f"tune/{run}_*/checkpoint_*/checkpoint.pt"))
    machine = written.get("machine") or {}
    for folder in (machine.get("run_folder"), study.parent.parent / "pool" / study.name / run):
        pointer = Path(folder) / "checkpoints" / "latest.json" if folder else None
        if pointer is not None and pointer.exists():
            found.append(pointer.parent / json.loads(pointer.read_text())["path"])
    found = sorted((p for p in found if p.exists()), key=lambda p: p.stat().st_mtime)
    if found:
        return found[-1]
    saved = encoder_file_of(record)
    if saved.exists():
        check_encoder_file(saved, load_checkpoint_file(saved), record, written)
        return saved
    raise InputFileError(record, f"no checkpoint of run {run} under {study / 'tune'} or an `asma pool` folder, "
                         f"and no {saved.relative_to(study)}",
                         fix="the study's Tune folder (or `asma pool run`'s --work folder) keeps each run's last "
                         "checkpoints; `asma save-encoders STUDY` keeps the encoders beside the records, for git")


def run_dir_of(checkpoint: Path) -> Path:
    """Where a checkpoint's evaluation records go: its run folder (a study's encoder file: a folder
    of its own, encoders/<run>/)."""
    if checkpoint.parent.name == ENCODERS_FOLDER:
        return checkpoint.parent / checkpoint.stem
    return checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent


def checkpoint_config(path: str | Path, overrides: list[str] = ()) -> tuple[Config, Path]:
    """The config a checkpoint was trained with (+ overrides), and the checkpoint file."""
    checkpoint = find_checkpoint(path)
    state = load_checkpoint_file(checkpoint)
    if "config" not in state or "model" not in state:
        raise InputFileError(checkpoint, "not an asma pretraining checkpoint (no config/model entries)")
    return config_from_dict(state["config"], list(overrides), f"{checkpoint} config"), checkpoint


def random_encoders(cfg: Config, data: RunData) -> dict[str, torch.nn.Module]:
    """Encoders of the same config, randomly initialised (seeded by train.seed), their BatchNorm
    statistics estimated on the training clips: the floor a pretraining has to beat.

    Without that estimate the floor's BatchNorms hold their initial statistics (mean 0, variance
    1) while a pretrained encoder's hold the data's, even where pretraining changed no weight:
    on the synthetic set a "pretraining" at learning rate 1e-10 beat the uncalibrated floor by 43
    points of linear top-1. The estimate uses inputs only (no labels, no gradient).
    """
    torch.manual_seed(cfg.train.seed)
    encoders = MaskedPretrainer(cfg, data.dataset.layout, data.in_channels).encoders()
    calibrate_batchnorm(encoders, data, cfg, pick_device(cfg.train.device))
    return encoders


def calibrate_batchnorm(encoders: dict[str, torch.nn.Module], data: RunData, cfg: Config, device) -> None:
    """Each encoder's BatchNorm statistics re-estimated on the training clips (evaluation crops).

    A pretrained encoder's running statistics are exponential averages over augmented, masked
    pretraining batches of weights that kept changing; frozen features are taken from unmasked
    evaluation crops. With `eval.precise_bn` the pretrained encoders get the same estimate as the
    random-init floor, so the two differ in their weights only.
    """
    for encoder in encoders.values():
        recompute_batchnorm_stats(encoder.to(device), data.train, device, cfg.eval.batch_size)
        encoder.eval()


def load_source(cfg: Config, checkpoint: Path, data: RunData, random_init: bool = False) -> EncoderSource:
    if random_init:
        return EncoderSource(random_encoders(cfg, data), "random-init", run_dir_of(checkpoint))
    state = load_checkpoint_file(checkpoint)
    model = MaskedPretrainer(cfg, data.dataset.layout, data.in_channels)
    try:
        if is_encoder_file(state):
            model.load_encoder_state(state["model"])
        else:
            model.load_state_dict(state["model"])
    except RuntimeError as e:
        raise InputFileError(checkpoint, f"weights do not fit the config's model: {str(e).splitlines()[0]}",
                             fix="do not --set encoder/projector/masking keys when evaluating a checkpoint") from None
    return EncoderSource(model.encoders(), str(checkpoint), run_dir_of(checkpoint), int(state["epoch"]))


def checkpoint_features(path: str | Path, overrides: list[str] = ()) -> tuple[Config, RunData, tuple[torch.Tensor, ...]]:
    """A checkpoint's config, data and frozen features (train, train labels, test, test labels), read
    as run_protocols reads them: BatchNorm re-estimated (eval.precise_bn), evaluation crops."""
    cfg, checkpoint = checkpoint_config(path, overrides)
    data = build_run_data(cfg)
    device = pick_device(cfg.train.device)
    encoders = {view: enc.to(device) for view, enc in load_source(cfg, checkpoint, data).encoders.items()}
    if cfg.eval.precise_bn:
        calibrate_batchnorm(encoders, data, cfg, device)
    return cfg, data, cached_features(encoders, data, device)


def make_progress(console: Console | None) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, disable=console is None)


def tracked_scalars(name: str, result: dict, prefix: str = "eval") -> dict[str, float]:
    """{'eval/linear/top1': ..., 'eval/linear/top5': ...}; semi: one pair per labelled fraction."""
    if name == "semi":
        return {f"{prefix}/semi_{float(f) * 100:g}%/{k}": r[k] for f, r in result["fractions"].items()
                for k in ("top1", "top5")}
    return {f"{prefix}/{name}/{k}": result[k] for k in ("top1", "top5") if k in result}


@with_config_threads
def run_protocols(cfg: Config, source: EncoderSource, data: RunData, protocols: list[str],
                  console: Console | None = None, out: Path | None = None, tracker: Tracker | None = None) -> dict:
    """Each protocol's results; written (atomically) with the config to `out` or source.results_path."""
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown:
        raise ConfigError("--protocols", ",".join(unknown), f"unknown protocol; choose from {', '.join(PROTOCOLS)}")
    device = pick_device(cfg.train.device)
    encoders = {view: enc.to(device) for view, enc in source.encoders.items()}
    features = None
    results: dict[str, dict] = {}
    with make_progress(console) as progress:
        for name in protocols:
            started = time.perf_counter()
            if name in FROZEN and features is None:
                if cfg.eval.precise_bn:  # the floor's are estimated already; again costs one pass
                    calibrate_batchnorm(encoders, data, cfg, device)
                features = cached_features(encoders, data, device)
            if name == "supervised":
                used = supervised_encoders(cfg, random_encoders(supervised_config(cfg), data), device)
            else:
                used = encoders
            # the supervised reference keeps its finished streams beside the record until it is written
            extra = {"work": Path(out or source.results_path).with_suffix(".streams")} if name == "supervised" else {}
            results[name] = PROTOCOLS[name](cfg, used, data, device, progress, features if name in FROZEN else None,
                                            **extra)
            results[name]["seconds"] = round(time.perf_counter() - started, 2)
            if tracker is not None:
                prefix = "eval_random_init" if source.random_init else "eval"
                tracker.log_metrics(tracked_scalars(name, results[name], prefix), source.epoch or 0)
    scored = {name: results[name].pop(SCORES_KEY) for name in list(results) if SCORES_KEY in results[name]}
    record = {"source": source.origin, "checkpoint_epoch": source.epoch, "random_init": source.random_init,
              "config": config_to_dict(cfg), "protocols": results}
    written = write_results(out or source.results_path, record)
    if scored:
        labels = next(iter(scored.values()))[1]
        write_scores(out or source.results_path, {name: probs for name, (probs, _) in scored.items()}, labels)
    return written
