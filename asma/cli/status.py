"""`asma status FOLDER...`: where a study or a search stands, read from its folder (running or not)."""
from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from asma.errors import ConfigError, InputFileError
from asma.experiments.trial_progress import counted
from asma.reports.compute import duration
from asma.reports.results import what_else_it_is
from asma.reports.search_status import search_status
from asma.reports.study_status import study_status


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="where a study or search stands: runs done, running, stopped and to go, "
                                      "with the trial time left (from its folder; running or not)")
    p.add_argument("folders", nargs="+", metavar="FOLDER",
                   help="a study folder (runs/ablations/<name>) or a search folder (runs/tune/<name>)")
    p.add_argument("--concurrency", type=int, default=1,
                   help="trials at a time, for the wall time left (default 1)")
    p.add_argument("--work", type=Path, default=None, metavar="DIR",
                   help="an `asma pool run --work DIR` folder (its default: OUT/pool): a study's runs that the "
                        "pool trains there count as running or stopped, from their epochs and checkpoints")
    p.set_defaults(func=run_status)


def run_status(args: argparse.Namespace) -> int:
    if args.concurrency < 1:
        raise ConfigError("--concurrency", "concurrency", f"needs at least 1 trial at a time, got {args.concurrency}")
    console = Console()
    for folder in map(Path, args.folders):
        if (folder / "space.json").exists():
            show_search(console, folder)
        elif (folder / "study.json").exists():
            show_study(console, folder, args.concurrency, args.work)
        else:

            raise InputFileError(folder, "neither a study folder (no study.json) nor a search folder (no space.json)"
                                 + what_else_it_is(folder), fix="`asma status` takes what `asma ablate` or `asma tune` "
                                 "wrote, e.g. runs/ablations/quick or runs/tune/masking")
    return 0


def show_study(console: Console, folder: Path, concurrency: int, work: Path | None = None) -> None:
    if work is not None and not work.is_dir():
        raise InputFileError(work, "no such folder (--work)",
                             fix="pass the --work folder `asma pool run` used (its default: OUT/pool)")
    status = study_status(folder, work=work)
    counts = ", ".join(f"{status.count(s)} {s}" for s in ("done", "running", "stopped", "failed", "pending"))
    console.print(f"[bold]study {status.name}[/]: {counted(len(status.runs), 'run')}: {counts}", highlight=False)
    left = status.remaining_s
    wall = f" ({duration(left / concurrency)} at {concurrency} trials at a time)" if concurrency > 1 else ""
    unknown = status.unestimated
    console.print(f"to go: about {duration(left)} of trial time{wall}"
                  + (f"; {counted(len(unknown), 'run')} not counted (nothing like them has run yet)" if unknown else ""),
                  highlight=False)
    console.print(f"planned epochs from {status.epochs_from}", style="dim", highlight=False)
    groups: dict[tuple[str, str], list] = defaultdict(list)
    for run in status.runs:
        groups[run.variant, run.dataset].append(run)
    metrics = list(dict.fromkeys(k for r in status.runs for k in r.metrics))
    table = Table("variant", "data set", "done", "in progress", "pending", "to go", *metrics,
                  caption="the metrics: mean top-1 (%) of the done runs" if metrics else None)
    for (variant, dataset), runs in groups.items():
        done = [r for r in runs if r.state == "done"]
        now = [f"{r.run.rsplit('__', 1)[-1]} {_progress(r)}" for r in runs if r.state in ("running", "stopped", "failed")]
        to_go = [r.remaining_s for r in runs if r.state != "done"]
        means = [[r.metrics[k] for r in done if k in r.metrics] for k in metrics]
        table.add_row(variant, dataset, f"{len(done)}/{len(runs)}", "\n".join(now) or "-",
                      str(sum(r.state == "pending" for r in runs)),
                      "-" if not to_go else "?" if None in to_go else duration(sum(to_go)),
                      *(f"{statistics.mean(m):.1f}" if m else "-" for m in means))
    console.print(table)
    for run in status.runs:
        if run.state == "failed":
            console.print(f"[red]failed[/] {run.run}: {run.error}", highlight=False)


def _progress(run) -> str:
    where = f"{run.epoch}/{run.epochs if run.epochs is not None else '?'}"
    if run.state == "stopped":
        return f"{where} stopped (resumes at {run.resumes_from})"
    return f"{where} {run.state}"


def _value(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"  # a parameter count, or a top-1


def show_search(console: Console, folder: Path) -> None:
    status = search_status(folder)
    states = ("complete", "stopped early", "running", "stopped", "failed", "repeat", "lost", "queued")
    counts = ", ".join(f"{status.count(s)} {s}" for s in states if status.count(s))
    console.print(f"[bold]search {status.name}[/]: {status.started} of {status.budget} trials started ({counts or 'none yet'}); "
                  f"{status.epochs_spent} epochs trained; study: optuna-dashboard {status.study}", highlight=False)
    if status.remaining_s is not None:
        console.print(f"to go: about {duration(status.remaining_s)} of trial time (unstarted and unfinished trials at "
                      "the epochs the scheduler's rungs are expected to leave them)", highlight=False)
    best = status.best()
    names = ", ".join(status.metrics)
    if best:
        shown = "; ".join(f"{t.label} " + ", ".join(map(_value, t.values)) for t in best)
        console.print(f"{'best' if len(best) == 1 else 'Pareto front'} ({names}, full budget): {shown}", highlight=False)
    # Tune's trial ids, as summary.md and the trial folders name them; Optuna's numbers, as optuna-dashboard does
    table = Table("trial", "optuna #", "state", "epoch", names)
    labels = {t.number: t.label for t in status.trials}
    for t in status.trials:
        state = f"repeat of {labels.get(t.repeat_of, f'#{t.repeat_of}')}" if t.state == "repeat" else t.state
        if t.state == "stopped":
            state += f" (resumes at {t.resumes_from})"
        table.add_row(t.label, str(t.number), state, f"{t.epoch}/{status.epochs or '?'}",
                      ", ".join(map(_value, t.values)) if t.values else "-")
    console.print(table)
