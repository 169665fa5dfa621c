"""Which keys two configs differ in, among those that changed what a run computed.

One comparison for every check that reuses earlier work: `asma ablate` skipping a finished run
(asma/ablation/finished.py) and `asma pretrain` resuming a run folder (asma/training/resume.py).
Each passes the keys that cannot have changed its result; the rest must be equal. `data.path` counts
by what it holds (asma.data.fingerprint), not by how the path is spelled.
"""
from __future__ import annotations

from typing import Any

from asma.config.loading import config_to_dict
from asma.config.schema import Config
from asma.data.fingerprint import dataset_fingerprint

MISSING = object()
PREPARED_AGAIN = "data.path (the set there was prepared again)"


def changed_keys(old: dict, new: dict, prefix: str = "", defaults: dict | None = None) -> list[str]:
    """Dotted keys whose values differ. A key the old record lacks (the schema gained it after the
    run) counts as unchanged when the new value is the schema's default: a key is added with the
    default that keeps the earlier behaviour."""
    defaults = config_to_dict(Config()) if defaults is None else defaults
    keys = []
    for key in sorted(set(old) | set(new)):
        a, b, default = old.get(key, MISSING), new.get(key, MISSING), defaults.get(key, MISSING)
        if isinstance(b, dict) and (isinstance(a, dict) or a is MISSING):
            keys += changed_keys({} if a is MISSING else a, b, f"{prefix}{key}.",
                                 default if isinstance(default, dict) else {})
        elif a is MISSING and b == default:
            continue
        elif a != b:
            keys.append(f"{prefix}{key}")
    return keys


def changed_keys_that_ran(old_config: dict, new_config: dict, unused: tuple[str, ...],
                          old_fingerprint: str | None = None, new_fingerprint: str | None = None) -> list[str]:
    """The keys `old_config` differs in from `new_config`, but for those starting with a prefix in `unused`.

    A `data.path` that differs names the same data when both sides' fingerprints are equal; a set
    prepared again at the same path is other data. A missing fingerprint is taken from what the
    path holds now; where either side's data cannot be read, the path itself is compared."""
    changed = [k for k in changed_keys(old_config, new_config) if not k.startswith(unused)]
    old_data = (old_config.get("data") or {}).get("path")
    now = new_fingerprint or dataset_fingerprint(new_config["data"]["path"])
    before = old_fingerprint or (dataset_fingerprint(old_data) if old_data else None)
    if now is None or before is None:
        return changed
    if now == before:
        return [k for k in changed if k != "data.path"]
    return changed if "data.path" in changed else sorted([*changed, PREPARED_AGAIN])


def value_at(config: dict, dotted: str) -> Any:
    """The value of a dotted key (`optim.lr`), or MISSING; a key with a note (`data.path (...)`) by its key."""
    value: Any = config
    for part in dotted.split(" ", 1)[0].split("."):
        if not isinstance(value, dict) or part not in value:
            return MISSING
        value = value[part]
    return value
