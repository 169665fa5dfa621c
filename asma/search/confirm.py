"""A search's confirmation study: its best trials re-run as an `asma ablate` study at the full
budget, over seeds, beside the rows every masking claim is judged against.

One seed of a search's proxy is not a result (docs/method.md, "Search proxy"): a config the search
found is confirmed when its linear probe and kNN beat no masking over several seeds, none of them the
seed the search picked it on (`confirmation_seeds`). The study this
writes holds the search's `top` full-budget trials (their params as variant overrides), no masking
twice (the default row: every row's paired difference to it, with its 95% CI), PSTL's masking
twice and ASMa's built-in views, all with two encoders (matched capacity), on the search's data set,
with the search's fixed overrides (data, budget and output keys excepted).

    asma tune-confirm records/tune/msr_masking --top 3 --seeds 5 --epochs 200 --out ablations/msr_masking_confirmation.yaml
    asma ablate ablations/msr_masking_confirmation.yaml --reuse records/ablations/real_converged

Its reference rows carry the names and configs of `ablations/real_converged.yaml`'s (no masking,
PSTL, ASMa; REFERENCE_SPECS are that study's second-encoder views), so `--reuse` copies the runs
that study finished on the same data set instead of training them again.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from asma.config.loading import load_config
from asma.errors import AsmaError, InputFileError
from asma.search.summary import RUN_KEYS

# Reference rows at matched capacity: the second encoder of each gets its own copy of the view.
REFERENCE_SPECS = {
    "masking.specs.pstl2": {"joints": {"mode": "csm", "scope": "batch"}, "frames": {"mode": "matm"}},
    "masking.specs.none2": {"joints": {"mode": "none", "ratio": 0.0},
                            "frames": {"mode": "none", "ratio": 0.0, "random_ratio": 0.0}},
}
REFERENCE_VARIANTS = {
    "none_none": {"masking.views": ["none", "none2"], "label": "no masking, twice", "default": True},
    "pstl_pstl": {"masking.views": ["pstl", "pstl2"], "label": "PSTL (CSM + MATM), twice"},
    "asma": {"masking.views": ["a", "b"], "label": "ASMa (A + B), the built-in views"},
}
# The search's overrides a study sets its own way (datasets:, its epochs) or not at all: a run's data,
# budget and output keys (a preset leaves the same ones out, and the machine's choices besides).
NOT_CARRIED = RUN_KEYS


def _read(search_dir: Path) -> tuple[dict, dict]:
    space_file, summary_file = search_dir / "space.json", search_dir / "summary" / "summary.json"
    for path in (space_file, summary_file):
        if not path.exists():
            raise InputFileError(path, "missing", fix="pass a folder <out_dir>/tune/<name> of a finished "
                                 "`asma tune` (it writes space.json at the start and summary/ at the end)")
    return json.loads(space_file.read_text()), json.loads(summary_file.read_text())


def top_trials(summary: dict, top: int) -> list[dict]:
    """The `top` best full-budget trials of a single-objective search, best first."""
    if len(summary["metrics"]) != 1:
        raise AsmaError(f"search {summary['name']} has several objectives ({', '.join(summary['metrics'])}); "
                        "a confirmation study re-runs the best configs of one metric")
    metric, mode = summary["metrics"][0], summary["modes"][0]
    done = [t for t in summary["trials"] if t["status"] == "done" and t["metrics"].get(metric) is not None]
    if not done:
        raise AsmaError(f"search {summary['name']}: no trial ran the full budget, so none can be confirmed")
    return sorted(done, key=lambda t: t["metrics"][metric], reverse=mode == "max")[:top]


def confirmation_study(search_dir: str | Path, top: int = 3, seeds: int = 5, epochs: int | None = None) -> dict:
    """The study, as the mapping a study YAML holds."""
    search_dir = Path(search_dir)
    saved, summary = _read(search_dir)
    spec = saved["space"]
    if spec.get("task", "pretrain") != "pretrain":
        raise AsmaError(f"search {summary['name']} trains students (task: {spec['task']}); a confirmation "
                        "study re-runs pretraining searches")
    overrides = spec.get("overrides", {})
    data_path = overrides.get("data.path") or saved["base"]["data"]["path"]
    # the search chose on the validation split (xsub_val); the confirmation reports the test clips (xsub)
    split = (overrides.get("data.split") or saved["base"]["data"]["split"]).removesuffix("_val")
    metric = summary["metrics"][0]
    found: dict[str, dict[str, Any]] = {}
    for rank, trial in enumerate(top_trials(summary, top), start=1):
        found[f"found_{rank}"] = {  # the views and everything else as the search ran them (study overrides)
            **trial["params"],
            "label": f"found #{rank} ({metric} {trial['metrics'][metric]:.1f} in the search; trial {trial['trial_id']})"}
    variants = {**found, **REFERENCE_VARIANTS}
    chosen_on = int(saved["base"]["train"]["seed"])
    base = spec.get("base", "smoke")
    if base.endswith((".yaml", ".yml")):  # a config file named relative to the space file
        base = str((Path(saved["source"]).parent / base).resolve())
    return {
        "name": f"{summary['name']}_confirmation",
        "description": (f"The {len(found)} best full-budget trials of search {summary['name']} ({saved['source']}), "
                        f"re-run over {seeds} seeds other than the search's own ({chosen_on}) beside no masking "
                        "twice (the default), PSTL twice and ASMa's built-in views, every row two encoders; linear "
                        "probe and kNN."),
        "base": base,
        "overrides": {**{k: v for k, v in overrides.items() if k not in NOT_CARRIED}, **REFERENCE_SPECS,
                      "train.epochs": epochs or load_config(base).train.epochs},  # the base's, not the budget's
        "variants": variants,
        "factors": [{"name": "found masks against the references", "variants": list(variants)}],
        "seeds": confirmation_seeds(seeds, chosen_on),
        "datasets": [{"name": Path(data_path).name or "data", "path": data_path, "split": split}],
        "protocols": ["linear", "knn"],
        "resources": {"cpus": spec.get("resources", {}).get("cpus", 1), "gpus": spec.get("resources", {}).get("gpus", 0)},
    }


def confirmation_seeds(count: int, chosen_on: int) -> list[int]:
    """`count` seeds from 0 up, without the seed the search's trials ran with: the found configs were
    picked for their score on that seed, so running it again would re-measure the pick (its luck
    included, the winner's curse) rather than confirm it."""
    return [s for s in range(count + 1) if s != chosen_on][:count]


def confirmation_yaml(study: dict, search_dir: str | Path) -> str:
    header = (f"# Written by `asma tune-confirm {search_dir}`: the search's best configs confirmed over seeds\n"
              f"# (asma/search/confirm.py). Run with `asma ablate <this file>`.\n")
    return header + yaml.safe_dump(study, sort_keys=False, default_flow_style=None, width=110)
