"""A study's runs as specs: what each trial (or `asma pool` process) runs, and where its record goes.

Ray-free, so that `asma pool` plans and runs a study on a machine without Ray; asma.ablation.runner
schedules the same specs as Tune trials.
"""
from __future__ import annotations

from pathlib import Path

from asma.ablation.study_file import RunSpec, Study
from asma.config.loading import config_to_dict
from asma.data.atomic import write_json_atomic
from asma.data.fingerprint import dataset_fingerprint
from asma.experiments.evaluate import pretraining_epochs


def study_dir(study: Study, out_dir: str | Path | None = None) -> Path:
    return (Path(out_dir or study.base["out_dir"]) / "ablations" / study.name).expanduser().resolve()


def result_path(run_dir: Path, run: RunSpec) -> Path:
    return run_dir / "runs" / f"{run.run_id}.json"


def run_specs(study: Study, run_dir: Path) -> dict[str, dict]:
    """Every run's spec for the trials (config as a dict, where to write the result)."""
    specs = {}
    for run in study.runs():
        cfg = study.config_for(run)
        specs[run.run_id] = {
            "run": run.run_id, "variant": run.variant, "dataset": run.dataset, "seed": run.seed,
            "split": cfg.data.split, "config": config_to_dict(cfg), "protocols": study.protocols,
            "reference": study.variants[run.variant].reference,
            "data_fingerprint": dataset_fingerprint(cfg.data.path),
            "result_path": str(result_path(run_dir, run)),
        }
    return specs


def in_seed_order(run_ids: list[str], specs: dict[str, dict]) -> list[str]:
    """`run_ids` data set by data set, seed by seed (the study's order of variants within a seed),
    the order trials start in (`asma pool` plans with it too): a study stopped part way has every row at
    the same seeds, so its paired differences and means compare like with like, where the study's
    own order (variant by variant) would leave the last variants with no seeds at all."""
    sets = list(dict.fromkeys(specs[r]["dataset"] for r in specs))
    return sorted(run_ids, key=lambda r: (sets.index(specs[r]["dataset"]), specs[r]["seed"]))


def write_study_record(study: Study, run_dir: Path, specs: dict[str, dict]) -> None:
    """study.json, what `asma report` and `asma status` read: the study, its run ids, and the epochs
    each run pretrains (0: a floor, a ceiling, a fixed teacher)."""
    write_json_atomic(run_dir / "study.json", {**study.to_dict(), "runs": list(specs),
                                               "epochs": {r: pretraining_epochs(s) for r, s in specs.items()}})
