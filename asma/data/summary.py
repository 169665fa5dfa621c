"""What a prepared set holds, as a table: printed by `asma data prepare` / `import text` when they
finish and by `asma data info` for any set.

Unreadable raw files are listed one by one with their reason (a damaged copy is something to act
on); files the data set's protocol excludes are one counted line, since every copy skips them.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from asma.data.format import EXPECTED, UNREADABLE

LISTED = 50  # unreadable files printed by name; the rest are counted (all are in meta.json)


def skipped_of_kind(meta: dict, kind: str) -> list[dict]:
    """meta.json's skipped entries of `kind`; entries of sets written before kinds count as unreadable."""
    return [s for s in meta.get("skipped", []) if s.get("kind", UNREADABLE) == kind]


def print_unreadable(console: Console, unreadable: list[dict], meta_file: Path | None = None) -> None:
    for s in unreadable[:LISTED]:
        console.print(f"  [red]unreadable[/] {s['file']}: {s['reason']}", highlight=False, soft_wrap=True)
    if len(unreadable) > LISTED:
        where = f", listed in {meta_file}" if meta_file else ""
        console.print(f"  ... and {len(unreadable) - LISTED} more unreadable files{where}", highlight=False)


def expected_line(expected: list[dict], meta_file: Path) -> str:
    """One line for every file the protocol excludes: how many, for which reasons."""
    reasons = Counter(s["reason"] for s in expected).most_common()
    shown = ", ".join(f"{n} {reason}" for reason, n in reasons[:3]) + (", ..." if len(reasons) > 3 else "")
    return f"  {len(expected)} files excluded by the protocol as expected ({shown}), listed in {meta_file}"


def print_summary(console: Console, title: str, root: Path, meta: dict, splits: dict) -> None:
    """The set at `root` with its meta.json and splits: counts, classes, splits, skipped files."""
    unreadable, expected = skipped_of_kind(meta, UNREADABLE), skipped_of_kind(meta, EXPECTED)
    table = Table(title=f"{title} -> {root}", show_header=True)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("samples", str(meta.get("num_samples", meta.get("source", {}).get("samples"))))
    table.add_row("skipped as expected", str(len(expected)))
    table.add_row("unreadable", f"[red]{len(unreadable)}[/]" if unreadable else "0")
    names = meta.get("class_names") or []
    table.add_row("classes", f"{meta['num_classes']} ({', '.join(names[:3])}{', ...' if len(names) > 3 else ''})")
    copied = f", a copy of {meta['layout_source']}" if meta.get("layout_source") else ""
    table.add_row("layout", f"{meta.get('layout')} ({meta.get('num_joints', '?')} joints{copied})")
    loso = [k for k in splits if k.startswith("loso_")]
    for split, parts in splits.items():
        if split not in loso:
            table.add_row(f"{split} train / test", f"{len(parts['train'])} / {len(parts['test'])}")
    if loso:  # one row, not twenty
        table.add_row("leave-one-sequence-out splits", f"{len(loso)} ({', '.join(loso[:2])}, ...)")
    if "seconds" in meta.get("source", {}):
        table.add_row("seconds", str(meta["source"]["seconds"]))
    console.print(table)
    for flaw in meta.get("flaws", []):  # what a reader noticed in the distributed copy and read anyway
        console.print(f"  [yellow]flaw[/] {flaw}", highlight=False, soft_wrap=True)
    print_unreadable(console, unreadable, root / "meta.json")
    if expected:
        console.print(expected_line(expected, root / "meta.json"), highlight=False, soft_wrap=True)
