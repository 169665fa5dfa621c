"""Typed, validated configuration: one `Config` for pretraining, evaluation and Ray runs."""
from asma.config.schema import Config
from asma.config.loading import load_config, apply_overrides, config_to_dict

__all__ = ["Config", "load_config", "apply_overrides", "config_to_dict"]
