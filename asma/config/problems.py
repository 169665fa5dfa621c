"""Every problem of a file in one error: checks add (key, problem) here instead of raising at the first.

A study or search-space file is checked layer by layer (its schema, the names it cross-references,
each config key it applies, the data it points at); a layer that fails still lets the next ones run
on what is left, so one run of a command lists every mistake, one line each.
"""
from __future__ import annotations

import copy
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

from pydantic import BaseModel, ValidationError

from asma.config.loading import apply_overrides
from asma.config.schema import Config
from asma.errors import ConfigError, InputFileError, validation_problems

Model = TypeVar("Model", bound=BaseModel)


class Problems:
    """The (key, problem) pairs found in one file (`source`), raised together by `raise_if_any`."""

    def __init__(self, source: str):
        self.source = source
        self.found: list[tuple[str, str]] = []

    def add(self, key: str, problem: str) -> None:
        self.found.append((key, problem))

    @contextmanager
    def collect(self, prefix: str = "", key: str = "") -> Iterator[None]:
        """Record a ConfigError's problems (keys after `prefix`) or an InputFileError (under `key`)."""
        try:
            yield
        except ConfigError as e:
            for k, p in e.problems:
                self.add(f"{prefix}{k}", p)
        except InputFileError as e:
            self.add(key or prefix.removesuffix(": ") or "(file)", str(e))

    def raise_if_any(self) -> None:
        if self.found:
            raise ConfigError.listing(self.source, self.found)


def _drop(raw: dict, loc: tuple) -> None:
    """Remove the value at `loc` (or the mapping entry holding it) from `raw`, so the rest validates."""
    if not loc:
        return
    parent = raw.get(loc[0])
    if len(loc) >= 2 and isinstance(parent, dict) and loc[1] in parent:
        del parent[loc[1]]
    else:
        raw.pop(loc[0], None)


def validate_leniently(model: type[Model], raw: dict, problems: Problems,
                       unknown: Callable[[tuple], str] | str = "unknown key") -> Model | None:
    """`raw` as `model`, every schema problem added to `problems`; with the invalid entries left out
    (their defaults used) when they are, so that later checks still run. None when that fails too
    (a required part is invalid)."""
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        for key, problem in validation_problems(e, unknown):
            problems.add(key, problem)
        errors = e.errors()
    pruned = copy.deepcopy(raw)
    for _ in range(3):  # leaving an entry out can leave its parent invalid (an empty `params:`)
        for err in errors:
            _drop(pruned, err["loc"])
        try:
            return model.model_validate(pruned)
        except ValidationError as e:
            errors = e.errors()
    return None


def apply_leniently(config: Config, overrides: dict[str, Any] | list[str], problems: Problems,
                    prefix: str) -> Config:
    """`config` with `overrides`; when they are rejected, every problem is added (keys after
    `prefix`) and the config comes back with those overrides that apply on their own."""
    try:
        return apply_overrides(config, overrides)
    except ConfigError as e:
        for key, problem in e.problems:
            problems.add(f"{prefix}{key}", problem)
    items = overrides if isinstance(overrides, list) else [{k: v} for k, v in overrides.items()]
    for item in items:
        try:
            config = apply_overrides(config, item if isinstance(item, dict) else [item])
        except ConfigError:
            pass
    return config
