"""Class names from a text file, one a line, line 1 naming class 0: what `asma data import
--class-names FILE` records in meta.json, so tables and plots read "wave" rather than "3"."""
from __future__ import annotations

from pathlib import Path

from asma.errors import InputFileError


def read_class_names(path: Path) -> list[str]:
    """The file's names in order; a blank line (but trailing ones) or a name given twice is an error,
    since either would shift or merge the classes silently."""
    if not path.is_file():
        raise InputFileError(path, "class names file not found", fix="--class-names takes a text file, one name a line")
    lines = path.read_text(encoding="utf-8").rstrip("\n").splitlines()
    names = [line.strip() for line in lines]
    blank = next((i for i, name in enumerate(names) if not name), None)
    if blank is not None:
        raise InputFileError(path, "blank line: every line names one class, in label order", line=blank + 1)
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            raise InputFileError(path, f"{name!r} also names class {seen[name]} (line {seen[name] + 1})", line=i + 1)
        seen[name] = i
    return names


def class_names_for(path: Path | None, num_classes: int) -> list[str]:
    """Names for classes 0..num_classes-1: from `path` (which may name more classes than the data has
    samples of: the set then has that many classes), or the numbers themselves."""
    if path is None:
        return [str(c) for c in range(num_classes)]
    names = read_class_names(path)
    if len(names) < num_classes:
        raise InputFileError(path, f"{len(names)} class names, but the labels go up to {num_classes - 1} "
                                   f"({num_classes} classes)", fix="one name a line, line 1 for label 0")
    return names
