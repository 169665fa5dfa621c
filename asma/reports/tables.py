"""Ablation tables: one per factor; rows = variants, columns = data set x metric.

Cells are top-1 accuracy (%) as mean ± sample std over seeds; the best mean of each column is
marked, the default variant's row too, and with >= 3 seeds each column gets the row's paired
difference to the default with its 95% confidence interval, and the paired p-value, over the seeds
both have; with more than one test in a table, each p is also given Holm-Bonferroni adjusted over
the table's tests (every compared row x column, less cells whose scores are the default's own on
every seed), the family a reader scans for a winner. Rendering (Markdown, LaTeX) is separate
from the numbers, so both formats always show the same table.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from asma.evaluation.results import STREAM_PREFIX
from asma.reports.results import StudyResults
from asma.reports.stats import (ADJUSTMENTS, MIN_PAIRED_SEEDS, Difference, Summary, holm_adjust, paired_difference,
                                paired_p_value, summarize)

METRIC_NAMES = {"knn": "kNN", "linear": "linear", "finetune": "fine-tune", "transfer": "transfer",
                "supervised": "supervised", "random_init": "random init", "teacher_linear": "teacher (linear)",
                "student_distilled": "student, distilled", "student_scratch": "student, from scratch"}


@dataclass(frozen=True)
class Column:
    dataset: str
    split: str
    metric: str

    @property
    def title(self) -> str:
        metric = self.metric.removeprefix(STREAM_PREFIX)  # a stream column: the stream (or fusion) alone
        name = METRIC_NAMES.get(metric, metric.replace("_", " "))
        return f"{self.dataset} ({self.split}) {name}" if self.split else f"{self.dataset} {name}"


@dataclass
class Cell:
    summary: Summary | None
    p: float | None = None
    p_adjusted: float | None = None  # Holm over the table's tests
    best: bool = False
    difference: Difference | None = None  # to the default, over matched seeds

    @property
    def identical(self) -> bool:
        """The default's own scores on every matched seed (e.g. a shared teacher): p = 1, not a test."""
        d = self.difference
        return d is not None and d.mean == d.low == d.high == 0.0


@dataclass
class Row:
    variant: str
    label: str
    default: bool
    value: float | None
    reference: str | None = None  # floor / ceiling rows: shown, never best, never tested
    cells: list[Cell] = field(default_factory=list)


@dataclass
class Table:
    factor: str
    axis: str | None
    columns: list[Column]
    rows: list[Row]
    seeds: list[int]
    test: str
    compare: bool = True  # rows get their paired difference to the default (with enough seeds)
    adjust: str = "holm"  # multiple-comparison adjustment of the table's p-values: holm | none

    @property
    def show_p(self) -> bool:
        return self.compare and len(self.seeds) >= MIN_PAIRED_SEEDS

    @property
    def tests(self) -> int:
        """The family Holm's adjustment runs over: every p, less the cells identical to the default."""
        return sum(cell.p is not None and not cell.identical for row in self.rows for cell in row.cells)

    @property
    def show_adjusted(self) -> bool:
        return self.show_p and self.adjust != "none" and self.tests > 1


def columns_of(results: StudyResults, streams: bool = False) -> list[Column]:
    """The protocols' columns, or (streams=True) the per-stream columns of multi-stream supervised runs."""
    splits = {d["name"]: d.get("split") or "" for d in results.study["datasets"]}
    for row in results.rows:  # the split that actually ran (a data set may leave it to the base)
        splits[row["dataset"]] = row.get("split") or splits.get(row["dataset"], "")
    metrics = [m for m in results.metrics if m.startswith(STREAM_PREFIX) == streams]
    return [Column(d["name"], splits[d["name"]], m) for d in results.study["datasets"] for m in metrics
            if any(r["dataset"] == d["name"] and m in r["metrics"] for r in results.rows)]


def scores(results: StudyResults, variant: str, column: Column) -> dict[int, float]:
    """{seed: value} of one variant in one column."""
    return {r["seed"]: float(r["metrics"][column.metric]) for r in results.rows
            if r["variant"] == variant and r["dataset"] == column.dataset and column.metric in r["metrics"]}


def factor_table(results: StudyResults, factor: dict, test: str = "t", columns: list[Column] | None = None,
                 compare: bool = True, adjust: str = "holm") -> Table:
    """One factor's rows (the default's first when it is not one of them and rows are compared)."""
    if adjust not in ADJUSTMENTS:
        raise ValueError(f"unknown p-value adjustment {adjust!r}; choose from {', '.join(ADJUSTMENTS)}")
    study = results.study
    default = study["default"]
    names = list(factor["variants"])
    if compare and default not in names:
        names.insert(0, default)
    values = factor["variants"] if isinstance(factor["variants"], dict) else {}
    columns = columns_of(results) if columns is None else columns
    table = Table(factor["name"], factor.get("axis"), columns, [], list(study["seeds"]), test, compare, adjust)
    for name in names:
        variant = study["variants"][name]
        row = Row(name, variant["label"], name == default, values.get(name), variant.get("reference"))
        for column in columns:
            mine = scores(results, name, column)
            cell = Cell(summarize(list(mine.values())))
            if table.show_p and name != default and not row.reference:
                theirs = scores(results, default, column)
                cell.p = paired_p_value(mine, theirs, test)
                cell.difference = paired_difference(mine, theirs)
            row.cells.append(cell)
        table.rows.append(row)
    if adjust == "holm":
        cells = [cell for row in table.rows for cell in row.cells if cell.p is not None and not cell.identical]
        for cell, adjusted in zip(cells, holm_adjust([cell.p for cell in cells])):
            cell.p_adjusted = adjusted
    for j in range(len(columns)):
        compared = [row for row in table.rows if not row.reference]
        means = [row.cells[j].summary.mean for row in compared if row.cells[j].summary]
        for row in compared:
            s = row.cells[j].summary
            row.cells[j].best = bool(s) and len(means) > 1 and s.mean == max(means)
    return table


def study_tables(results: StudyResults, test: str = "t", adjust: str = "holm") -> list[Table]:
    """A table per factor; then, when a run trained several supervised streams, one of each stream
    and each fusion of the leading streams (the same models: not compared with the default)."""
    factors = results.study.get("factors") or [{"name": "all variants", "variants": list(results.study["variants"])}]
    tables = [factor_table(results, f, test, adjust=adjust) for f in factors]
    streams = columns_of(results, streams=True)
    if streams:
        have = {r["variant"] for r in results.rows if any(c.metric in r["metrics"] for c in streams)}
        factor = {"name": "supervised streams: each one, and the fusion of the leading ones",
                  "variants": [v for v in results.study["variants"] if v in have]}
        tables.append(factor_table(results, factor, test, streams, compare=False))
    return tables


def format_summary(s: Summary | None, seeds: int) -> str:
    """'71.2 ± 0.4'; one seed: '71.2'; fewer seeds than the study's: '71.2 ± 0.4 (n=2)'."""
    if s is None:
        return "–"
    text = f"{s.mean:.1f}" if s.std is None else f"{s.mean:.1f} ± {s.std:.1f}"
    return text if s.n == seeds else f"{text} (n={s.n})"


def format_difference(d: Difference | None) -> str:
    """'+3.2 [-1.0, 7.4]': mean paired difference to the default and its 95% CI."""
    if d is None:
        return "–"
    return f"{d.mean:+.1f} [{d.low:+.1f}, {d.high:+.1f}]"


def format_p(p: float | None) -> str:
    if p is None:
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"
