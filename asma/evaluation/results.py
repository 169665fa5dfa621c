"""eval.json (written atomically, with the config that ran) and the results table."""
from __future__ import annotations

import json
from pathlib import Path

from rich.table import Table

from asma.data.atomic import write_json_atomic


def write_results(path: Path, record: dict) -> dict:
    """Write `record` to `path`; results of other protocols already there for the same source and
    config are kept, so protocols can be run one at a time. Returns what was written."""
    path = Path(path)
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except json.JSONDecodeError:
            old = {}
        if old.get("config") == record["config"] and old.get("source") == record["source"]:
            record = {**record, "protocols": {**old.get("protocols", {}), **record["protocols"]}}
    write_json_atomic(path, record)
    return record


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
