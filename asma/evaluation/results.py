"""eval.json (written atomically, with the config that ran) and the results table."""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from asma.data.atomic import write_json_atomic

if TYPE_CHECKING:  # numpy is imported where the scores are read and written
    import numpy as np


class CorruptResultsWarning(UserWarning):
    """An earlier results file could not be read; it was kept aside, not merged."""


def _set_aside(path: Path, problem: str) -> None:
    """Rename an unreadable results file to `<name>.corrupt[.N]` and say so: its protocols' results
    are not silently dropped by the write that follows."""
    aside = path.with_name(f"{path.name}.corrupt")
    n = 1
    while aside.exists():
        aside = path.with_name(f"{path.name}.corrupt.{n}")
        n += 1
    os.replace(path, aside)
    warnings.warn(f"{path}: {problem}; kept it as {aside} and wrote this run's protocols to a new {path.name}",
                  CorruptResultsWarning, stacklevel=3)


def write_results(path: Path, record: dict) -> dict:
    """Write `record` to `path`; results of other protocols already there for the same source and
    config are kept, so protocols can be run one at a time. An earlier file that is not a results
    record is renamed aside (with a warning naming both files). Returns what was written."""
    path = Path(path)
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            _set_aside(path, f"not valid JSON ({e})")
        else:
            if not isinstance(old, dict) or not isinstance(old.get("protocols", {}), dict):
                _set_aside(path, "not an evaluation results record")
            elif old.get("config") == record["config"] and old.get("source") == record["source"]:
                record = {**record, "protocols": {**old.get("protocols", {}), **record["protocols"]}}
    write_json_atomic(path, record)
    return record


SCORES_KEY = "test_probabilities"  # a protocol's per-clip class probabilities on the test clips


def scores_path(results_path: Path) -> Path:
    """Where a results record's per-clip test scores are kept: `<name>.scores.npz` beside it."""
    results_path = Path(results_path)
    return results_path.with_name(f"{results_path.stem}.scores.npz")


def write_scores(results_path: Path, probabilities: dict[str, "np.ndarray"], labels: "np.ndarray") -> Path:
    """Each protocol's (test clips x classes) probabilities as float16 and the test labels, in one
    compressed npz (written atomically); a protocol already there and not run now is kept."""
    import numpy as np

    path = scores_path(results_path)
    arrays = {}
    if path.exists():
        try:
            with np.load(path) as old:
                if np.array_equal(old["labels"], labels):
                    arrays = {k: old[k] for k in old.files if k != "labels"}
        except (OSError, ValueError, KeyError):
            arrays = {}
    arrays.update({name: np.asarray(p, dtype=np.float16) for name, p in probabilities.items()})
    tmp = path.with_name(f".{path.name}.partial")
    with open(tmp, "wb") as f:
        np.savez_compressed(f, labels=np.asarray(labels, dtype=np.int32), **arrays)
    os.replace(tmp, path)
    return path


def read_scores(results_path: Path) -> dict[str, "np.ndarray"] | None:
    """{'labels': ..., protocol: probabilities} from scores_path(results_path), or None without one."""
    import numpy as np

    path = scores_path(results_path)
    if not path.exists():
        return None
    try:
        with np.load(path) as f:
            return {k: f[k] for k in f.files}
    except (OSError, ValueError):
        return None


STREAM_PREFIX = "supervised "  # 'supervised joint', 'supervised joint+bone': see stream_columns


def stream_columns(name: str, result: dict) -> dict[str, float]:
    """A multi-stream `supervised` result's extra columns: each stream's top-1 and each fusion of its
    leading streams (`supervised joint`, `supervised joint+bone`); none for one stream."""
    if name != "supervised" or len(result.get("streams") or {}) < 2:
        return {}
    parts = {**result["streams"], **(result.get("fusions") or {})}
    return {f"{STREAM_PREFIX}{part}": float(r["top1"]) for part, r in parts.items()}


def _pct(value: float, std: float | None = None) -> str:
    return f"{value:.1f}" if std is None else f"{value:.1f} ± {std:.1f}"


def results_table(record: dict, title: str | None = None) -> Table:
    """protocol | top-1 | top-5 | seconds; semi-supervised results one row per fraction (mean ± std)."""
    table = Table(title=title or f"evaluation of {record['source']}")
    for column in ("protocol", "top-1 %", "top-5 %", "seconds"):
        table.add_column(column, justify="left" if column == "protocol" else "right")
    for name, result in record["protocols"].items():
        seconds = f"{result.get('seconds', 0):.0f}"
        if name == "semi":
            for fraction, r in result["fractions"].items():
                label = f"semi {float(fraction) * 100:g}% ({result['sampling']}, {result['repeats']} runs)"
                table.add_row(label, _pct(r["top1"], r["top1_std"]), _pct(r["top5"], r["top5_std"]), seconds)
        else:
            table.add_row(name, _pct(result["top1"]), _pct(result["top5"]), seconds)
    return table
