"""Accuracy against a factor's numeric values (ratio, threshold, ...), with std over seeds as error bars."""
from __future__ import annotations

import os
from pathlib import Path

from asma.experiments.trial_progress import counted
from asma.reports.tables import Table


def has_values(table: Table) -> bool:
    return sum(row.value is not None for row in table.rows) >= 2


def plot_factor(table: Table, path: str | Path) -> Path:
    """One line per column (data set x metric); x = the variants' values. Written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    rows = sorted((r for r in table.rows if r.value is not None), key=lambda r: r.value)
    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=120)
    for j, column in enumerate(table.columns):
        points = [(r.value, r.cells[j].summary) for r in rows if r.cells[j].summary]
        if not points:
            continue
        xs = [x for x, _ in points]
        ax.errorbar(xs, [s.mean for _, s in points], yerr=[s.std or 0.0 for _, s in points],
                    marker="o", capsize=3, label=column.title)
    defaults = [r.value for r in rows if r.default]
    if defaults:
        ax.axvline(defaults[0], color="grey", linestyle=":", linewidth=1, label="default")
    ax.set_xlabel(table.axis or table.factor)
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title(f"{table.factor} ({counted(len(table.seeds), 'seed')}, mean ± std)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.partial.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)
    return path
