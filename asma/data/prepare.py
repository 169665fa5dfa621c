"""`asma data prepare NAME`: read a whole raw data set with its reader into the standard format.

Bad files are skipped, counted and listed in meta.json (`skipped`, each with its `kind`: `expected`
when the data set's protocol excludes it, `unreadable` otherwise; with `strict` an unreadable file
is an error). The output appears atomically (a failed run leaves a previous output untouched), and
parsing runs across processes with `workers > 1` (samples still come back, and are written, in file
order, so results are identical).
"""
from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from asma.data.atomic import atomic_directory
from asma.data.format import UNREADABLE, SkeletonSetWriter, SkippedFile
from asma.data.integrity import read_json
from asma.data.readers.base import Reader, Sample
from asma.data.readers.msr_action3d import MSRAction3DReader
from asma.data.readers.msrc12 import MSRC12Reader
from asma.data.readers.ntu import NTUReader
from asma.data.readers.nw_ucla import NWUCLAReader
from asma.data.readers.pku_mmd import PKUMMDReader
from asma.data.readers.utkinect import UTKinectReader
from asma.data.summary import print_summary, print_unreadable
from asma.errors import ConfigError, InputFileError
from asma.skeleton.layout import squashed_name

DATASETS = ("ntu60", "ntu120", "pku1", "pku2", "msr_action3d", "utkinect", "nw_ucla", "msrc12")


def dataset_name(text: str) -> str:
    """The DATASETS name `text` spells, dashes or underscores and case aside (msr-action3d,
    MSR_Action3D -> msr_action3d; ntu-60 -> ntu60; pku-mmd-1 -> pku1); `text` itself if none."""
    key = squashed_name(text).replace("pkummd", "pku")
    return next((name for name in DATASETS if squashed_name(name) == key), text)


def make_reader(name: str, *, missing: Path | None = None, splits_dir: Path | None = None,
                window: tuple[int, int] | None = None) -> Reader:
    """The reader of data set `name` (one of DATASETS, or a spelling `dataset_name` accepts);
    `window`: MSRC-12's frames (before, after) each action point, its reader's default if None."""
    name = dataset_name(name)
    if name in ("ntu60", "ntu120"):
        return NTUReader(dataset=name, missing_list=missing)
    if name in ("pku1", "pku2"):
        return PKUMMDReader(phase=int(name[-1]), splits_dir=splits_dir)
    if name == "msr_action3d":
        return MSRAction3DReader()
    if name == "utkinect":
        return UTKinectReader()
    if name == "msrc12":
        return MSRC12Reader(*window) if window else MSRC12Reader()
    if name == "nw_ucla":
        return NWUCLAReader()
    raise ConfigError("asma data prepare", "NAME", f"unknown data set {name!r}; one of {', '.join(DATASETS)}")


def read_safely(reader: Reader, item: Any) -> tuple[list[Sample], list[SkippedFile]]:
    """One work item; a file the reader rejects becomes a skipped entry, not a crash."""
    try:
        return reader.read(item)
    except InputFileError as e:
        where = f"line {e.line}: " if e.line is not None else ""
        return [], [SkippedFile(str(e.path), f"{where}{e.problem}", UNREADABLE)]


def _read_chunk(reader: Reader, items: list[Any]) -> list[tuple[list[Sample], list[SkippedFile]]]:
    return [read_safely(reader, item) for item in items]


def read_all(reader: Reader, items: list[Any], workers: int) -> Iterator[tuple[list[Sample], list[SkippedFile]]]:
    """Results in item order; with workers > 1, chunks of items are parsed in other processes."""
    if workers <= 1:
        for item in items:
            yield read_safely(reader, item)
        return
    chunk = max(1, min(64, len(items) // (workers * 8) or 1))
    chunks = [items[i : i + chunk] for i in range(0, len(items), chunk)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for results in pool.map(_read_chunk, [reader] * len(chunks), chunks):
            yield from results


def prepare(name: str, raw: str | Path, out: str | Path, *, workers: int = 1, missing: Path | None = None,
            splits_dir: Path | None = None, strict: bool = False, console: Console | None = None,
            progress: bool = True, window: tuple[int, int] | None = None) -> dict:
    """Prepare data set `name` from folder `raw` into `out`; returns the meta.json written."""
    reader = make_reader(dataset_name(name), missing=missing, splits_dir=splits_dir, window=window)
    return prepare_with(reader, raw, out, workers=workers, strict=strict, console=console, progress=progress)


def prepare_with(reader: Reader, raw: str | Path, out: str | Path, *, workers: int = 1, strict: bool = False,
                 console: Console | None = None, progress: bool = True) -> dict:
    """Read every file of folder `raw` with `reader` into a prepared set at `out`; returns its meta.json.

    strict: any unreadable file is an error and nothing is written (a previous `out` stays), so a
    pipeline cannot go on with a set that silently lacks part of its data.
    """
    raw, out = Path(raw), Path(out)
    if not raw.is_dir():
        raise InputFileError(raw, "raw data folder not found")
    console = console or Console(stderr=True)
    name = reader.dataset
    items, skipped = reader.list_sources(raw)
    if not items:
        raise InputFileError(raw, f"no {name} files found", fix="point --raw at the folder holding the data set's files")
    started = time.perf_counter()
    with atomic_directory(out) as staging:
        writer = SkeletonSetWriter(staging, reader.num_persons, reader.num_joints, 3)
        names: list[str] = []
        columns = (TextColumn(f"[bold]{name}[/]"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console, disable=not progress, transient=True) as bar:
            task = bar.add_task("reading", total=len(items))
            for samples, item_skipped in read_all(reader, items, workers):
                for sample_name, label, frames in samples:
                    writer.append(sample_name, label, frames)
                    names.append(sample_name)
                skipped.extend(item_skipped)
                bar.advance(task)
        unreadable = [s for s in skipped if s.kind == UNREADABLE]
        if len(writer) == 0:
            raise InputFileError(raw, f"every one of the {len(items)} {name} files was skipped",
                                 fix=f"first reason: {skipped[0].file}: {skipped[0].reason}" if skipped else "")
        if strict and unreadable:
            print_unreadable(console, [asdict(s) for s in unreadable])
            first = unreadable[0]
            raise InputFileError(raw, f"{len(unreadable)} unreadable files (listed above; first {first.file}: "
                                      f"{first.reason})",
                                 fix="--strict: nothing was written; repair or remove them, or drop --strict to skip them")
        meta = reader.meta()
        meta["source"] = {"raw": str(raw.resolve()), "work_items": len(items), "samples": len(writer),
                          "skipped": len(skipped), "unreadable": len(unreadable), "workers": workers,
                          "seconds": round(time.perf_counter() - started, 2)}
        meta["skipped"] = [asdict(s) for s in skipped]
        splits = reader.splits(names)
        writer.finish(splits, meta)
    meta = read_json(out, "meta.json")
    print_summary(console, name, out, meta, splits)
    return meta
