"""Whether a run folder may be resumed with a config: the same check `asma ablate` makes on a finished run.

`asma pretrain` resumes whatever its run folder (out_dir/name) holds. Without this check a run
made with another learning rate, data set or masking went on with the new config, and config.yaml
was rewritten to claim the new one for the epochs trained with the old (or the checkpoint did not
fit the new model, and a state_dict traceback followed). A refused resume writes nothing.

What may differ is what cannot change the weights an epoch trains: where the run and its caches
are, how it is tracked and evaluated, the machine, threads and Ray workers it runs on (the batch is
global, so workers only split it), and `train.epochs`, which extends a run (it may not fall below
the epochs already trained). The recipes pretraining does not use (supervised, student, distill)
are not compared either.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from asma.config.loading import config_to_dict
from asma.config.schema import Config
from asma.errors import AsmaError
from asma.training.config_changes import MISSING, changed_keys_that_ran, value_at

# config keys (or prefixes, ending in '.') a resumed run may change
MAY_DIFFER_ON_RESUME = (
    "name", "out_dir", "data.cache_dir", "data.loader_workers", "train.epochs", "train.threads", "train.device",
    "train.checkpoint_every", "train.eval_every", "train.eval_epochs", "train.eval_report",
    "eval.", "ray.", "tracking.", "supervised.", "student.", "distill.",
)
SHOWN_KEYS = 5


def epochs_trained(run_dir: Path) -> int:
    """The last epoch the run folder records: in its checkpoint pointer or its metrics (0: none)."""
    epochs = [0]
    pointer = run_dir / "checkpoints" / "latest.json"
    if pointer.is_file():
        try:
            epochs.append(int(json.loads(pointer.read_text())["epoch"]))
        except (ValueError, KeyError, TypeError):
            pass
    metrics = run_dir / "metrics.jsonl"
    if metrics.is_file():
        for line in metrics.read_text().splitlines():
            try:
                epochs.append(int(json.loads(line)["epoch"]))
            except (ValueError, KeyError, TypeError):
                continue
    return max(epochs)


def _absolute_data(config: dict) -> dict:
    """`data.path` made absolute (relative to this folder), as a Ray run records it; 'synthetic' stays."""
    data = dict(config.get("data") or {})
    path = data.get("path")
    if isinstance(path, str) and path != "synthetic":
        data["path"] = str(Path(path).expanduser().resolve())
    return {**config, "data": data}


def _shown(value: Any) -> str:
    """A value for the one-line error: a string (a path) whole, a long list or section cut short."""
    text = "(absent)" if value is MISSING else json.dumps(value)
    return text if len(text) <= 60 or isinstance(value, str) else text[:57] + "..."


def check_resume(cfg: Config, run_dir: Path) -> int:
    """Refuse to resume `run_dir` with `cfg` when they differ in a key that trains; return the epochs
    the folder has trained (0: nothing to resume, so any config may start there)."""
    trained = epochs_trained(run_dir)
    saved = run_dir / "config.yaml"
    if trained == 0 or not saved.is_file():
        return trained
    try:
        old = yaml.safe_load(saved.read_text())
        old["data"]
    except (yaml.YAMLError, KeyError, TypeError):
        raise AsmaError(f"{saved}: not a run's config, so {run_dir} cannot be resumed; delete {run_dir} "
                        "to start the run again") from None
    old, new = _absolute_data(old), _absolute_data(config_to_dict(cfg))
    changed = changed_keys_that_ran(old, new, MAY_DIFFER_ON_RESUME)
    if cfg.train.epochs < trained:
        changed.append("train.epochs")
    if not changed:
        return trained
    listed = ", ".join(f"{k}: {_shown(value_at(old, k))} -> {_shown(value_at(new, k))}" for k in changed[:SHOWN_KEYS])
    more = f" and {len(changed) - SHOWN_KEYS} more" if len(changed) > SHOWN_KEYS else ""
    cut = f"; it has trained {trained} epochs" if "train.epochs" in changed else ""
    raise AsmaError(f"{run_dir} holds a run made with another config ({listed}{more}{cut}); resuming would "
                    f"train it on with the new one. Give the new run another folder (--set name=NEW, or "
                    f"another out_dir), set the keys back, or delete {run_dir} to start it again")
