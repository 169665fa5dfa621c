"""`asma tune --resume`: the same search, checked; or, without its Tune experiment, its Optuna study
continued (asma.search.continuation)."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

from asma.data.fingerprint import same_data
from asma.errors import AsmaError
from asma.search.continuation import drop_torn_write, earlier_rows, requeue_lost, write_earlier
from asma.search.optuna_study import resumed_location
from asma.search.space import SearchSpace, SpaceFile


def check_resume(space: SearchSpace, run_dir: Path) -> None:
    """--resume continues the same search: the space and base config must not have changed."""
    saved = json.loads((run_dir / "space.json").read_text())
    now = space.to_dict()
    for part in ("space", "base"):
        old, new = dict(saved[part]), dict(now[part])
        if part == "space":
            old["budget"] = {**old["budget"], "trials": None}
            new["budget"] = {**new["budget"], "trials": None}
            # a key the space file gained after the search started, at its default: the resumed
            # searcher goes on as it was started (Tune unpickles it with its own settings)
            for key in set(new) - set(old):
                if new[key] == SpaceFile.model_fields[key].default:
                    new.pop(key)
        else:  # where trials are tracked and written is not what they run; the data is what data.path holds
            old, new = where_left_out(old), where_left_out(new)
            if same_data(old.get("data", {}).get("path"), new.get("data", {}).get("path")):
                old["data"] = {**old["data"], "path": new["data"]["path"]}
        if old != new:
            changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            raise AsmaError(f"{run_dir / 'space.json'}: the search was started with a different {part} "
                            f"({', '.join(changed)} changed); resume with the same file and --set values, "
                            "or start a new search with --set name=... / another out_dir")


def where_left_out(base: dict) -> dict:
    """A base config without where its search is written, cached and tracked: a search folder kept in
    git (records/) resumes in another checkout, where those absolute paths differ."""
    base = {k: v for k, v in base.items() if k not in ("tracking", "out_dir")}
    for part, key in (("data", "cache_dir"), ("ray", "storage_path")):
        if isinstance(base.get(part), dict):
            base[part] = {k: v for k, v in base[part].items() if k != key}
    return base


def continue_from_study(space: SearchSpace, run_dir: Path, experiment: Path, storage: str | None):
    """The study, its storage, the finished trials' rows and the lost trials' numbers of a search that
    goes on without its Tune experiment (asma.search.continuation)."""
    import optuna

    if experiment.exists():
        raise AsmaError(f"{experiment}: Tune cannot restore this experiment (incomplete or damaged); remove "
                        "the folder to continue the search from its Optuna study instead")
    study = resumed_location(space.name, run_dir, storage)
    if study is None:
        raise AsmaError(f"{run_dir}: neither a Tune experiment nor an Optuna study (study.json) to continue "
                        "from; start the search again without --resume into an empty folder")
    if study.url is None and (cut := drop_torn_write(study.journal)):
        warnings.warn(f"{study.journal}: cut its last {cut} bytes, a write left half done", stacklevel=2)
    optuna_storage = study.open()
    try:
        ot_study = optuna.load_study(study_name=study.study_name, storage=optuna_storage)
    except KeyError:
        raise AsmaError(f"{study.shown} holds no Optuna study {study.study_name!r}; start the search again "
                        "without --resume into an empty folder") from None
    lost = requeue_lost(ot_study)
    earlier = earlier_rows(run_dir, ot_study, space)
    write_earlier(run_dir, earlier)
    return study, optuna_storage, earlier, lost, len(ot_study.trials)

