"""What every data set reader provides to `asma data prepare`, and helpers they share.

A reader is a small picklable object (it travels to worker processes):

- `list_sources(raw)` -> (work items, files skipped before reading): one item is what one worker
  call reads (a file, or a recording with its segments).
- `read(item)` -> (samples, skipped): samples are (name, label from 0, frames (T, M, V, C) float32);
  a file that cannot be read raises `InputFileError` naming the file and line, and the driver lists it.
- `splits(names)` -> {"xsub": {"train": [i, ...], "test": [...]}, ...} from the sample names.
- `meta()` -> dataset, layout, class names and the preprocessing options, recorded in meta.json.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Protocol

import numpy as np

from asma.data.format import SkippedFile
from asma.errors import InputFileError

Sample = tuple[str, int, np.ndarray]


class Reader(Protocol):
    dataset: str
    layout: str
    num_persons: int
    num_joints: int

    def list_sources(self, raw: Path) -> tuple[list[Any], list[SkippedFile]]: ...

    def read(self, item: Any) -> tuple[list[Sample], list[SkippedFile]]: ...

    def splits(self, names: list[str]) -> dict[str, dict[str, list[int]]]: ...

    def meta(self) -> dict: ...


def split_by(names: Iterable[str], is_train: Callable[[str], bool]) -> dict[str, list[int]]:
    """{"train": indices where is_train(name), "test": the others}."""
    flags = [bool(is_train(n)) for n in names]
    return {"train": [i for i, f in enumerate(flags) if f], "test": [i for i, f in enumerate(flags) if not f]}


VALIDATION_EVERY = 5  # one training subject in five is held out as validation


def validation_split(names: list[str], subject_of: Callable[[str], object],
                     split: dict[str, list[int]]) -> dict[str, list[int]]:
    """A validation split carved from `split`'s training subjects: every VALIDATION_EVERY-th of them
    in sorted order (from the third, so that the held-out ones spread over the range) becomes the
    "test" part, the rest train. Searches and model choices read it; the test subjects stay unseen.
    """
    subjects = sorted({subject_of(names[i]) for i in split["train"]})
    held_out = set(subjects[2::VALIDATION_EVERY] or subjects[-1:])
    return {"train": [i for i in split["train"] if subject_of(names[i]) not in held_out],
            "test": [i for i in split["train"] if subject_of(names[i]) in held_out]}


def with_validation_splits(splits: dict[str, dict[str, list[int]]], names: list[str],
                           subject_of: Callable[[str], object]) -> dict[str, dict[str, list[int]]]:
    """`splits` and, for each, `<split>_val`: its training part with every fifth training subject
    held out as validation (`validation_split`); leave-one-out splits get none."""
    carved = {f"{k}_val": validation_split(names, subject_of, v) for k, v in splits.items() if not k.startswith("loso_")}
    return {**splits, **carved}


def centre_on_origin(frames: np.ndarray, origin: int) -> np.ndarray:
    """(T, M, V, C) -> the same, minus joint `origin` of person 1 in its first non-zero frame.

    Absent bodies (all-zero) stay zero, so padding remains recognisable (CTR-GCN's seq_transformation).
    """
    present = frames.any(axis=(2, 3))  # (T, M)
    first = np.flatnonzero(present[:, 0])
    if first.size == 0:
        return frames
    centred = frames - frames[first[0], 0, origin]
    return np.where(present[:, :, None, None], centred, 0.0).astype(np.float32)


def read_text(path: Path) -> str:
    try:
        return path.read_text()
    except UnicodeDecodeError as e:
        raise InputFileError(path, f"not a text file ({e.reason} at byte {e.start})") from None


def line_of_token(text: str, token_index: int) -> int:
    """1-based line holding the whitespace-separated token `token_index` (for error messages only)."""
    counts = np.cumsum([len(line.split()) for line in text.splitlines()])
    return int(np.searchsorted(counts, token_index, side="right")) + 1


def parse_number_rows(path: Path, text: str, width: int, *, first_line: int = 1,
                      delimiter: str | None = None) -> np.ndarray:
    """Lines of `width` numbers -> (L, width) float64; a short, long or non-numeric line is an error.

    delimiter: what separates the numbers (None: any whitespace; "," for CSV, spaces around it allowed)."""
    lines = text.splitlines()
    rows = [line.split(delimiter) if line.strip() else [] for line in lines]
    bad = next((i for i, r in enumerate(rows) if len(r) != width and r), None)
    if bad is not None:
        raise InputFileError(path, f"expected {width} numbers, found {len(rows[bad])}", line=first_line + bad)
    kept = [i for i, r in enumerate(rows) if r]  # blank lines (a trailing one) carry nothing
    try:
        return np.array([rows[i] for i in kept], dtype=np.float64).reshape(-1, width)
    except ValueError:
        for i in kept:
            r = rows[i]
            try:
                np.array(r, dtype=np.float64)
            except ValueError:
                raise InputFileError(path, f"not a number in {' '.join(r)[:60]!r}", line=first_line + i) from None
        raise


def first_nan_row(values: np.ndarray) -> int | None:
    """Index of the first row (axis 0) holding a NaN or infinity, or None."""
    bad = ~np.isfinite(values.reshape(values.shape[0], -1)).all(axis=1)
    return int(np.argmax(bad)) if bad.any() else None
