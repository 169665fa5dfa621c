"""Options shared by commands that take a config."""
from __future__ import annotations

import argparse

from asma.config import load_config
from asma.config.schema import Config


def add_config_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("config", nargs=None if required else "?",
                   help="config YAML, or a preset name (laptop, paper, smoke)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.epochs=5 (repeatable)")


def config_from_args(args: argparse.Namespace) -> Config:
    return load_config(args.config, args.overrides)
