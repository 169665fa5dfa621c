"""Errors the user can act on: each names the file (and field or line) and says what to fix."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable


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
    """A config value that is unknown, of the wrong type, or out of range.

    `key` and `problem` are the first invalid key's; `problems` holds every (key, problem) pair,
    and the message lists each one (`ConfigError.listing`).
    """

    def __init__(self, source: str, key: str, problem: str, more: Iterable[tuple[str, str]] = ()):
        self.source = source
        self.key = key
        self.problem = problem
        self.problems = [(key, problem), *more]
        if len(self.problems) == 1:
            super().__init__(f"{source}: {key}: {problem}")
        else:
            listed = "".join(f"\n  {k}: {p}" for k, p in self.problems)
            super().__init__(f"{source}: {len(self.problems)} invalid keys:{listed}")

    @classmethod
    def listing(cls, source: str, problems: list[tuple[str, str]]) -> "ConfigError":
        """One error naming every (key, problem) in `problems`."""
        (key, problem), *more = problems
        return cls(source, key, problem, more)


def validation_problems(error, unknown: Callable[[tuple], str] | str = "unknown key") -> list[tuple[str, str]]:
    """Every error of a pydantic ValidationError as (dotted key, problem; got value).

    `unknown` describes an unknown key: a text, or a function of the error's location.
    """
    problems = []
    for err in error.errors():
        key = ".".join(str(x) for x in err["loc"] if not str(x).startswith("function-")) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = unknown(err["loc"]) if callable(unknown) else unknown
        got = repr(err.get("input"))
        problems.append((key, f"{msg}; got {got if len(got) <= 80 else got[:77] + '...'}"))
    return problems
