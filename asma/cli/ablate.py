"""`asma ablate STUDY.yaml`, `asma report RUN_DIR`, `asma demo` (the README's main job)."""
from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from asma.ablation.study_file import load_study
from asma.cli.common import add_tracking_args, tracking_overrides
from asma.cluster.ray_session import ADDRESS_HELP
from asma.config.loading import config_from_dict
from asma.errors import InputFileError
from asma.experiments.trial_progress import counted
from asma.reports.render import markdown_table
from asma.reports.report import write_report
from asma.tracking.trackers import check_tracking

# package data, so that an installed asma has it; ablations/quick.yaml is the same file for a checkout's reader
DEMO_STUDY = Path(__file__).resolve().parents[1] / "studies" / "quick.yaml"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ablate", help="run an ablation study (variants x seeds x data sets) as Ray Tune trials")
    p.add_argument("study", help="study YAML, e.g. ablations/masking_strategy.yaml")
    _add_run_args(p)
    p.add_argument("--seeds", type=int, default=None, help="run seeds 0..N-1 instead of the study's seeds")
    p.add_argument("--data", default=None, help="'synthetic' or a prepared data set folder, instead of the study's")
    p.add_argument("--base", default=None, help="preset or config file instead of the study's base (e.g. paper)")
    p.add_argument("--protocols", default=None, help="comma-separated protocols instead of the study's (e.g. knn,linear)")
    p.add_argument("--cpus-per-trial", type=float, default=None, help="instead of the study's resources.cpus")
    p.add_argument("--gpus-per-trial", type=float, default=None, help="instead of the study's resources.gpus")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value of every run, e.g. --set train.epochs=2 (repeatable)")
    p.add_argument("--reuse", action="append", default=[], metavar="RUN_DIR",
                   help="another study's folder: its finished runs with this study's run id and the same config "
                        "are copied in, not re-run (repeatable; e.g. runs/ablations/real_converged)")
    p.set_defaults(func=run_ablate)

    p = sub.add_parser("report", help="tables (Markdown, LaTeX, CSV), plots and tests of an ablation run folder")
    p.add_argument("run_dir", help="the folder `asma ablate` wrote, e.g. runs/ablations/quick")
    p.add_argument("--test", choices=["t", "wilcoxon"], default="t", help="paired test against the default (>= 3 seeds)")
    p.add_argument("--adjust", choices=["holm", "none"], default="holm",
                   help="multiple comparisons: each table's p-values also given Holm-Bonferroni adjusted over the "
                        "table's tests (holm), or raw p only (none)")
    p.set_defaults(func=run_report)

    p = sub.add_parser("demo", help="the main job: a small ablation (ablations/quick.yaml, shipped with asma) "
                                    "on synthetic skeletons")
    _add_run_args(p)
    p.set_defaults(func=run_demo)


def _add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default=None, help="output root; the study goes to OUT/ablations/<name> (default: the config's out_dir)")
    p.add_argument("--resume", action="store_true", help="also continue interrupted trials from their last checkpoint")
    p.add_argument("--address", default=None, help=ADDRESS_HELP)
    p.add_argument("--concurrency", type=int, default=None, help="most trials at once (default: as many as fit; with --resume, the study's own)")
    add_tracking_args(p)


def _run(study_path: Path, args: argparse.Namespace, **options):
    from asma.ablation.runner import run_study  # lazy: imports Ray, which the other commands need not

    console = Console()
    options["overrides"] = [*options.get("overrides", []), *tracking_overrides(args)]
    study = load_study(study_path, **options)
    check_tracking(config_from_dict(study.base, source=study.source).tracking)
    outcome = run_study(study, out_dir=args.out, resume=args.resume, address=args.address,
                        concurrency=args.concurrency, console=console,
                        reuse=[Path(p) for p in getattr(args, "reuse", [])])
    files = write_report(outcome.run_dir)
    console.print(f"{counted(len(outcome.finished), 'run')} finished now, {len(outcome.skipped)} were done before; "
                  f"report: {files.markdown}", highlight=False)
    if outcome.interrupted:
        console.print(f"[yellow]interrupted[/]: {counted(len(outcome.interrupted), 'run')} unfinished; Tune saved their state, "
                      "and the same command with --resume continues them from their checkpoints", highlight=False)
    for run_id, error in outcome.failed.items():
        console.print(f"[red]missing[/] {run_id}: {error}", highlight=False)
    if outcome.failed:
        console.print("fix what failed and re-run the same command (add --resume to continue interrupted "
                      "trials from their checkpoints); finished runs are kept, not repeated")
    return (1 if outcome.failed else 130 if outcome.interrupted else 0), files


def run_ablate(args: argparse.Namespace) -> int:
    protocols = [p.strip() for p in args.protocols.split(",") if p.strip()] if args.protocols else None
    return _run(Path(args.study), args, seeds=args.seeds, data=args.data, overrides=args.overrides, base=args.base,
                protocols=protocols, cpus=args.cpus_per_trial, gpus=args.gpus_per_trial)[0]


def run_report(args: argparse.Namespace) -> int:
    files = write_report(args.run_dir, test=args.test, adjust=args.adjust)
    print(f"wrote {files.markdown}, {files.latex}, {files.csv}, {files.tables_csv}" + "".join(f", {p}" for p in files.plots))
    if files.missing:
        print(f"{len(files.missing)} planned runs have no result yet: {', '.join(files.missing)}")
    return 0


def run_demo(args: argparse.Namespace) -> int:
    if not DEMO_STUDY.exists():
        raise InputFileError(DEMO_STUDY, "the demo study is missing from this installation",
                             fix="reinstall asma: the study ships as package data (asma/studies/quick.yaml)")
    code, files = _run(DEMO_STUDY, args)
    console = Console()
    for table in files.tables:
        console.print(f"\n[bold]{table.factor}[/]")
        console.print(markdown_table(table), highlight=False, markup=False)
    console.print(f"\nreport: {files.markdown}\nLaTeX:  {files.latex}\nCSV:    {files.csv} (runs), {files.tables_csv} "
                  "(table cells)", highlight=False)
    return code
