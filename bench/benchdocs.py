"""Write one benchmark's `## Section` of docs/benchmarks.md, leaving the other sections as they are,
and say where its figures were measured (`Provenance`: commit, date, machine, cores, load).

Benchmarks run as `python -m bench.bench_x` from the repository root and import it as

    from bench.benchdocs import provenance, write_benchmark_section
"""
from __future__ import annotations

import datetime
import os
import platform
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from asma.data.atomic import write_text_atomic

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"
_NEXT_SECTION = re.compile(r"^## ", re.M)


@dataclass(frozen=True)
class Provenance:
    """Where a benchmark ran, read when it started (the load average then, not when it wrote)."""

    commit: str
    date: str
    machine: str
    cores: int
    load: float

    def sentence(self) -> str:
        return (f"commit {self.commit}, {self.date}, {self.machine}, {self.cores} cores, "
                f"load average {self.load:.1f} at the start")


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def provenance() -> Provenance:
    """The commit (with "+ local changes" when asma/ or bench/ differ from it), UTC date, CPU,
    cores and 1-minute load average of this machine, now."""
    commit = _git("rev-parse", "--short", "HEAD") or "unknown commit"
    if commit != "unknown commit" and _git("status", "--porcelain", "--", "asma", "bench"):
        commit += " + local changes"
    return Provenance(commit=commit, date=datetime.datetime.now(datetime.timezone.utc).date().isoformat(),
                      machine=platform.processor() or platform.machine(), cores=os.cpu_count() or 1,
                      load=os.getloadavg()[0])


def write_benchmark_section(heading: str, text: str, docs: Path = DOCS) -> None:
    """Put `text` in place of the section of `docs` whose heading line is exactly `heading`.

    The section runs from its heading line up to the next line starting with "## " (or the end of the
    file); every byte outside it is kept. A missing section is appended at the end, a missing file is
    created with a "# Benchmarks" title. `text` is the whole section; its heading line is added when
    it does not start with it. Sections are separated by one blank line. The write is atomic.
    """
    docs = Path(docs)
    section = text if text.startswith(heading + "\n") or text == heading else f"{heading}\n\n{text}"
    section = section.rstrip("\n") + "\n"
    old = docs.read_text() if docs.exists() else "# Benchmarks\n"
    found = re.search(rf"^{re.escape(heading)}$", old, re.M)
    if found is None:
        new = old.rstrip("\n") + "\n\n" + section
    else:
        following = _NEXT_SECTION.search(old, found.end())
        new = old[:found.start()] + section + ("" if following is None else "\n" + old[following.start():])
    write_text_atomic(docs, new)


def publish(heading: str, text: str, write_docs: bool, show=print, docs: Path = DOCS) -> None:
    """Every benchmark's last step: show the section, and with --write-docs put it into docs."""
    show(text)
    if write_docs:
        write_benchmark_section(heading, text, docs)
