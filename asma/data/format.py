"""The one on-disk format every data set is prepared into.

A prepared set is a folder:

- `skeletons.npy`  float32 (F, M, V, C): all samples' frames one after another (memory-mapped)
- `offsets.npy`    int64 (N + 1,): sample i is frames offsets[i]:offsets[i+1]
- `labels.npy`     int64 (N,): class index from 0
- `names.txt`      one sample name a line (e.g. S001C001P001R001A001)
- `splits.json`    {"xsub": {"train": [i, ...], "test": [...]}, ...}
- `meta.json`      data set, layout, classes, the source and the preprocessing options, and the
                   files that were skipped with the reason
- `layout.yaml`    only for a layout given as a YAML file: a copy, which meta.json's "layout" names
                   relative to the set, so the set opens from any folder or machine

Opening a set checks each file against meta.json first (asma/data/integrity.py).

Ragged storage keeps NTU60 at its real size (about 2.7 GB) instead of padding every sample to
300 frames, and a sample is one slice of a memory map.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Iterable

import numpy as np

from asma.data.atomic import atomic_directory, write_json_atomic
from asma.data.integrity import check_complete, read_json
from asma.errors import InputFileError
from asma.skeleton.layout import Layout, load_layout

FORMAT_NAME = "asma-skeletons"
FORMAT_VERSION = 1
SET_LAYOUT = "layout.yaml"
REQUIRED_FILES = ("skeletons.npy", "offsets.npy", "labels.npy", "names.txt", "splits.json", "meta.json")


def store_layout(staging: Path, meta: dict) -> dict:
    """`meta` with a user's layout YAML copied into the set: a path recorded as given would only
    resolve from the folder the set was written in."""
    layout = meta.get("layout")
    if not layout or not Path(layout).suffix:  # a built-in layout's name (load_layout's rule)
        return meta
    shutil.copyfile(layout, staging / SET_LAYOUT)
    return {**meta, "layout": SET_LAYOUT, "layout_source": str(Path(layout).resolve())}


def set_layout_path(root: Path, recorded: str) -> str:
    """What load_layout takes for a set's recorded layout: a built-in name, or a YAML file found
    in the set (where it is copied) or, for sets written before that, where the writer ran."""
    if not Path(recorded).suffix:
        return recorded
    found = next((p for p in (root / recorded, Path(recorded)) if p.is_file()), None)
    if found is None:
        raise InputFileError(root / "meta.json", f'"layout": {recorded!r}: no such file in {root} or in {Path.cwd()}',
                             fix=f'copy the layout YAML to {root / SET_LAYOUT} and set "layout": "{SET_LAYOUT}" '
                                 "in meta.json, or import the set again")
    return str(found)


EXPECTED, UNREADABLE = "expected", "unreadable"  # SkippedFile.kind


@dataclass
class SkippedFile:
    """A raw file (or part of one) left out of a set, and why.

    kind: `expected` when the data set's protocol excludes it (not in MSR Action3D's list, in NTU's
    missing-skeleton list): every copy of the set skips it. `unreadable` for anything else (a cut
    frame, a NaN, a missing file): a damaged copy the user should hear about by name.
    """

    file: str
    reason: str
    kind: str = UNREADABLE


class SkeletonSetWriter:
    """Stream samples into a staging folder; `finish()` writes the index files.

    Frames go to disk as they come, so preparing NTU never holds the whole set in memory.
    """

    def __init__(self, staging: Path, num_persons: int, num_joints: int, channels: int):
        self.staging = staging
        self.shape_tail = (num_persons, num_joints, channels)
        self._raw_path = staging / "skeletons.raw"
        self._raw = open(self._raw_path, "wb")
        self._lengths: list[int] = []
        self._labels: list[int] = []
        self._names: list[str] = []

    def append(self, name: str, label: int, frames: np.ndarray) -> int:
        """Add one sample (T, M, V, C); returns its index."""
        frames = np.asarray(frames, dtype=np.float32)
        if frames.ndim != 4 or frames.shape[1:] != self.shape_tail or frames.shape[0] < 1:
            raise ValueError(f"{name}: expected (T, {', '.join(map(str, self.shape_tail))}), got {frames.shape}")
        if not np.isfinite(frames).all():
            raise ValueError(f"{name}: contains NaN or infinite coordinates")
        self._raw.write(np.ascontiguousarray(frames).tobytes())
        self._lengths.append(frames.shape[0])
        self._labels.append(int(label))
        self._names.append(name)
        return len(self._names) - 1

    def __len__(self) -> int:
        return len(self._names)

    def finish(self, splits: dict[str, dict[str, list[int]]], meta: dict) -> None:
        self._raw.close()
        total = int(sum(self._lengths))
        out = np.lib.format.open_memmap(
            self.staging / "skeletons.npy", mode="w+", dtype=np.float32, shape=(total, *self.shape_tail)
        )
        flat = out.reshape(-1)
        chunk = 1 << 24
        with open(self._raw_path, "rb") as raw:
            pos = 0
            while block := raw.read(chunk * 4):
                values = np.frombuffer(block, dtype=np.float32)
                flat[pos : pos + values.size] = values
                pos += values.size
        out.flush()
        del out, flat
        self._raw_path.unlink()
        offsets = np.zeros(len(self._lengths) + 1, dtype=np.int64)
        np.cumsum(self._lengths, out=offsets[1:])
        np.save(self.staging / "offsets.npy", offsets)
        np.save(self.staging / "labels.npy", np.asarray(self._labels, dtype=np.int64))
        (self.staging / "names.txt").write_text("".join(f"{n}\n" for n in self._names))
        (self.staging / "splits.json").write_text(json.dumps(splits))
        meta = store_layout(self.staging, {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "num_samples": len(self._names),
            "num_frames": total,
            "num_persons": self.shape_tail[0],
            "num_joints": self.shape_tail[1],
            "channels": self.shape_tail[2],
            **meta,
        })
        write_json_atomic(self.staging / "meta.json", meta)


def write_skeleton_set(
    out: str | Path,
    samples: Iterable[tuple[str, int, np.ndarray]],
    *,
    splits: dict[str, dict[str, list[int]]],
    meta: dict,
    num_persons: int,
    num_joints: int,
    channels: int,
    keep_existing: bool = False,
) -> Path:
    """Write (name, label, frames (T, M, V, C)) samples as one prepared set, atomically.

    keep_existing: a set another writer moved in first stays (a cache; see `atomic_directory`)."""
    with atomic_directory(out, keep_existing) as staging:
        writer = SkeletonSetWriter(staging, num_persons, num_joints, channels)
        for name, label, frames in samples:
            writer.append(name, label, frames)
        writer.finish(splits, meta)
    return Path(out)


@dataclass
class SkeletonSet:
    """A prepared data set, memory-mapped."""

    root: Path
    meta: dict
    skeletons: np.ndarray  # (F, M, V, C) memmap
    offsets: np.ndarray
    labels: np.ndarray
    names: list[str]
    splits: dict[str, dict[str, list[int]]] = field(repr=False)

    @classmethod
    def open(cls, root: str | Path) -> "SkeletonSet":
        root = Path(root)
        if not root.is_dir():
            raise InputFileError(root, "not a prepared data set folder",
                                 fix="create one with `asma data synth` or `asma data prepare`")
        missing = [f for f in REQUIRED_FILES if not (root / f).exists()]
        if missing:
            raise InputFileError(root, f"missing {', '.join(missing)}",
                                 fix="re-run `asma data prepare`; a prepared folder holds " + ", ".join(REQUIRED_FILES))
        meta = read_json(root, "meta.json")
        if meta.get("format") != FORMAT_NAME:
            raise InputFileError(root / "meta.json", f"format is {meta.get('format')!r}, expected {FORMAT_NAME!r}")
        check_complete(root, meta)
        return cls(
            root=root,
            meta=meta,
            skeletons=np.load(root / "skeletons.npy", mmap_mode="r"),
            offsets=np.load(root / "offsets.npy"),
            labels=np.load(root / "labels.npy"),
            names=(root / "names.txt").read_text().splitlines(),
            splits=read_json(root, "splits.json"),
        )

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return int(self.meta["num_classes"])

    @property
    def class_names(self) -> list[str]:
        return list(self.meta.get("class_names") or [str(i) for i in range(self.num_classes)])

    @cached_property
    def layout(self) -> Layout:
        return load_layout(set_layout_path(self.root, self.meta["layout"]))

    @cached_property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def sample(self, i: int) -> np.ndarray:
        """(T_i, M, V, C) frames of sample i (a view into the memory map)."""
        return self.skeletons[self.offsets[i] : self.offsets[i + 1]]

    def split_indices(self, split: str, part: str) -> np.ndarray:
        """Indices of `part` ('train' or 'test') of the named split ('all' = every sample)."""
        if split == "all":
            return np.arange(len(self))
        if split not in self.splits:
            raise InputFileError(self.root / "splits.json", f"unknown split {split!r}",
                                 fix=f"choose one of: all, {', '.join(self.splits)}")
        parts = self.splits[split]
        if part not in parts:
            raise InputFileError(self.root / "splits.json", f"split {split!r} has no part {part!r}",
                                 fix=f"choose one of: {', '.join(parts)}")
        return np.asarray(parts[part], dtype=np.int64)


def prepared_set_problems(path: str | Path, split: str, parts: Iterable[str]) -> list[str]:
    """What stops `path` serving as a prepared set with `split` and its `parts` ([] when nothing
    does), read from its folder and splits.json alone: checked when a study or search loads."""
    root = Path(path).expanduser()
    if not root.is_dir():
        return [f"{root}: no such data set folder (prepare one with `asma data prepare` or `asma data synth`, "
                "or fix the path; relative paths are from where the command runs)"]
    missing = [f for f in REQUIRED_FILES if not (root / f).exists()]
    if missing:
        return [f"{root}: not a prepared data set, missing {', '.join(missing)} (re-run `asma data prepare`)"]
    try:
        splits = json.loads((root / "splits.json").read_text())
    except (OSError, json.JSONDecodeError) as e:
        return [f"{root / 'splits.json'}: unreadable ({e}); re-run `asma data prepare`"]
    if split == "all":
        return []
    if split not in splits:
        return [f"{root / 'splits.json'}: no split {split!r}; choose one of: all, {', '.join(splits)}"]
    absent = [p for p in parts if p not in splits[split]]
    if absent:
        return [f"{root / 'splits.json'}: split {split!r} has no part {', '.join(map(repr, absent))}; "
                f"its parts: {', '.join(splits[split])}"]
    return []
