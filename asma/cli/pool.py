"""`asma pool plan|run STUDY.yaml...`: a study's unfinished runs on one machine without Ray (asma.ablation.pool)."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from asma.errors import ConfigError, InputFileError

STUDIES_HELP = "study YAML, optionally with its seed count (ablations/real_converged.yaml:10); several: in this order"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pool", help="a study's unfinished runs on this machine without Ray, several processes at once")
    steps = p.add_subparsers(dest="step", required=True, metavar="STEP")
    s = steps.add_parser("plan", help="write the unfinished runs of STUDY[:SEEDS]... to a plan (JSON), in this order")
    s.add_argument("studies", nargs="+", metavar="STUDY[:SEEDS]", help=STUDIES_HELP)
    _add_out(s)
    s.add_argument("--to", type=Path, default=None, help="the plan's file (default: OUT/pool/plan.json)")
    s.add_argument("--datasets", nargs="*", default=None, help="only these data sets")
    s.set_defaults(func=run_plan)

    r = steps.add_parser("run", help="run a plan, or plan and run STUDY[:SEEDS]..., N processes at once")
    r.add_argument("studies", nargs="+", metavar="STUDY[:SEEDS] | PLAN.json",
                   help=STUDIES_HELP + "; or the plan `asma pool plan` wrote")
    _add_out(r)
    r.add_argument("--work", type=Path, default=None, metavar="DIR",
                   help="checkpoints, the data cache and the pool's log, pool.jsonl (default: OUT/pool); "
                        "`asma status --work DIR` reads the runs there")
    r.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 2),
                   help="runs at once, each its own process (default: the CPU count less 2, at least 1)")
    r.add_argument("--datasets", nargs="*", default=None, help="only these data sets (with STUDY)")
    r.add_argument("--device", default=None,
                   help="run on this device (cuda, cpu) instead of the config's train.device (a study "
                        "with resources.gpus 0 plans cpu); the record keeps the planned config, its machine.device "
                        "says where it ran")
    r.add_argument("--precision", choices=["float32", "bfloat16"], default=None,
                   help="train in this precision instead of the config's train.precision (float32 on a CPU that "
                        "emulates bfloat16, 17x slower there); the record keeps the planned config, its "
                        "machine.precision says what ran, and the report's compute line counts those runs")
    r.add_argument("--deadline", type=float, default=float("inf"), metavar="SECONDS",
                   help="seconds from the start by which every run must end: start none that would not")
    r.set_defaults(func=run_pool)


def _add_out(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default=None,
                   help="output root, as `asma ablate --out`: records go to OUT/ablations/<study>/runs/ "
                        "(default: the study config's out_dir)")


def run_plan(args: argparse.Namespace) -> int:
    from asma.ablation.pool import output_root, plan, write_plan

    _check_studies(args.studies)
    planned = plan(args.studies, args.out, None, args.datasets)
    if not planned:
        print("nothing to do: every run of these studies is finished")
        return 0
    write_plan(planned, args.to or output_root(planned, args.out) / "pool" / "plan.json")
    return 0


def run_pool(args: argparse.Namespace) -> int:
    from asma.ablation.pool import output_root, plan, run, write_plan

    if args.workers < 1:
        raise ConfigError("--workers", "workers", f"needs at least 1 run at a time, got {args.workers}")
    plans = [s for s in args.studies if s.endswith(".json")]
    if plans and (len(plans) > 1 or len(args.studies) > 1):
        raise ConfigError("asma pool run", "studies", "takes one plan (PLAN.json) or study YAMLs, not both")
    if plans:
        plan_path = Path(plans[0])
        if not plan_path.is_file():
            raise InputFileError(plan_path, "no such plan", fix="`asma pool plan STUDY.yaml` writes one")
        planned = json.loads(plan_path.read_text())
    else:
        _check_studies(args.studies)
        planned = plan(args.studies, args.out, None, args.datasets)
    if not planned:
        print("nothing to do: every planned run is finished")
        return 0
    work = args.work or output_root(planned, args.out) / "pool"
    if not plans:
        plan_path = work / "plan.json"
        write_plan(planned, plan_path)
    outcome = run(plan_path, args.out, str(work), args.workers, args.deadline, args.device, args.precision)
    for run_id, error in outcome["failed"].items():
        print(f"failed {run_id}: {error} (the traceback is in {work}/pool.jsonl)")
    return 1 if outcome["failed"] else 0


def _check_studies(studies: list[str]) -> None:
    for item in studies:
        path, _, seeds = item.partition(":")
        if not Path(path).is_file():
            raise InputFileError(path, "no such study file", fix="pass a study YAML, e.g. ablations/quick.yaml")
        if seeds and not seeds.isdigit():
            raise ConfigError(item, "seeds", f"{seeds!r} is not a seed count (STUDY.yaml:SEEDS, e.g. :10)")
