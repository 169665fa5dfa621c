"""Which runs of a study are finished: a result file made with the same config, in every key that ran.

A result made with another config is an error, not a silent reuse; keys that cannot have changed a
run's result (where it is written, a recipe it did not train with) are not compared.
"""
from __future__ import annotations

import json
from pathlib import Path

from asma.data.atomic import write_json_atomic
from asma.data.fingerprint import dataset_fingerprint
from asma.errors import AsmaError
from asma.experiments.evaluate import needs_pretraining
from asma.training.config_changes import changed_keys_that_ran


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
    return changed_keys_that_ran(old_config, spec["config"], keys_that_did_not_run(spec), old_fingerprint,
                                 spec.get("data_fingerprint"))


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
