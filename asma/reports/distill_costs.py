"""A distillation study's cost table: what each student costs against its teacher, and how far its
distilled top-1 is from the teacher's, per variant and data set.

The figures come from each run's distillation record (`evals/<run>.student/distill.json`, written by
`asma.distillation.distill.distill_run`, read by asma.reports.results.distill_costs): parameters, MFLOPs per clip, batch-1 CPU latency. Parameters
and MFLOPs are the same on every seed; latency is the median over seeds. The accuracy gap is the
paired difference distilled minus teacher over the seeds, with its 95% CI (>= 3 seeds), beside the
same for the student trained from scratch.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass

from asma.reports.results import StudyResults
from asma.reports.stats import Difference, paired_difference


@dataclass(frozen=True)
class CostRow:
    label: str
    dataset: str
    seeds: int
    teacher_params: int
    student_params: int
    reduction_pct: float
    teacher_mflops: float
    student_mflops: float
    teacher_ms: float
    student_ms: float
    speedup: float
    distilled_gap: Difference | None  # distilled - teacher, paired over seeds
    scratch_gap: Difference | None    # scratch - teacher


def cost_rows(results: StudyResults) -> list[CostRow]:
    """One row per (variant, data set) whose runs have distillation costs; [] in other studies."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in results.rows:
        if "distill_costs" in row and "teacher_linear" in row["metrics"]:
            groups.setdefault((row["variant"], row["dataset"]), []).append(row)
    out = []
    for variant in results.study["variants"]:
        for dataset in dict.fromkeys(d["name"] for d in results.study["datasets"]):
            runs = groups.get((variant, dataset))
            if not runs:
                continue
            first = runs[0]["distill_costs"]
            scores = {key: {r["seed"]: r["metrics"][key] for r in runs if key in r["metrics"]}
                      for key in ("teacher_linear", "student_distilled", "student_scratch")}
            teacher = scores["teacher_linear"]

            def median(key: str) -> float:
                return statistics.median(r["distill_costs"][key] for r in runs)

            out.append(CostRow(
                label=results.study["variants"][variant]["label"], dataset=dataset, seeds=len(runs),
                teacher_params=int(first["teacher_params"]), student_params=int(first["student_params"]),
                reduction_pct=first["parameter_reduction_pct"], teacher_mflops=first["teacher_mflops"],
                student_mflops=first["student_mflops"], teacher_ms=median("teacher_latency_ms_b1"),
                student_ms=median("student_latency_ms_b1"), speedup=median("speedup_b1"),
                distilled_gap=paired_difference(scores["student_distilled"], teacher),
                scratch_gap=paired_difference(scores["student_scratch"], teacher)))
    return out


def _gap(d: Difference | None) -> str:
    return "–" if d is None else f"{d.mean:+.1f} [{d.low:+.1f}, {d.high:+.1f}]"


def cost_markdown(rows: list[CostRow]) -> list[str]:
    """The report's lines for the cost table (none without rows)."""
    if not rows:
        return []
    lines = ["## Student against teacher: size, speed, accuracy", "",
             "_Parameters and MFLOPs per clip (the same on every seed), batch-1 CPU latency and speed-up "
             "(median over seeds, one thread, as `asma distill` measures them); top-1 gap: the student's "
             "top-1 minus the teacher's linear probe, paired over seeds, mean [95% CI]._", "",
             "| variant | data set | seeds | student parameters | fewer than teacher | MFLOPs student / teacher "
             "| latency b1 student / teacher (ms) | speed-up b1 | distilled − teacher | from scratch − teacher |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r.label} | {r.dataset} | {r.seeds} | {r.student_params:,} (teacher {r.teacher_params:,}) | "
                     f"{r.reduction_pct:.1f}% | {r.student_mflops:.1f} / {r.teacher_mflops:.1f} | "
                     f"{r.student_ms:.2f} / {r.teacher_ms:.2f} | {r.speedup:.1f}x | {_gap(r.distilled_gap)} | "
                     f"{_gap(r.scratch_gap)} |")
    return lines + [""]
