"""Tables as Markdown, as LaTeX (booktabs) and as CSV (one line per cell, unrounded)."""
from __future__ import annotations

import csv
import io
import re

from asma.experiments.trial_progress import counted
from asma.reports.tables import Table, format_difference, format_p, format_summary

DEFAULT_MARK = " (default)"
_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def caption(table: Table) -> str:
    seeds = ", ".join(map(str, table.seeds))
    text = (f"{table.factor}: top-1 accuracy (%), mean ± std over {counted(len(table.seeds), 'seed')} ({seeds}); "
            "bold: best in column")
    if table.show_p:
        name = "paired t-test" if table.test == "t" else "Wilcoxon signed-rank test"
        text += (f"; Δ: paired difference to the default over matched seeds [95% CI]; p: {name} against the "
                 "default over matched seeds")
    if table.show_adjusted:
        text += f"; p (Holm): p adjusted by Holm-Bonferroni over the table's {table.tests} tests"
    return text


def _header(table: Table) -> list[str]:
    cols = ["variant"]
    for column in table.columns:
        cols.append(column.title)
        if table.show_p:
            cols += ["Δ [95% CI]", "p"] + (["p (Holm)"] if table.show_adjusted else [])
    return cols


def _cell_width(table: Table) -> int:
    """Columns each data column takes: the value, then Δ, p and Holm's p where shown."""
    return 1 + (2 + table.show_adjusted if table.show_p else 0)


def _cells(table: Table, row, bold, mark) -> list[str]:
    out = [row.label + (mark if row.default else "")]
    for cell in row.cells:
        text = format_summary(cell.summary, len(table.seeds))
        out.append(bold(text) if cell.best else text)
        if table.show_p:
            tested = [format_difference(cell.difference), format_p(cell.p)]
            if table.show_adjusted:
                tested.append(format_p(cell.p_adjusted))
            out += [""] * len(tested) if row.default else tested
    return out


def markdown_table(table: Table) -> str:
    header = _header(table)
    lines = [f"| {' | '.join(header)} |", "| " + " | ".join(["---"] + ["---:"] * (len(header) - 1)) + " |"]
    for row in table.rows:
        cells = _cells(table, row, lambda t: f"**{t}**", f" *{DEFAULT_MARK.strip()}*")
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def latex_escape(text: str) -> str:
    out = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)
    return out.replace("±", r"$\pm$").replace("<", r"$<$").replace("–", "--").replace("Δ", r"$\Delta$")


def latex_table(table: Table, label: str) -> str:
    header = [latex_escape(h) for h in _header(table)]
    rows = []
    for row in table.rows:
        cells = _cells(table, row, lambda t: t, DEFAULT_MARK)
        escaped = [latex_escape(c) for c in cells]
        bold = [False] + [flag for cell in row.cells for flag in [cell.best] + [False] * (_cell_width(table) - 1)]
        rows.append(" & ".join(rf"\textbf{{{c}}}" if b else c for c, b in zip(escaped, bold)) + r" \\")
    spec = "l" + "r" * (len(header) - 1)
    return "\n".join([
        r"\begin{table}[t]",
        r"  \centering",
        rf"  \caption{{{latex_escape(caption(table))}}}",
        rf"  \label{{tab:{re.sub(r'[^A-Za-z0-9:-]+', '-', label)}}}",
        rf"  \begin{{tabular}}{{{spec}}}",
        r"    \toprule",
        "    " + " & ".join(header) + r" \\",
        r"    \midrule",
        *("    " + r for r in rows),
        r"    \bottomrule",
        r"  \end{tabular}",
        r"\end{table}",
    ])


TABLE_CSV_FIELDS = ["table", "variant", "label", "default", "reference", "dataset", "split", "metric", "n", "mean",
                    "std", "best", "delta", "ci_low", "ci_high", "p", "p_holm", "test"]


def tables_csv(tables: list[Table]) -> str:
    """Every cell of the tables, unrounded: the numbers behind report.md and report.tex for other tools.

    delta / ci_low / ci_high / p are empty where a row is not tested (the default, a reference row,
    fewer than 3 matched seeds); p_holm where Holm's family leaves the cell out or has one test.
    """
    out = io.StringIO()
    writer = csv.DictWriter(out, TABLE_CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for table in tables:
        for row in table.rows:
            for column, cell in zip(table.columns, row.cells):
                s, d = cell.summary, cell.difference
                writer.writerow({
                    "table": table.factor, "variant": row.variant, "label": row.label, "default": row.default,
                    "reference": row.reference or "", "dataset": column.dataset, "split": column.split,
                    "metric": column.metric, "n": s.n if s else 0, "mean": s.mean if s else "",
                    "std": "" if s is None or s.std is None else s.std, "best": cell.best,
                    "delta": d.mean if d else "", "ci_low": d.low if d else "", "ci_high": d.high if d else "",
                    "p": "" if cell.p is None else cell.p,
                    "p_holm": "" if cell.p_adjusted is None or not table.show_adjusted else cell.p_adjusted,
                    "test": table.test if cell.p is not None else ""})
    return out.getvalue()
