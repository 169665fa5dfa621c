"""Errors the user can act on: each names the file (and field or line) and says what to fix."""
from __future__ import annotations

import re
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
    and the message gives each one a line that names the file and the key (`ConfigError.listing`).
    """

    def __init__(self, source: str, key: str, problem: str, more: Iterable[tuple[str, str]] = ()):
        self.source = source
        self.key = key
        self.problem = problem
        self.problems = [(key, problem), *more]
        if len(self.problems) == 1:
            super().__init__(f"{source}: {key}: {problem}")
        else:
            listed = "".join(f"\n  {source}: {k}: {p}" for k, p in self.problems)
            super().__init__(f"{source}: {len(self.problems)} problems, each to fix:{listed}")

    @classmethod
    def listing(cls, source: str, problems: list[tuple[str, str]]) -> "ConfigError":
        """One error naming every (key, problem) in `problems` (repeats listed once)."""
        (key, problem), *more = list(dict.fromkeys(problems))
        return cls(source, key, problem, more)


# The location pydantic gives an error inside one member of a union (`str | list[str]`) names the
# member: `literal['min','max']`, `list[int]`, `int`. They are not keys the user wrote.
_SCALAR_TAGS = {"str", "int", "float", "bool", "none", "bytes"}


def _is_union_tag(part) -> bool:
    return isinstance(part, str) and ("[" in part or part in _SCALAR_TAGS)


def _key(loc: tuple) -> str:
    return ".".join(str(x) for x in loc if not _is_union_tag(x)) or "(top level)"


def _one_branch_per_union(errors: list[dict]) -> list[dict]:
    """Of the errors a value that fits no member of a union raised, those of the member it came
    closest to: the deepest ones, and not a mere wrong type when another member says more."""
    groups: dict[tuple, list[dict]] = {}
    for err in errors:
        loc = err["loc"]
        cut = next((i for i, x in enumerate(loc) if _is_union_tag(x)), len(loc))
        groups.setdefault((loc[:cut], cut == len(loc)), []).append(err)
    kept = []
    for (_, plain), group in groups.items():
        if plain:
            kept += group
            continue
        deepest = max(len(e["loc"]) for e in group)
        group = [e for e in group if len(e["loc"]) == deepest]
        said = [e for e in group if not e["type"].endswith("_type") and e["type"] != "int_parsing"]
        if said:
            kept += said
        else:  # no member fits at all: say which would
            tags = [str(next(x for x in e["loc"] if _is_union_tag(x))) for e in group]
            kept.append({**group[0], "type": "union_type", "msg": f"expected {' or '.join(tags)}"})
    return kept


def _literal_problem(err: dict) -> str:
    """"'maximum' is not one of min, max" from pydantic's "Input should be 'min' or 'max'"."""
    expected = err.get("ctx", {}).get("expected", "")
    choices = re.findall(r"'([^']*)'", expected) or re.split(r", | or ", expected)
    return f"{err.get('input')!r} is not one of {', '.join(choices)}"


def validation_problems(error, unknown: Callable[[tuple], str] | str = "unknown key") -> list[tuple[str, str]]:
    """Every error of a pydantic ValidationError as (dotted key, problem; got value).

    `unknown` describes an unknown key: a text, or a function of the error's location.
    """
    problems = []
    for err in _one_branch_per_union(error.errors()):
        key = _key(tuple(x for x in err["loc"] if not str(x).startswith("function-")))
        if err["type"] == "literal_error":
            problems.append((key, _literal_problem(err)))
            continue
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = unknown(err["loc"]) if callable(unknown) else unknown
        got = repr(err.get("input"))
        problems.append((key, f"{msg}; got {got if len(got) <= 80 else got[:77] + '...'}"))
    return problems
