"""`asma cluster check [STUDY_OR_CONFIG ...] [--address A]`: what a Ray cluster holds, and whether
each study's per-trial or config's per-worker request fits it, before anything is submitted."""
from __future__ import annotations

import argparse
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

from asma.ablation.study_file import load_study
from asma.cluster.ray_session import ADDRESS_HELP, UnschedulableError, init_ray
from asma.cluster.resources import Request, judge, live_nodes
from asma.config.loading import available_presets, load_config
from asma.errors import InputFileError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cluster", help="inspect a Ray cluster and check requests against it")
    commands = p.add_subparsers(dest="cluster_command", required=True, metavar="ACTION")
    c = commands.add_parser("check", help="print the cluster's nodes and check studies/configs against them")
    c.add_argument("files", nargs="*", metavar="STUDY_OR_CONFIG",
                   help=f"ablation study YAML, config YAML or preset name ({', '.join(available_presets())})")
    c.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set ray.workers=4 (configs only; repeatable)")
    c.add_argument("--address", default=None, help=ADDRESS_HELP)
    c.set_defaults(func=run_check)


def node_table(nodes: list[dict[str, float]]) -> Table:
    table = Table(title="live nodes", title_justify="left")
    for column in ("node", "CPU", "GPU", "memory GiB", "object store GiB"):
        table.add_column(column, justify="right" if column != "node" else "left")
    for node in nodes:
        name = next((k.removeprefix("node:") for k in node if k.startswith("node:") and "__" not in k), "?")
        table.add_row(name, f"{node.get('CPU', 0):g}", f"{node.get('GPU', 0):g}",
                      f"{node.get('memory', 0) / 1024**3:.1f}", f"{node.get('object_store_memory', 0) / 1024**3:.1f}")
    total = {k: sum(n.get(k, 0) for n in nodes) for k in ("CPU", "GPU", "memory", "object_store_memory")}
    table.add_row("[bold]total[/]", f"{total['CPU']:g}", f"{total['GPU']:g}", f"{total['memory'] / 1024**3:.1f}",
                  f"{total['object_store_memory'] / 1024**3:.1f}")
    return table


def request_of(path: str, overrides: list[str] = ()) -> Request:
    """The request of a study YAML (has `variants:`) or of a config / preset name."""
    file = Path(path)
    if file.suffix in (".yaml", ".yml") and file.is_file():
        try:
            raw = yaml.safe_load(file.read_text()) or {}
        except yaml.YAMLError as e:
            raise InputFileError(file, f"not valid YAML: {e}", fix="fix the syntax the parser names") from e
        if isinstance(raw, dict) and "variants" in raw:
            if overrides:
                raise InputFileError(file, "--set applies to configs, not to ablation studies",
                                     fix="put overrides in the study's `overrides:`")
            study = load_study(file, check_data=False)  # the data may be on the cluster only
            bundle = {"CPU": study.resources.cpus, "GPU": study.resources.gpus}
            return Request(str(file), "trial", bundle, 1, together=False)
    cfg = load_config(path, list(overrides))
    bundle = {"CPU": cfg.ray.cpus_per_worker, "GPU": cfg.ray.gpus_per_worker}
    return Request(str(path), "worker", bundle, cfg.ray.workers, together=True)


def run_check(args: argparse.Namespace) -> int:
    console = Console()
    # read every file first: a typo fails before connecting to a cluster
    requests = [request_of(path, args.overrides) for path in args.files]
    init_ray(args.address)
    nodes = live_nodes()
    console.print(node_table(nodes))
    verdicts = [judge(r, nodes) for r in requests]
    for v in verdicts:
        if v.fatal:
            console.print(f"[red]cannot run[/] {v.request.source}: {v.request.describe()}", highlight=False)
        elif v.problem:
            console.print(f"[yellow]waits[/] {v.problem}", highlight=False)
        else:
            at_once = "all at once" if v.request.together else f"{v.fit_now} at once"
            console.print(f"[green]ok[/] {v.request.source}: {v.request.describe()}; {at_once}", highlight=False)
    fatal = [v.problem for v in verdicts if v.fatal]
    if fatal:
        raise UnschedulableError("\n".join(fatal))
    return 0
