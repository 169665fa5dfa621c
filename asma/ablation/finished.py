"""Which runs of a study are finished: a result file made with the same config, in every key that ran.

A result made with another config is an error, not a silent reuse; keys that cannot have changed a
run's result (where it is written, a recipe it did not train with) are not compared.
"""
from __future__ import annotations

import json
from pathlib import Path

from asma.ablation.evaluate import needs_pretraining
from asma.config.loading import config_to_dict
from asma.config.schema import Config
from asma.data.atomic import write_json_atomic
from asma.data.fingerprint import dataset_fingerprint
from asma.errors import AsmaError

MISSING = object()


def _changed_keys(old: dict, new: dict, prefix: str = "", defaults: dict | None = None) -> list[str]:
    """Dotted keys whose values differ. A key the old record lacks (the schema gained it after the
    run) counts as unchanged when the new value is the schema's default: a key is added with the
    default that keeps the earlier behaviour."""
    defaults = config_to_dict(Config()) if defaults is None else defaults
    keys = []
    for key in sorted(set(old) | set(new)):
        a, b, default = old.get(key, MISSING), new.get(key, MISSING), defaults.get(key, MISSING)
        if isinstance(b, dict) and (isinstance(a, dict) or a is MISSING):
            keys += _changed_keys({} if a is MISSING else a, b, f"{prefix}{key}.",
                                  default if isinstance(default, dict) else {})
        elif a is MISSING and b == default:
            continue
        elif a != b:
            keys.append(f"{prefix}{key}")
    return keys



def keys_that_did_not_run(spec: dict) -> tuple[str, ...]:
    """Config keys that cannot have changed a run's result: where it is written, cached and tracked, the
    supervised recipe unless the run trains with it (a ceiling row, or the `supervised` protocol),
    the student and distillation unless it distils, the masks and projector of a run that does not
    pretrain (a floor or ceiling row, a study of the supervised protocol alone). A preset may tune
    those later without invalidating the finished runs of a long study."""
    # the run's name and where results, Tune's state and the generated synthetic set are kept (a study
    # names each run after itself: the same run in another study has another name); fault handling, too
    unused = ["name", "out_dir", "data.cache_dir", "ray.storage_path", "tracking.", "ray.max_failures", "ray.num_to_keep"]
    if spec.get("reference") != "ceiling" and "supervised" not in spec["protocols"]:
        unused.append("supervised.")
    if "distill" not in spec["protocols"]:
        unused += ["student.", "distill."]
    teacher = spec["config"].get("distill", {}).get("teacher")
    if spec.get("reference") or not needs_pretraining(spec["protocols"], teacher):  # nothing was pretrained
        unused += ["masking.specs.", "masking.streams", "masking.sample_joints", "projector."]
    return tuple(unused)


def changed_config_keys(old_config: dict, spec: dict, old_fingerprint: str | None = None) -> list[str]:
    """The keys a result made with `old_config` differs in from `spec`'s run, among those that ran.

    `data.path` counts by what it holds (asma.data.fingerprint): a run record committed on one
    machine and read on another names the same prepared set at another absolute path, and a set
    prepared again at the same path with other options is other data. `old_fingerprint` is the
    one the result recorded; a result without one is compared with what its path holds now, and
    where either side's data cannot be read, by the path itself."""
    changed = [k for k in _changed_keys(old_config, spec["config"]) if not k.startswith(keys_that_did_not_run(spec))]
    old_data = (old_config.get("data") or {}).get("path")
    new_data = spec["config"]["data"]["path"]
    now = spec.get("data_fingerprint") or dataset_fingerprint(new_data)
    before = old_fingerprint or (dataset_fingerprint(old_data) if old_data else None)
    if now is None or before is None:
        return changed
    if now == before:
        return [k for k in changed if k != "data.path"]
    return changed if "data.path" in changed else sorted([*changed, "data.path (the set there was prepared again)"])


def finished_runs(specs: dict[str, dict]) -> set[str]:
    """Runs whose result file exists; one made with another config is an error, not a silent reuse."""
    done = set()
    for run_id, spec in specs.items():
        path = Path(spec["result_path"])
        if not path.exists():
            continue
        try:
            old = json.loads(path.read_text())
            old["config"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise AsmaError(f"{path}: not a run result; delete it to re-run {run_id}") from None
        changed = changed_config_keys(old["config"], spec, old.get("data_fingerprint"))
        if changed:
            raise AsmaError(f"{path} was made with a different config ({', '.join(changed[:5])}); "
                            "delete it to re-run, or run the study into another --out folder")
        if "data_fingerprint" not in old and spec.get("data_fingerprint") and \
                dataset_fingerprint(old["config"]["data"]["path"]) == spec["data_fingerprint"]:
            # a record from before fingerprints, of the data its path still holds: it gains the
            # fingerprint, so that it still counts where that path is gone (another checkout)
            write_json_atomic(path, {**old, "data_fingerprint": spec["data_fingerprint"]})
        done.add(run_id)
    return done
