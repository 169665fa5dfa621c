"""Read a study's run folder: study.json and one result file per finished run; write results.csv."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from asma.data.atomic import write_text_atomic
from asma.errors import InputFileError
from asma.evaluation.results import STREAM_PREFIX, stream_columns
from asma.reports.fusion import fused_rows


@dataclass
class StudyResults:
    study: dict               # study.json: name, default, variants, factors, seeds, datasets, protocols
    rows: list[dict]          # one result record per finished run (see asma/ablation/ablation_trial.py), and fused rows
    missing: list[str]        # planned runs without a result
    unfused: list[str] = field(default_factory=list)  # fused rows that could not be made, and why

    @property
    def metrics(self) -> list[str]:
        """Metric columns in the order the protocols produced them."""
        keys: list[str] = []
        for row in self.rows:
            keys += [k for k in row["metrics"] if k not in keys]
        return keys


def _with_stream_columns(row: dict, eval_file: Path) -> dict:
    """A run record made before its stream columns were kept: they are read from its evaluation
    record (evals/<run>.json), the columns the run would now report."""
    if any(k.startswith(STREAM_PREFIX) for k in row["metrics"]) or not eval_file.exists():
        return row
    try:
        protocols = json.loads(eval_file.read_text())["protocols"]
    except (json.JSONDecodeError, KeyError):
        return row
    extra = {k: v for name, result in protocols.items() for k, v in stream_columns(name, result).items()}
    return {**row, "metrics": {**row["metrics"], **extra}}


DISTILL_COSTS = ("teacher_params", "student_params", "parameter_reduction_pct", "teacher_mflops", "student_mflops",
                 "teacher_latency_ms_b1", "student_latency_ms_b1", "speedup_b1")


def distill_costs(record_file: Path) -> dict[str, float] | None:
    """A distilling run's costs from its distillation record (evals/<run>.student/distill.json):
    parameters, MFLOPs per clip and batch-1 CPU latency of teacher and student; None without one."""
    try:
        r = json.loads(record_file.read_text())
        t, s = r["teacher"], r["student"]
        values = (t["parameters"], s["parameters"], r["parameter_reduction_pct"], t["inference"]["mflops"],
                  s["inference"]["mflops"], t["inference"]["latency_ms_b1"], s["inference"]["latency_ms_b1"],
                  r["speedup_b1"])
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        return None
    costs = dict(zip(DISTILL_COSTS, map(float, values)))
    return {**costs, "teacher_params": int(t["parameters"]), "student_params": int(s["parameters"])}


def what_else_it_is(folder: Path) -> str:
    """"; it is ..., see ...": what a folder a study command refused holds, and where to read it ("" if unknown)."""
    if (folder / "config.yaml").exists() and (folder / "metrics.jsonl").exists():
        return (f"; it is a run folder of `asma pretrain`: its epochs are in {folder / 'metrics.jsonl'} (and "
                f"`tensorboard --logdir {folder}`), and `asma eval {folder}` evaluates it")
    if (folder / "space.json").exists():
        return f"; it is a search folder of `asma tune`: its report is {folder / 'summary' / 'summary.md'}"
    return ""


def load_results(run_dir: str | Path) -> StudyResults:
    run_dir = Path(run_dir)
    study_file = run_dir / "study.json"
    if not study_file.exists():
        raise InputFileError(run_dir, "not an ablation run folder (no study.json)" + what_else_it_is(run_dir),
                             fix="`asma report` takes the folder `asma ablate` wrote, e.g. runs/ablations/quick")
    study = json.loads(study_file.read_text())
    planned = study.get("runs", [])
    rows = []
    for path in sorted((run_dir / "runs").glob("*.json")):
        try:
            row = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise InputFileError(path, f"not valid JSON: {e}", fix="delete it to re-run that run") from None
        missing = [k for k in ("run", "variant", "dataset", "seed", "metrics") if k not in row]
        if missing:
            raise InputFileError(path, f"not a run result (no {', '.join(missing)})", fix="delete it to re-run that run")
        if row["variant"] in study["variants"] and (not planned or row["run"] in planned):
            row = _with_stream_columns(row, run_dir / "evals" / path.name)
            costs = distill_costs(run_dir / "evals" / f"{row['run']}.student" / "distill.json")
            rows.append({**row, "distill_costs": costs} if costs else row)
    done = {r["run"] for r in rows}
    fused, unfused = fused_rows(run_dir, study, rows)
    return StudyResults(study, rows + fused, [r for r in planned if r not in done], unfused)


def pretrain_precision(row: dict) -> str:
    """The number type a run pretrained in: its config's `train.precision`, or what the machine ran
    instead (`machine.precision`, `asma pool run --precision`); empty for a run that pretrains
    nothing (a floor or ceiling row) and a record without its config."""
    if not (row.get("pretrain") or {}).get("epochs"):
        return ""
    ran = ((row.get("machine") or {}).get("precision") or {}).get("ran")
    return ran or ((row.get("config") or {}).get("train") or {}).get("precision", "")


def results_csv(results: StudyResults) -> str:
    """One row per run: identity (with `reference`: floor, ceiling or empty), each metric column,
    pretraining cost and number type (pretrain_precision), the machine's load average as the run
    started and ended (what ran beside it), the study a run was copied from (`asma ablate --reuse`), and in a distillation study the
    student's and teacher's costs."""
    metrics = results.metrics
    costs = DISTILL_COSTS if any("distill_costs" in r for r in results.rows) else ()
    fused = any("fused_from" in r for r in results.rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["run", "variant", "label", "default", "reference", "dataset", "split", "seed", *metrics,
                     "final_loss", "pretrain_time_s", "precision", "eval_time_s", "load_start", "load_end", "reused_from",
                     *(["fused_from"] if fused else []), *costs])
    for row in sorted(results.rows, key=lambda r: (r["dataset"], r["variant"], r["seed"])):
        variant = results.study["variants"][row["variant"]]
        pre = row.get("pretrain", {})
        writer.writerow([row["run"], row["variant"], variant["label"], variant["default"],
                         variant.get("reference") or "", row["dataset"],
                         row.get("split", ""), row["seed"], *[row["metrics"].get(m, "") for m in metrics],
                         pre.get("final_loss", ""), pre.get("time_s", ""), pretrain_precision(row), row.get("eval_time_s", ""),
                         row.get("machine", {}).get("load_start", ""), row.get("machine", {}).get("load_end", ""),
                         row.get("reused_from", ""), *([" + ".join(row.get("fused_from", []))] if fused else []),
                         *[row.get("distill_costs", {}).get(c, "") for c in costs]])
    return out.getvalue()


def write_results_csv(results: StudyResults, path: str | Path) -> None:
    write_text_atomic(path, results_csv(results))
