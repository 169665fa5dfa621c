"""A study's compute: the trial time each variant took on each data set, and what the machine was
doing meanwhile, from the run records (`pretrain.time_s`, `eval_time_s`, `machine`).

A run's time is its pretraining (every attempt's wall time, as the loop carries it in its
checkpoints) plus its evaluation. Runs copied from another study (`reused_from`) cost this study
nothing and are counted apart. The load is the 1-minute load average each run recorded when it
started and ended: with the CPU count, what ran beside it, so that a reader can tell a study's
minutes from a speed figure (docs/benchmarks.md holds those).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass

from asma.experiments.trial_progress import counted
from asma.reports.results import StudyResults
from asma.training.precision import SLOW


@dataclass(frozen=True)
class ComputeRow:
    label: str
    dataset: str
    runs: int
    epochs: int  # pretraining epochs of one run (the largest, if the seeds differ)
    mean_s: float
    total_s: float


def run_seconds(row: dict) -> float:
    return float(row.get("pretrain", {}).get("time_s") or 0.0) + float(row.get("eval_time_s") or 0.0)


def compute_rows(results: StudyResults) -> list[ComputeRow]:
    """One row per (variant, data set) over the runs trained in this study, in the study's order."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in results.rows:
        if not row.get("reused_from") and "fused_from" not in row:  # a fused row trains nothing
            groups.setdefault((row["variant"], row["dataset"]), []).append(row)
    order = list(results.study["variants"])
    out = []
    for (variant, dataset), rows in sorted(groups.items(), key=lambda kv: (kv[0][1], order.index(kv[0][0]))):
        seconds = [run_seconds(r) for r in rows]
        out.append(ComputeRow(results.study["variants"][variant]["label"], dataset, len(rows),
                              max(int(r.get("pretrain", {}).get("epochs") or 0) for r in rows),
                              statistics.mean(seconds), sum(seconds)))
    return out


def duration(seconds: float) -> str:
    """`40 s`, `42 min`, `3 h 05 min` (a short run is not `0 min`)."""
    if seconds < 59.5:
        return f"{max(round(seconds), 1)} s" if seconds > 0 else "0 s"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def cpu_models(machines: list[dict]) -> str:
    """` (AMD EPYC, AVX2; bfloat16 13.3-28.3x slower than float32 there)`: the CPUs the runs recorded,
    and where a bfloat16 step was measured slower than float32 on one, by how much (the range over
    the runs that measured it: asma.training.precision)."""
    slowdowns: dict[str, list[float]] = {}
    for m in machines:
        cpu = m.get("cpu") or {}
        if cpu.get("model"):
            found = slowdowns.setdefault(f"{cpu['model']}, {cpu.get('capability', '?')}", [])
            if m.get("bfloat16_slowdown"):
                found.append(float(m["bfloat16_slowdown"]))
    models = []
    for text, slow in slowdowns.items():
        if slow and max(slow) > SLOW:
            span = f"{min(slow):.1f}" if min(slow) == max(slow) else f"{min(slow):.1f}-{max(slow):.1f}"
            text += f"; bfloat16 {span}x slower than float32 there"
        models.append(text)
    return f" ({'; '.join(models)})" if models else ""


def machine_line(results: StudyResults) -> str:
    """CPU count and the load averages the trained runs recorded, or how many recorded none, and
    the runs that pretrained in another precision than their config's."""
    trained = [r for r in results.rows if not r.get("reused_from") and "fused_from" not in r]
    machines = [r["machine"] for r in trained if isinstance(r.get("machine"), dict)]
    reused = len([r for r in results.rows if r.get("reused_from")])
    parts = []
    if machines:
        loads = [float(m[k]) for m in machines for k in ("load_start", "load_end") if m.get(k) is not None]
        cpus = sorted({int(m["cpus"]) for m in machines if m.get("cpus")})
        parts.append(f"the machine: {'/'.join(map(str, cpus)) or '?'} CPUs{cpu_models(machines)}; 1-minute load average "
                     f"at the runs' starts and ends: median {statistics.median(loads):.1f}, range {min(loads):.1f}-{max(loads):.1f}"
                     + (f" ({counted(len(trained) - len(machines), 'run')} from before the record have none)"
                        if len(machines) < len(trained) else ""))
    elif trained:
        parts.append("the machine's load was not recorded (runs from before the record)")
    other = [r["machine"]["precision"] for r in trained if isinstance(r.get("machine"), dict)
             and isinstance(r["machine"].get("precision"), dict) and (r.get("pretrain") or {}).get("epochs")]
    for ran, planned in sorted({(p["ran"], p["planned"]) for p in other}):
        n = sum(1 for p in other if (p["ran"], p["planned"]) == (ran, planned))
        parts.append(f"{counted(n, 'run')} pretrained in {ran} instead of the planned {planned} "
                     "(`asma pool run --precision`; the CSV's `precision` column names them)")
    if reused:
        parts.append(f"{counted(reused, 'run')} copied from another study (`--reuse`), not counted")
    return "; ".join(parts)


def compute_markdown(results: StudyResults) -> list[str]:
    rows = compute_rows(results)
    if not rows:
        return []
    total = sum(r.total_s for r in rows)
    lines = ["## Compute", "",
             f"_trial time of the runs this study trained (pretraining, every attempt, plus evaluation): "
             f"{duration(total)} over {counted(sum(r.runs for r in rows), 'run')}; {machine_line(results)}._", "",
             "| variant | data set | runs | pretraining epochs | mean per run | total |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    lines += [f"| {r.label} | {r.dataset} | {r.runs} | {r.epochs} | {duration(r.mean_s)} | {duration(r.total_s)} |"
              for r in rows]
    return lines + [""]
