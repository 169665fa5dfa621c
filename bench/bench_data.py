"""Data throughput: the NTU reader on generated `.skeleton` files, the training loader, MSR / UTKinect on real files.

    .venv/bin/python -m bench.bench_data [--files 300] [--frames 100] [--write-docs]

NTU files are written in the real text format with 1-2 bodies of ~100 frames, parsed with 1 and 2
worker processes, and the rate is extrapolated linearly to 56,578 files (NTU RGB+D 60 without its
302 missing-skeleton samples).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from asma.data.prepare import prepare
from asma.data.readers.ntu import write_skeleton_file
from asma.data.synthetic import rest_pose
from asma.skeleton.layout import load_layout

from bench.benchdocs import Provenance, provenance, publish

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
NTU_FILES = 56_578
SECTION = "## Data"
COMMAND = ".venv/bin/python -m bench.bench_data --write-docs"


def write_ntu_files(folder: Path, count: int, frames: int, seed: int = 0) -> int:
    """`count` realistic files (1-2 swaying bodies, lengths around `frames`); returns their total bytes."""
    rng = np.random.default_rng(seed)
    rest = rest_pose(load_layout("ntu25"))
    for i in range(count):
        length = int(rng.integers(frames // 2, frames * 3 // 2))
        bodies = 1 + int(rng.random() < 0.4)
        t = np.arange(length)[:, None, None, None]
        sway = 0.05 * np.sin(0.2 * t + rng.uniform(0, 6, (1, bodies, 25, 3)))
        joints = rest + rng.normal(0, 0.1, (1, bodies, 1, 3)) + [0, 0, 3] + sway
        # unique NTU60-valid names: action and replication together encode i
        name = f"S{1 + i // 2400:03d}C001P{i % 40 + 1:03d}R{i // 60 % 40 + 1:03d}A{i % 60 + 1:03d}"
        ids = [f"720575940379{i:05d}", f"720575940389{i:05d}"][:bodies]
        write_skeleton_file(folder / f"{name}.skeleton", joints, np.ones((length, bodies), bool), ids)
    return sum(p.stat().st_size for p in folder.iterdir())


def timed_prepare(name: str, raw: Path, out: Path, workers: int) -> tuple[float, dict]:
    started = time.perf_counter()
    meta = prepare(name, raw, out, workers=workers, progress=False, console=_quiet())
    return time.perf_counter() - started, meta


def _quiet():
    from rich.console import Console
    return Console(file=open(os.devnull, "w"))


def loader_rows(prepared: Path, batch: int = 64) -> list[tuple[str, str, str, str]]:
    """The training loader's samples/s on a prepared set: memory-mapped read, valid-frame crop +
    resize to T = 50, two persons, each input stream; one process (loader_workers = 0)."""
    from torch.utils.data import DataLoader

    from asma.data.clips import SkeletonClips
    from asma.data.format import SkeletonSet

    data = SkeletonSet.open(prepared)
    rows = []
    for stream in ("joint", "bone", "motion"):
        clips = SkeletonClips(data, np.arange(len(data)), window=50, persons=2, train=True, stream=stream)
        started = time.perf_counter()
        seen = sum(x.shape[0] for x, _ in DataLoader(clips, batch_size=batch, shuffle=True))
        seconds = time.perf_counter() - started
        rows.append((f"training loader, {stream} stream, T=50, M=2, batch {batch}", f"{seconds:.2f} s",
                     f"{seen / seconds:.0f} samples/s", f"{seen} samples, 0 loader workers"))
    return rows


def run(files: int, frames: int) -> list[tuple[str, str, str, str]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        raw = tmp / "ntu"
        raw.mkdir()
        size = write_ntu_files(raw, files, frames)
        (raw / "ntu60_samples_with_missing_skeletons.txt").write_text("")
        for workers in (1, 2):
            seconds, meta = timed_prepare("ntu60", raw, tmp / f"out{workers}", workers)
            rate = meta["source"]["samples"] / seconds
            rows.append((f"NTU reader, {files} generated files ({size / 2**20:.0f} MiB), {workers} worker(s)",
                         f"{seconds:.2f} s", f"{rate:.0f} files/s", f"{NTU_FILES / rate / 60:.1f} min for 56,578 files"))
        rows += loader_rows(tmp / "out1")
        for name in ("msr_action3d", "utkinect"):
            if (SHARED / name).is_dir():
                seconds, meta = timed_prepare(name, SHARED / name, tmp / name, 1)
                rows.append((f"{name}, real files, 1 worker", f"{seconds:.2f} s",
                             f"{meta['source']['work_items'] / seconds:.0f} files/s",
                             f"{meta['source']['samples']} samples, {len(meta['skipped'])} skipped"))
    return rows


def markdown(rows, files: int, frames: int, where: Provenance) -> str:
    lines = [SECTION, "",
             f"Preparation throughput (`{COMMAND} --files {files} --frames {frames}`; {where.sentence()}). NTU files are generated in the real "
             "`.skeleton` text format (1-2 bodies, lengths around the frame count); the last column "
             "extrapolates linearly to the 56,578 files of NTU RGB+D 60 (56,880 minus 302 missing).", "",
             "| what | time | rate | note |", "| --- | --- | --- | --- |"]
    lines += [f"| {' | '.join(r)} |" for r in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--write-docs", action="store_true", help="write the table into docs/benchmarks.md")
    args = parser.parse_args()
    where = provenance()
    rows = run(args.files, args.frames)
    text = markdown(rows, args.files, args.frames, where)
    publish(SECTION, text, args.write_docs)


if __name__ == "__main__":
    main()
