"""Errors the user can act on: each names the file (and field or line) and says what to fix."""
from __future__ import annotations

from pathlib import Path


class AsmaError(Exception):
    """Base class for errors caused by input the user controls (files, configs, options)."""


class InputFileError(AsmaError):
    """A data or config file that cannot be read as what it claims to be."""

    def __init__(self, path: str | Path, problem: str, *, line: int | None = None, fix: str = ""):
        self.path = Path(path)
        self.line = line
        self.problem = problem
        self.fix = fix
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        message = f"{where}: {problem}"
        if fix:
            message += f" ({fix})"
        super().__init__(message)


class ConfigError(AsmaError):
    """A config value that is unknown, of the wrong type, or out of range."""

    def __init__(self, source: str, key: str, problem: str):
        self.source = source
        self.key = key
        self.problem = problem
        super().__init__(f"{source}: {key}: {problem}")
