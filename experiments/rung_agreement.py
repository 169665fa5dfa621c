"""Does an early ASHA rung rank configs as the full budget does? Two searches of one space, read back.

A full-budget search of a finite space (a grid, `scheduler: fifo`) gives every point's metric at
the end; an ASHA search of the same space measured its proxy at the rungs. Every trial runs with
the same seed, so the two searches' runs of one point are the same run up to the epoch the ASHA
trial stopped at. This pairs each point's proxy at each rung epoch (from the ASHA search's curves;
a point tried more than once keeps its first trial) with the grid's final metric for that point,
and prints the Spearman correlation per epoch. It also prints the grid's own first-to-last
measurement agreement when the grid measured earlier epochs. No training: it reads summary.json.

    .venv/bin/python -m experiments.rung_agreement runs/tune/msr_subspace_grid runs/tune/msr_subspace_tpe
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from scipy.stats import spearmanr

from asma.search.repeats import point_key


def read(search_dir: Path) -> dict:
    path = search_dir / "summary" / "summary.json"
    if not path.exists():
        sys.exit(f"{path}: missing; pass the folder of a finished `asma tune`")
    return json.loads(path.read_text())


def final_by_point(grid: dict) -> dict:
    metric = grid["metrics"][0]
    return {point_key(t["params"]): t["metrics"][metric] for t in grid["trials"]
            if t["status"] == "done" and t["metrics"].get(metric) is not None}


def rung_values(search: dict) -> dict[int, dict]:
    """{epoch: {point: proxy at that epoch}} from each point's first trial."""
    out: dict[int, dict] = {}
    seen = set()
    for trial in search["trials"]:
        key = point_key(trial["params"])
        if key in seen:
            continue
        seen.add(key)
        for epoch, value in trial.get("curve", []):
            out.setdefault(int(epoch), {})[key] = value
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("grid", type=Path, help="the full-budget search of the space (every point to the end)")
    parser.add_argument("asha", type=Path, help="an ASHA search of the same space")
    args = parser.parse_args()
    grid, asha = read(args.grid), read(args.asha)
    final = final_by_point(grid)
    print(f"{len(final)} points of {grid['name']} at the full budget ({grid['epochs_per_trial']} epochs, "
          f"{grid['metrics'][0]}); proxy of {asha['name']} at each epoch it was measured:")
    print(f"{'epoch':>5s} {'points':>6s} {'Spearman':>8s}")
    for epoch, values in sorted(rung_values(asha).items()):
        shared = [k for k in values if k in final]
        rho = spearmanr([values[k] for k in shared], [final[k] for k in shared]).statistic if len(shared) >= 3 else None
        print(f"{epoch:5d} {len(shared):6d} {'-' if rho is None else f'{rho:8.2f}'}")
    for epoch, values in sorted(rung_values(grid).items()):
        shared = [k for k in values if k in final]
        if epoch < grid["epochs_per_trial"] and len(shared) >= 3:
            rho = spearmanr([values[k] for k in shared], [final[k] for k in shared]).statistic
            print(f"{grid['name']}'s own epoch {epoch} against its end: {len(shared)} points, Spearman {rho:.2f}")


if __name__ == "__main__":
    main()
