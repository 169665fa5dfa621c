"""`asma data import text DIR`: one text or CSV file per sequence, in any joint layout.

The commonest way a small public set is distributed, and the one no built-in reader covers. The
file name (its path under the folder when the pattern holds a `/`) carries the sample's fields,
read with a pattern such as `a{label}_s{subject}_e{rep}.txt`:
`{label}` is required, `{subject}` makes the `xsub` split, `{view}` the `xview` split; any other
`{field}` only has to match. Each line holds one joint (`per_line="joint"`: V lines make a frame, V
from the layout) or one frame (`per_line="frame"`: the V joints one after another). `columns` names
a joint's values: x, y, z and score are kept, any other name is read and dropped (`x,y,z,confidence`);
`skip_columns` values open every line (a frame number), `skip_lines` lines open every file (a CSV
header). Frames are centred on the layout's origin joint in the first frame, as `asma data prepare`
does, and a 2D layout keeps (x, y, score) with score 1 when the files have none (pyskl's convention).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from asma.data.class_names import class_names_for
from asma.data.format import EXPECTED, SkippedFile
from asma.data.readers.base import (Sample, centre_on_origin, first_nan_row, parse_number_rows, read_text,
                                    with_validation_splits)
from asma.errors import ConfigError, InputFileError
from asma.skeleton.layout import load_layout

SOURCE = "asma data import text"
FIELD = re.compile(r"\{(\w*)\}")
KEPT = ("x", "y", "z", "score")


def pattern_regex(pattern: str) -> re.Pattern:
    """'a{label}_s{subject}.txt' -> a regex with one named group per field, matching a whole file name."""
    parts = FIELD.split(pattern)
    fields = parts[1::2]
    if "label" not in fields:
        raise ConfigError(SOURCE, "--pattern", f"{pattern!r} has no {{label}} field")
    bad = next((f for f in fields if not f or fields.count(f) > 1), None)
    if bad is not None:
        raise ConfigError(SOURCE, "--pattern", f"{pattern!r}: field {{{bad}}} is empty or given twice")
    return re.compile("".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts)))


def canonical(value: str) -> str:
    """'01' and '1' are one subject or view; other values are compared as written."""
    return str(int(value)) if value.isdigit() else value


def sort_key(value: str) -> tuple:
    return (0, int(value), "") if value.isdigit() else (1, 0, value)


def train_values(given: list[str], found: set[str], option: str, default: set[str]) -> set[str]:
    """The subjects (or views) that train: `given`, each of which must occur, else `default`."""
    chosen = {canonical(v) for v in given} or default
    unknown = sorted(chosen - found, key=sort_key)
    if unknown:
        raise ConfigError(SOURCE, option, f"{', '.join(unknown)} not among the files' {', '.join(sorted(found, key=sort_key))}")
    if not found - chosen:
        raise ConfigError(SOURCE, option, f"every one of {', '.join(sorted(found, key=sort_key))} trains: none is left to test")
    return chosen


@dataclass
class TextReader:
    """A folder of one-sequence text files; options as `asma data import text` takes them."""

    layout: str
    pattern: str
    per_line: Literal["joint", "frame"] = "joint"
    columns: tuple[str, ...] = ("x", "y", "z")
    delimiter: str | None = None
    skip_columns: int = 0
    skip_lines: int = 0
    first_label: int = 1
    class_names_file: Path | None = None
    train_subjects: list[str] = field(default_factory=list)
    train_views: list[str] = field(default_factory=list)
    dataset: str = "text"
    num_persons: int = field(default=1, init=False)
    # num_joints, coord_dims and origin come from the layout
    num_joints: int = field(default=0, init=False)
    coord_dims: int = field(default=3, init=False)
    origin: int = field(default=0, init=False)
    raw: Path = field(default=Path("."), init=False)
    regex: re.Pattern = field(init=False, repr=False)
    _labels: dict[str, int] = field(default_factory=dict, init=False, repr=False)  # label as written -> class
    _class_names: list[str] = field(default_factory=list, init=False, repr=False)
    _fields: dict[str, dict[str, str]] = field(default_factory=dict, init=False, repr=False)  # sample -> its fields
    _splits_rule: dict[str, list[str]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.regex = pattern_regex(self.pattern)
        layout = load_layout(self.layout)
        self.num_joints, self.coord_dims, self.origin = layout.num_joints, layout.coord_dims, layout.origin
        self.columns = tuple(c.strip() for c in self.columns)
        missing = [c for c in ("x", "y", "z")[: layout.coord_dims] if c not in self.columns]
        if missing or len(set(self.columns)) != len(self.columns):
            raise ConfigError(SOURCE, "--columns", f"{','.join(self.columns)}: needs each of x, y"
                              f"{', z' if layout.coord_dims == 3 else ''} once (layout {layout.name} is "
                              f"{layout.coord_dims}D); name other values anything else to drop them")
        if self.per_line not in ("joint", "frame"):
            raise ConfigError(SOURCE, "--per-line", f"{self.per_line!r}: one of joint, frame")

    def list_sources(self, raw: Path) -> tuple[list[Path], list[SkippedFile]]:
        items, skipped = [], []
        for path in sorted(p for p in raw.rglob("*") if p.is_file()):
            # a pattern with a "/" reads folders too (`{label}/s{subject}.txt`); else the file name alone
            match = self.regex.fullmatch(path.relative_to(raw).as_posix() if "/" in self.pattern else path.name)
            if match is None:
                skipped.append(SkippedFile(str(path), f"name does not match {self.pattern}", EXPECTED))
                continue
            items.append(path)
            self._fields[self.sample_name(raw, path)] = {k: canonical(v) if k != "label" else v.strip()
                                                         for k, v in match.groupdict().items()}
        if items:
            self._number_classes(raw)
            self._choose_splits(raw)
        self.raw = raw
        return items, skipped

    def sample_name(self, raw: Path, path: Path) -> str:
        return path.relative_to(raw).with_suffix("").as_posix()

    def _number_classes(self, raw: Path) -> None:
        """Labels as numbers (1-based unless first_label says otherwise) or as words (the order of
        the class names file, else alphabetical)."""
        written = sorted({f["label"] for f in self._fields.values()}, key=sort_key)
        if all(v.isdigit() for v in written):
            self._labels = {v: int(v) - self.first_label for v in written}
            low = min(self._labels.values())
            if low < 0:
                raise ConfigError(SOURCE, "--first-label", f"label {low + self.first_label} is below {self.first_label}")
            count = max(self._labels.values()) + 1
            numbers = [str(c + self.first_label) for c in range(count)]
            self._class_names = class_names_for(self.class_names_file, count) if self.class_names_file else numbers
            return
        self._class_names = class_names_for(self.class_names_file, 0) if self.class_names_file else written
        unknown = [v for v in written if v not in self._class_names]
        if unknown:
            raise InputFileError(self.class_names_file, f"has no class {unknown[0]!r}, a label of the files in {raw}",
                                 fix="one name a line, spelled as in the file names")
        self._labels = {v: self._class_names.index(v) for v in written}

    def _choose_splits(self, raw: Path) -> None:
        """xsub from {subject} (default: odd subjects train), xview from {view} (default: every view
        but the last trains)."""
        for split, key, given, option in (("xsub", "subject", self.train_subjects, "--train-subjects"),
                                          ("xview", "view", self.train_views, "--train-views")):
            found = {f[key] for f in self._fields.values() if key in f}
            if not found:
                if given:
                    raise ConfigError(SOURCE, option, f"the pattern {self.pattern} has no {{{key}}} field")
                continue
            if key == "subject":
                if not given and not all(v.isdigit() for v in found):
                    raise ConfigError(SOURCE, option, "subjects are not numbers, so odd ones cannot train: list them")
                default = {v for v in found if v.isdigit() and int(v) % 2 == 1}
            else:
                default = set(sorted(found, key=sort_key)[:-1])
            self._splits_rule[split] = sorted(train_values(given, found, option, default), key=sort_key)
        if not self._splits_rule:
            raise ConfigError(SOURCE, "--pattern", f"{self.pattern} has neither {{subject}} nor {{view}}: "
                              "no way to split training from test samples")

    def read(self, path: Path) -> tuple[list[Sample], list[SkippedFile]]:
        name = self.sample_name(self.raw, path)
        return [(name, self._labels[self._fields[name]["label"]], self.read_frames(path))], []

    def read_frames(self, path: Path) -> np.ndarray:
        """One file -> (T, 1, V, 3) float32."""
        lines = read_text(path).splitlines()[self.skip_lines:]
        per_row = 1 if self.per_line == "joint" else self.num_joints
        width = self.skip_columns + per_row * len(self.columns)
        rows = parse_number_rows(path, "\n".join(lines), width, first_line=self.skip_lines + 1,
                                 delimiter=self.delimiter)[:, self.skip_columns:]
        if rows.shape[0] == 0:
            raise InputFileError(path, "no frames")
        if self.per_line == "joint" and rows.shape[0] % self.num_joints:
            raise InputFileError(path, f"{rows.shape[0]} joint lines is not a multiple of {self.num_joints} "
                                       "(a frame is cut)")
        joints = rows.reshape(-1, self.num_joints, len(self.columns))
        kept = [self.columns.index(c) for c in ("x", "y", "z")[: self.coord_dims]]
        scored = self.coord_dims == 2 and "score" in self.columns
        bad = first_nan_row(joints[..., kept + ([self.columns.index("score")] if scored else [])])
        if bad is not None:
            raise InputFileError(path, f"NaN or infinite value in frame {bad + 1}")
        coords = centre_on_origin(joints[:, None, :, kept].astype(np.float32), self.origin)
        if self.coord_dims == 3:
            return coords
        score = joints[:, None, :, self.columns.index("score")] if scored else np.ones(coords.shape[:-1])
        return np.concatenate([coords, score[..., None].astype(np.float32)], axis=-1)

    def splits(self, names: list[str]) -> dict[str, dict[str, list[int]]]:
        key = {"xsub": "subject", "xview": "view"}
        splits = {split: {"train": [i for i, n in enumerate(names) if self._fields[n][key[split]] in train],
                          "test": [i for i, n in enumerate(names) if self._fields[n][key[split]] not in train]}
                  for split, train in self._splits_rule.items()}
        if splits and all("subject" in self._fields[n] for n in names):  # searches choose on held-out subjects
            return with_validation_splits(splits, names, lambda n: self._fields[n]["subject"])
        return splits

    def meta(self) -> dict:
        return {"dataset": self.dataset, "layout": self.layout, "num_classes": len(self._class_names),
                "class_names": self._class_names,
                "preprocessing": {"imported_from": "text", "pattern": self.pattern, "per_line": self.per_line,
                                  "columns": list(self.columns), "delimiter": self.delimiter or "whitespace",
                                  "skip_columns": self.skip_columns, "skip_lines": self.skip_lines,
                                  "first_label": self.first_label,
                                  "class_names": str(self.class_names_file.resolve()) if self.class_names_file else None,
                                  "centre": "the layout's origin joint in the first frame",
                                  "train": {split: f"{'subjects' if split == 'xsub' else 'views'} {', '.join(v)}"
                                            for split, v in self._splits_rule.items()}}}
