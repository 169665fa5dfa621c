"""Load a config from YAML + `key=value` overrides, validated, with errors naming file and key.

A YAML file may start from a named preset (`base: laptop`) or another file (`base: ../x.yaml`);
its own keys are merged over it. Presets live in asma/presets/.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from asma.config.schema import Config
from asma.errors import ConfigError, InputFileError, validation_problems

PRESET_DIR = Path(__file__).resolve().parent.parent / "presets"


def available_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def deep_merge(base: dict, update: dict) -> dict:
    """`update` over `base`, recursing into dicts; lists and scalars are replaced whole."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_yaml_mapping(path: Path, what: str, shape_hint: str, fix: str = "") -> dict:
    """The YAML mapping in `path` (an empty file reads as {}).

    InputFileError when the file is missing ("<what> not found", with `fix`), is not valid YAML, or
    holds something other than a mapping (`shape_hint` says what the mapping should hold).
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(path, f"{what} not found", fix=fix)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise InputFileError(path, f"not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise InputFileError(path, shape_hint)
    return raw


def resolve_base(name_or_path: str, relative_to: Path | None = None, _seen: tuple = ()) -> dict:
    """The raw dict of a preset name or a YAML path, with its own `base:` chain applied."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml"):
        path = candidate if candidate.is_absolute() or relative_to is None else relative_to / candidate
    else:
        path = PRESET_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            raise ConfigError("config", "base",
                              f"unknown preset {name_or_path!r}; presets: {', '.join(available_presets())}")
    path = path.resolve()
    if path in _seen:
        raise InputFileError(path, "base: circular reference")
    raw = read_yaml_mapping(path, "config file", "a config is a mapping of sections (data:, encoder:, ...)")
    parent = raw.pop("base", None)
    if parent:
        raw = deep_merge(resolve_base(parent, path.parent, _seen + (path,)), raw)
    return raw


def parse_override(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise ConfigError("--set", item, "expected key=value, e.g. train.epochs=5")
    key, value = item.split("=", 1)
    return key.strip().split("."), yaml.safe_load(value)


def set_dotted(raw: dict, keys: list[str], value: Any) -> None:
    node = raw
    for k in keys[:-1]:
        node = node.setdefault(k, {})
        if not isinstance(node, dict):
            raise ConfigError("--set", ".".join(keys), f"{k} is not a section")
    node[keys[-1]] = value


def validate(raw: dict, source: str) -> Config:
    try:
        return Config.model_validate(raw)
    except ValidationError as e:
        unknown = "unknown key (a typo? see `asma config show` for every key)"
        raise ConfigError.listing(source, validation_problems(e, unknown)) from None


def config_from_dict(raw: dict, overrides: list[str] = (), source: str = "config") -> Config:
    raw = copy.deepcopy(raw)
    for item in overrides:
        keys, value = parse_override(item)
        set_dotted(raw, keys, value)
    return validate(raw, source if not overrides else f"{source} with --set {' '.join(overrides)}")


def load_config(path: str | Path | None = None, overrides: list[str] = ()) -> Config:
    """A config file (or preset name, or None for the defaults) with overrides applied."""
    if path is None:
        return config_from_dict({}, overrides, "defaults")
    raw = resolve_base(str(path), Path.cwd())
    return config_from_dict(raw, overrides, str(path))


def apply_overrides(config: Config, overrides: dict[str, Any] | list[str]) -> Config:
    """A new validated config: `overrides` as {'a.b': v} or ['a.b=v']."""
    raw = config_to_dict(config)
    items = overrides if isinstance(overrides, list) else [f"{k}={yaml.safe_dump(v, default_flow_style=True).strip().removesuffix('...').strip()}" for k, v in overrides.items()]
    return config_from_dict(raw, items, "overrides")


def config_to_dict(config: Config) -> dict:
    return config.model_dump(mode="json")


def mlflow_uri(uri: str | None, out_dir: str | Path) -> str:
    """An absolute MLflow tracking URI (asma/tracking/): `uri`, else $MLFLOW_TRACKING_URI, else a file store in out_dir."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or str(Path(out_dir) / "mlruns")
    if "://" in uri or uri.startswith(("databricks", "sqlite:", "postgresql:", "mysql:")):
        return uri
    return Path(uri.removeprefix("file:")).expanduser().resolve().as_uri()


def with_absolute_paths(config: Config) -> Config:
    """The config with every file path absolute, for processes that run in another folder."""
    from pathlib import Path as _Path

    raw = config_to_dict(config)
    if raw["data"]["path"] != "synthetic":
        raw["data"]["path"] = str(_Path(raw["data"]["path"]).expanduser().resolve())
    raw["data"]["cache_dir"] = str(_Path(raw["data"]["cache_dir"]).expanduser().resolve())
    raw["out_dir"] = str(_Path(raw["out_dir"]).expanduser().resolve())
    if "://" not in raw["ray"]["storage_path"]:
        raw["ray"]["storage_path"] = str(_Path(raw["ray"]["storage_path"]).expanduser().resolve())
    if raw["distill"].get("teacher"):
        raw["distill"]["teacher"] = str(_Path(raw["distill"]["teacher"]).expanduser().resolve())
    if raw["eval"].get("transfer_data"):
        raw["eval"]["transfer_data"] = str(_Path(raw["eval"]["transfer_data"]).expanduser().resolve())
    if raw["tracking"]["backend"] == "mlflow" and (raw["tracking"]["uri"] or os.environ.get("MLFLOW_TRACKING_URI")):
        # a relative store or the driver's $MLFLOW_TRACKING_URI, for workers that have neither; without
        # either, each run's tracker puts the store in its out_dir (`asma ablate --out` moves it too)
        raw["tracking"]["uri"] = mlflow_uri(raw["tracking"]["uri"], raw["out_dir"])
    return Config.model_validate(raw)
