"""`asma config show [CONFIG] [--set k=v]`: the full resolved config as YAML; `asma config presets`."""
from __future__ import annotations

import argparse

import yaml

from asma.cli.common import add_config_args, config_from_args
from asma.config.loading import available_presets, config_to_dict


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="show the resolved config, or list presets")
    csub = p.add_subparsers(dest="config_command", required=True)
    show = csub.add_parser("show", help="print every key of a config (defaults filled in)")
    add_config_args(show, required=False)
    show.set_defaults(func=run_show)
    presets = csub.add_parser("presets", help="list the named presets")
    presets.set_defaults(func=lambda args: print("\n".join(available_presets())) or 0)


def run_show(args: argparse.Namespace) -> int:
    print(yaml.safe_dump(config_to_dict(config_from_args(args)), sort_keys=False), end="")
    return 0
