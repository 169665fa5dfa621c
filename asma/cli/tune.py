"""`asma tune SPACE.yaml [--trials N] [--concurrency K] [--resume] [--storage URL] [--address A] [--data D]
[--set k=v]`; `asma tune-compare REFERENCE CANDIDATE` (search efficiency from two summaries); `asma tune-confirm SEARCH`
(a study that re-runs a search's best configs over seeds)."""
from __future__ import annotations

import argparse

from rich.console import Console

from asma.ablation.study_file import load_study
from asma.cli.common import add_tracking_args, tracking_overrides
from asma.cluster.ray_session import ADDRESS_HELP
from asma.data.atomic import write_text_atomic
from asma.errors import ConfigError
from asma.search.compare import compare_searches, comparison_markdown, read_summary
from asma.search.confirm import confirmation_study, confirmation_yaml
from asma.search.space import load_space
from asma.search.summary import write_summary
from asma.tracking.trackers import check_tracking


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tune", help="hyperparameter search with Ray Tune + Optuna (ASHA early stopping; resumable)")
    p.add_argument("space", help="search-space YAML (see search_spaces/)")
    p.add_argument("--trials", type=int, default=None, help="trials in all (default: the file's budget.trials); "
                   "with --resume, raise it to run more")
    p.add_argument("--concurrency", type=int, default=None, help="trials at a time (default: 2; with --resume, "
                   "the search's own)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted search: finished trials are kept, "
                   "unfinished ones continue from their last epoch")
    p.add_argument("--storage", default=None, metavar="URL", help="RDB URL for the Optuna study (e.g. "
                   "sqlite:///searches.db); default: a journal file, <out_dir>/tune/<name>/study.journal; "
                   "either opens with optuna-dashboard")
    p.add_argument("--address", default=None, help=ADDRESS_HELP)
    p.add_argument("--data", default=None, help="'synthetic' or a prepared data set folder (sets data.path)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a value of the base config, e.g. --set out_dir=runs2 (repeatable)")
    add_tracking_args(p)
    p.set_defaults(func=run)

    c = sub.add_parser("tune-compare", help="search efficiency: a search (e.g. TPE + ASHA) against another of the "
                       "same space (e.g. its full grid), from their summaries")
    c.add_argument("reference", help="the reference search's folder, <out_dir>/tune/<name> (e.g. the grid)")
    c.add_argument("candidate", help="the compared search's folder (e.g. TPE + ASHA)")
    c.add_argument("--tolerance", type=float, default=1.0, help="points of the metric that count as reaching "
                   "the reference's best (default 1)")
    c.add_argument("--json", action="store_true", help="print the comparison as JSON")
    c.set_defaults(func=run_compare)

    f = sub.add_parser("tune-confirm", help="write an ablation study that re-runs a search's best configs over "
                       "seeds beside no masking twice, PSTL twice and ASMa (then `asma ablate` it)")
    f.add_argument("search", help="a finished search's folder, <out_dir>/tune/<name>")
    f.add_argument("--top", type=int, default=3, help="how many of the best full-budget trials (default 3)")
    f.add_argument("--seeds", type=int, default=5, help="seeds per row (default 5)")
    f.add_argument("--epochs", type=int, default=None, help="pretraining epochs of every run (default: the "
                   "search's base preset's own, not the search's budget)")
    f.add_argument("--out", default=None, help="the study file to write (default: <search>/summary/confirmation.yaml)")
    f.set_defaults(func=run_confirm)


def run(args: argparse.Namespace) -> int:
    from asma.search.tuner import run_search  # lazy: imports Ray and Optuna, which the other commands need not

    if args.concurrency is not None and args.concurrency < 1:
        raise ConfigError("--concurrency", str(args.concurrency), "must be at least 1")
    if args.trials is not None and args.trials < 1:
        raise ConfigError("--trials", str(args.trials), "must be at least 1")
    console = Console()
    space = load_space(args.space, [*args.overrides, *tracking_overrides(args)], data=args.data, trials=args.trials)
    check_tracking(space.base.tracking)
    outcome = run_search(space, resume=args.resume, concurrency=args.concurrency, address=args.address,
                         console=console, storage=args.storage)
    summary = write_summary(outcome.results, space, outcome.run_dir)
    show(summary, outcome.run_dir, console)
    if outcome.study is not None:
        console.print(f"Optuna study: {outcome.study.dashboard_command()}", highlight=False)
    return 1 if summary["compute"]["errors"] == summary["compute"]["trials"] else 0


def show(summary: dict, run_dir, console: Console) -> None:
    c = summary["compute"]
    console.print(f"{c['trials']} trials, {c['epochs']} epochs run ({c['stopped_early']} trials stopped early, "
                  f"{c.get('interrupted', 0)} interrupted, {c['errors']} failed)", highlight=False)
    metric = summary["metrics"][0]
    if summary["pareto"]:
        console.print(f"Pareto front ({', '.join(summary['metrics'])}):", highlight=False)
        for t in summary["pareto"]:
            values = "  ".join(f"{m} {t['metrics'][m]:.4g}" for m in summary["metrics"])
            console.print(f"  {t['trial_id']}  {values}  {t['params']}", highlight=False)
    elif summary["best"]:
        b = summary["best"]
        console.print(f"best {metric} {b['metrics'][metric]:.4g} ({b['trial_id']}, {b['epochs']} epochs): {b['params']}",
                      highlight=False)
    console.print(f"summary: {run_dir / 'summary' / 'summary.md'}", highlight=False)


def run_compare(args: argparse.Namespace) -> int:
    import json

    comparison = compare_searches(read_summary(args.reference), read_summary(args.candidate), args.tolerance)
    Console().print(json.dumps(comparison, indent=1) if args.json else comparison_markdown(comparison), highlight=False)
    return 0


def run_confirm(args: argparse.Namespace) -> int:
    from pathlib import Path

    study = confirmation_study(args.search, top=args.top, seeds=args.seeds, epochs=args.epochs)
    out = Path(args.out) if args.out else Path(args.search) / "summary" / "confirmation.yaml"
    write_text_atomic(out, confirmation_yaml(study, args.search))
    loaded = load_study(out)  # every run's config validates before anyone starts it
    Console().print(f"wrote {out}: {len(loaded.runs())} runs ({len(study['variants'])} rows x {args.seeds} seeds); "
                    f"run it with `asma ablate {out}`", highlight=False)
    return 0
