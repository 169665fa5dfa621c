"""Options shared by commands that take a config."""
from __future__ import annotations

import argparse
import json

from asma.config import load_config
from asma.config.loading import available_presets
from asma.config.schema import Config


def add_config_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("config", nargs=None if required else "?",
                   help=f"config YAML, or a preset name ({', '.join(available_presets())})")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.epochs=5 (repeatable)")


def config_from_args(args: argparse.Namespace) -> Config:
    return load_config(args.config, [*args.overrides, *tracking_overrides(args)])


def add_tracking_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tracking", choices=("auto", "tensorboard", "mlflow", "wandb", "none"), default=None,
                   help="where runs log their scalars (default: the config's tracking.backend, auto: TensorBoard "
                        "event files in each run folder); mlflow and wandb need pip install 'asma[tracking]'")
    p.add_argument("--tracking-uri", default=None, metavar="URI",
                   help="MLflow tracking URI (a folder, sqlite:///x.db, http://host:5000); implies --tracking "
                        "mlflow; default $MLFLOW_TRACKING_URI, else <out_dir>/mlruns")


def tracking_overrides(args: argparse.Namespace) -> list[str]:
    """--tracking / --tracking-uri as --set items; the URI is quoted as a YAML string."""
    backend, uri = getattr(args, "tracking", None), getattr(args, "tracking_uri", None)
    out = [f"tracking.backend={backend or 'mlflow'}"] if backend or uri else []
    return out + ([f"tracking.uri={json.dumps(uri)}"] if uri else [])
