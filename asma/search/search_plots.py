"""The search's pictures: optimisation history with ASHA's per-epoch curves, importances, Pareto front."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from asma.search.space import SearchSpace  # noqa: E402


def plot_history(rows: list[dict], space: SearchSpace, path: Path) -> None:
    """Left: each trial's metric in completion order and the best so far. Right: per-epoch curves."""
    metric, mode = space.metrics[0], space.modes[0]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    best, best_line = None, []
    for i, row in enumerate(rows):
        value = row["metrics"].get(metric)
        if value is not None and (best is None or (value > best if mode == "max" else value < best)):
            best = value
        best_line.append(best)
        if value is None:
            continue
        stopped = row["status"] != "done"
        left.scatter(i + 1, value, marker="x" if stopped else "o", color="tab:grey" if stopped else "tab:blue",
                     label=("stopped early" if stopped else "full budget"))
    left.step(range(1, len(rows) + 1), best_line, where="post", color="tab:red", label="best so far")
    handles = dict(zip(*reversed(left.get_legend_handles_labels())))
    left.legend(handles.values(), handles.keys(), fontsize=8)
    left.xaxis.set_major_locator(MaxNLocator(integer=True))
    right.xaxis.set_major_locator(MaxNLocator(integer=True))
    left.set(xlabel="trial (completion order)", ylabel=metric, title="optimisation history")
    for row in rows:
        if row["curve"]:
            right.plot([e for e, _ in row["curve"]], [v for _, v in row["curve"]], marker=".",
                       alpha=0.9 if row["status"] == "done" else 0.4,
                       color="tab:blue" if row["status"] == "done" else "tab:grey")
    right.set(xlabel="epoch", ylabel=space.schedule_metric,
              title="per-epoch curves (grey: stopped early)" if not space.multi_objective else "per-epoch curves")
    _save(fig, path)


def plot_importances(importances: dict[str, float], path: Path) -> None:
    names = list(importances)[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.5 + 0.4 * len(names)))
    ax.barh(names, [importances[n] for n in names], color="tab:blue")
    ax.set(xlabel="importance (fANOVA)", title="parameter importances")
    _save(fig, path)


def plot_pareto(rows: list[dict], front: list[dict], space: SearchSpace, path: Path) -> None:
    (mx, my), (dx, dy) = space.metrics[:2], space.modes[:2]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    scored = [r for r in rows if r["metrics"].get(mx) is not None and r["metrics"].get(my) is not None]
    ax.scatter([r["metrics"][mx] for r in scored], [r["metrics"][my] for r in scored], color="tab:grey", label="trials")
    ordered = sorted(front, key=lambda r: r["metrics"][mx])
    ax.plot([r["metrics"][mx] for r in ordered], [r["metrics"][my] for r in ordered], "o-", color="tab:red",
            label="Pareto front")
    ax.set(xlabel=f"{mx} ({dx})", ylabel=f"{my} ({dy})", title="Pareto front")
    ax.legend(fontsize=8)
    _save(fig, path)


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
