"""`asma transfer`: pretrained encoders, unchanged, evaluated on another prepared set of their layout.

The paper's transfer protocol: encoders pretrained on one set are linear-probed, kNN-read and
fine-tuned on another. A single run (run folder, checkpoint, or a study's run record) writes
`transfer_<target>_<split>.json` beside its checkpoint's run. A study folder is evaluated whole:
every run of it is read on the target and written as a run record of a study folder of its own,
`<study>/transfer/<target>_<split>/` (study.json + runs/<run>.json), which `asma report` turns into
tables with paired differences like any study. A pretrained row reads its checkpoint; the raw-input
row evaluates the target's clips; the floor row random-init encoders of the same config; a
supervised ceiling has no encoders to carry and is left out. Finished runs are kept (resumable);
nothing is tuned on the target.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from asma.evaluation.raw_input import RAW_PROTOCOLS
from asma.evaluation.transfer import same_layout
from asma.experiments.evaluate import FROZEN_PROTOCOLS, columns_of_record, evaluate_reference
from asma.config.loading import config_from_dict, config_to_dict
from asma.config.schema import Config
from asma.data.atomic import write_json_atomic
from asma.data.fingerprint import dataset_fingerprint
from asma.data.format import SkeletonSet
from asma.errors import InputFileError
from asma.evaluation.protocols import EncoderSource, checkpoint_config, find_checkpoint, load_source, run_dir_of, run_protocols
from asma.training.data import RunData, build_run_data
from asma.training.runtime import load_checkpoint_file

DEFAULT_PROTOCOLS = ("linear", "knn", "finetune")


def target_overrides(target: Path, split: str) -> list[str]:
    return [f"data.path={target.resolve()}", f"data.split={split}"]


def check_layouts(cfg_source_path: str, target: SkeletonSet) -> None:
    """The target must hold the joints in the pretraining set's order (where that set is at hand;
    elsewhere loading the weights is the check)."""
    source_root = Path(cfg_source_path)
    if not (source_root / "meta.json").exists():
        return
    source = SkeletonSet.open(source_root)
    if not same_layout(source, target):
        raise InputFileError(target.root / "meta.json",
                             f"layout {target.layout.name!r} differs from the pretraining set's {source.layout.name!r}",
                             fix=f"put its joints in that order first: asma data relayout {target.root} "
                                 f"--layout {source.meta['layout']} --out DIR")


def evaluate_checkpoint_on(checkpoint: Path, target: Path, split: str, protocols: list[str], overrides: list[str],
                           out: Path) -> dict[str, float]:
    """A pretrained run's encoders on the target: {column: top-1}; the record goes to `out`."""
    trained_on = load_checkpoint_file(checkpoint)["config"]["data"]["path"]
    cfg, _ = checkpoint_config(checkpoint, [*target_overrides(target, split), *overrides])
    data = build_run_data(cfg)
    check_layouts(trained_on, data.dataset)
    source = load_source(cfg, checkpoint, data)
    source = EncoderSource(source.encoders, source.origin, out.parent, source.epoch)
    return columns_of_record(run_protocols(cfg, source, data, protocols, console=None, out=out))


def transfer_run(source: str | Path, target: Path, split: str, protocols: list[str], overrides: list[str]) -> tuple[Path, dict]:
    """One run's transfer record, written beside the run: (path, {column: top-1})."""
    checkpoint = find_checkpoint(source)
    out = run_dir_of(checkpoint) / f"transfer_{target.name}_{split}.json"
    return out, evaluate_checkpoint_on(checkpoint, target, split, protocols, overrides, out)


def transfer_study_dir(study_dir: Path, target: Path, split: str) -> Path:
    return study_dir / "transfer" / f"{target.resolve().name}_{split}"


def _target_study(study: dict, target: Path, split: str, protocols: list[str]) -> dict:
    """The source study's description, its runs renamed onto the target set."""
    keep = {n: v for n, v in study["variants"].items() if v.get("reference") != "ceiling"}
    name = target.resolve().name
    runs = [r for r in study["runs"] if r.split("__")[0] in keep]
    return {**study, "name": f"{study['name']}_to_{name}", "description": f"{study['name']}'s encoders, unchanged, "
            f"on {name} ({split}): {', '.join(protocols)}", "variants": keep,
            "factors": [{**f, "variants": _kept(f["variants"], keep)} for f in study["factors"]],
            "datasets": [{"name": name, "path": str(target), "split": split}], "protocols": protocols,
            "runs": [_renamed(r, name) for r in runs], "epochs": {_renamed(r, name): e for r, e in study["epochs"].items()
                                                                  if r in runs},
            "transfer_from": study["name"]}


def _kept(variants, keep: dict):
    if isinstance(variants, dict):
        return {v: x for v, x in variants.items() if v in keep}
    return [v for v in variants if v in keep]


def _renamed(run: str, dataset: str) -> str:
    variant, _, seed = run.split("__")
    return f"{variant}__{dataset}__{seed}"


def transfer_study(study_dir: Path, target: Path, split: str, protocols: list[str], overrides: list[str],
                   console: Console | None = None) -> Path:
    """Every finished run of the study at `study_dir` on `target`; returns the transfer study folder."""
    study_file = study_dir / "study.json"
    if not study_file.exists():
        raise InputFileError(study_dir, "not a study folder (no study.json)",
                             fix="pass a study folder of `asma ablate`, a run folder, a checkpoint or a run record")
    study = json.loads(study_file.read_text())
    target_set = SkeletonSet.open(target)
    target_set.split_indices(split, "test")  # an unknown split is an error before any run
    out_dir = transfer_study_dir(study_dir, target, split)
    planned = _target_study(study, target, split, protocols)
    write_json_atomic(out_dir / "study.json", planned)
    records = sorted((study_dir / "runs").glob("*.json"))
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, disable=console is None) as bar:
        task = bar.add_task(f"{study['name']} -> {target_set.root.name}", total=len(records))
        for record_path in records:
            record = json.loads(record_path.read_text())
            variant = planned["variants"].get(record["variant"])
            out = out_dir / "runs" / f"{_renamed(record['run'], target.resolve().name)}.json"
            if variant is not None and not _covers(out, row_protocols(variant.get("reference"), protocols)):
                write_json_atomic(out, _transfer_record(record, record_path, variant, target, split, protocols,
                                                        overrides, out_dir))
            bar.advance(task)
    return out_dir


def row_protocols(reference: str | None, protocols: list[str]) -> list[str]:
    """The protocols a row gives columns for: a reference row only those it can run (the raw input
    and the floor fine-tune nothing)."""
    if reference == "raw":
        return [p for p in protocols if p in RAW_PROTOCOLS]
    if reference == "floor":
        return [p for p in protocols if p in (*FROZEN_PROTOCOLS, "semi")]
    return protocols


def _covers(record_file: Path, protocols: list[str]) -> bool:
    """Whether a finished transfer record holds every protocol asked for (a run evaluated with
    fewer is evaluated again, so a table never mixes runs with and without a column)."""
    if not record_file.exists():
        return False
    columns = json.loads(record_file.read_text()).get("metrics", {})
    return all(any(c == p or c.startswith(f"{p}_") for c in columns) for p in protocols)


def _transfer_record(record: dict, record_path: Path, variant: dict, target: Path, split: str,
                     protocols: list[str], overrides: list[str], out_dir: Path) -> dict:
    """One source run read on the target, as a run record of the transfer study."""
    started = time.perf_counter()
    name = _renamed(record["run"], target.resolve().name)
    eval_path = out_dir / "evals" / f"{name}.json"
    reference = variant.get("reference")
    if reference:  # raw input or floor: nothing pretrained to carry over
        cfg: Config = config_from_dict(record["config"], [*target_overrides(target, split), *overrides],
                                       f"{record_path} config")
        data: RunData = build_run_data(cfg)
        metrics = evaluate_reference(cfg, data, reference, protocols, eval_path)
    else:
        metrics = evaluate_checkpoint_on(find_checkpoint(record_path), target, split, protocols, overrides, eval_path)
        cfg = config_from_dict(record["config"], [*target_overrides(target, split), *overrides])
    return {"run": name, "variant": record["variant"], "dataset": target.resolve().name, "split": split,
            "seed": record["seed"], "metrics": metrics, "pretrain": record.get("pretrain", {}),
            "eval_time_s": round(time.perf_counter() - started, 2), "config": config_to_dict(cfg),
            "data_fingerprint": dataset_fingerprint(str(target)), "transfer_of": str(record_path)}
