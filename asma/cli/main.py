"""`asma` entry point. Each command group lives in its own module with `register(subparsers)`."""
from __future__ import annotations

import argparse
import importlib
import sys

from rich.console import Console
from rich.markup import escape

from asma.errors import AsmaError

# module name under asma.cli -> registers one or more subcommands
COMMAND_MODULES = [
    "data",
    "pretrain",
    "config_cmd",
    "show",
    "evaluate",
    "transfer",
    "distill",
    "ablate",
    "pool",
    "cluster",
    "tune",
    "status",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asma",
        description="ASMa: asymmetric spatio-temporal masking for skeleton SSL, at cluster scale.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"asma.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except AsmaError as e:
        # escaped: messages hold brackets that are not markup (pip install 'asma[tracking]', ['c'])
        # soft_wrap: a problem a line, unbroken, however narrow the terminal
        Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {escape(str(e))}", highlight=False)
        return 2
    except KeyboardInterrupt:
        Console(stderr=True).print("[yellow]interrupted[/]: completed work is kept; re-run to resume")
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
