"""Finished runs shared between studies: `asma ablate STUDY --reuse OTHER_RUN_DIR`.

A confirmation study re-runs a search's best configs beside no masking, PSTL and ASMa; a converged
study may already hold those reference rows with the same config and seeds. `--reuse` copies such a
run into this study instead of training it again, when it is the same run: the same run id
(variant, data set, seed), a config equal in every key that ran (the check `finished_runs` makes on
resume), the same reference role, and an evaluation record that covers this study's protocols.
Anything else is trained here as usual; a run id that matches but differs is named, not copied.

The copy keeps the source's files as they are (result, evaluation record, a distilled student's
record) and adds `reused_from` to the result, so a reader sees where it ran. The result file is
written last and atomically: its presence still means "done".
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from asma.ablation.finished import changed_config_keys
from asma.data.atomic import atomic_directory, write_json_atomic, write_text_atomic
from asma.errors import InputFileError
from asma.evaluation.results import scores_path
from asma.experiments.evaluate import FROZEN_PROTOCOLS


@dataclass
class Reused:
    copied: dict[str, Path] = field(default_factory=dict)  # run id -> the study folder it came from
    differ: dict[str, str] = field(default_factory=dict)  # run id -> why a run of that id was not taken


def source_references(sources: list[Path]) -> dict[Path, dict[str, str | None]]:
    """Each source study's variants and their reference roles (floor, ceiling or None), from its study.json."""
    roles = {}
    for source in sources:
        record = source / "study.json"
        if not (source / "runs").is_dir() or not record.exists():
            raise InputFileError(source, "not a study folder (it has no study.json and runs/)",
                                 fix="pass the folder `asma ablate` wrote, e.g. runs/ablations/real_converged")
        try:
            variants = json.loads(record.read_text())["variants"]
        except (json.JSONDecodeError, KeyError):
            raise InputFileError(record, "not a study record (no `variants`)",
                                 fix="pass a folder `asma ablate` wrote") from None
        roles[source] = {name: v.get("reference") for name, v in variants.items()}
    return roles


def why_not(spec: dict, result: dict, evaluated: set[str], reference: str | None) -> str | None:
    """None when `result` (evaluated with the protocols `evaluated`, made as `reference`) is this
    spec's run; else why not."""
    if "config" not in result:
        return "not a run result"
    if reference != spec.get("reference"):  # a floor row has the config of the pretrained row it floors
        return f"a {reference or 'pretrained'} row there, a {spec.get('reference') or 'pretrained'} row here"
    changed = changed_config_keys(result["config"], spec, result.get("data_fingerprint"))
    if changed:
        return f"config differs in {', '.join(changed[:5])}"
    if spec.get("reference") == "ceiling":  # trained with labels once; its `supervised` top-1 stands in each column
        missing = [] if "supervised" in evaluated else ["supervised"]
        missing += [p for p in spec["protocols"] if p in FROZEN_PROTOCOLS and p not in result.get("metrics", {})]
    else:
        missing = [p for p in spec["protocols"] if p not in evaluated]
    if missing:
        return f"not evaluated with {', '.join(missing)}"
    return None


def evaluated_protocols(source: Path, run_id: str, evals: dict | None) -> set[str]:
    """The protocols a finished run of study folder `source` was evaluated with: those of its
    evaluation record, and `distill` when its distilled student's record is there (a distillation
    writes evals/<run>.student/distill.json, not a protocol of evals/<run>.json)."""
    evaluated = set((evals or {}).get("protocols", {}))
    if (source / "evals" / f"{run_id}.student" / "distill.json").exists():
        evaluated.add("distill")
    return evaluated


def reuse_runs(specs: dict[str, dict], pending: list[str], sources: list[Path]) -> Reused:
    """Copy every pending run that a source study finished with the same config; the first source wins."""
    roles = source_references(sources)
    reused = Reused()
    for run_id in pending:
        spec = specs[run_id]
        for source in sources:
            result_file, evals_file = source / "runs" / f"{run_id}.json", source / "evals" / f"{run_id}.json"
            if not result_file.exists():
                continue
            try:
                result = json.loads(result_file.read_text())
                evals = json.loads(evals_file.read_text()) if evals_file.exists() else None
            except json.JSONDecodeError as e:
                raise InputFileError(result_file if not evals_file.exists() else evals_file, f"not JSON ({e})",
                                     fix="drop this --reuse folder, or delete the damaged file there") from None
            reason = why_not(spec, result, evaluated_protocols(source, run_id, evals),
                             roles[source].get(spec["variant"]))
            if reason:
                reused.differ.setdefault(run_id, f"{result_file}: {reason}")
                continue
            copy_run(source, run_id, Path(spec["result_path"]), {**result, "reused_from": str(source)})
            reused.copied[run_id] = source
            reused.differ.pop(run_id, None)
            break
    return reused


def copy_run(source: Path, run_id: str, result_path: Path, result: dict, source_run: str | None = None) -> None:
    """Copy a finished run's evaluation record, probe scores and student from study folder `source`
    (where it is named `source_run`, by default `run_id`), then write `result` as its record here."""
    source_run = source_run or run_id
    evals_dir = result_path.parent.parent / "evals"
    evals_dir.mkdir(parents=True, exist_ok=True)  # a distillation run has no evals/<run>.json to make it
    if (source / "evals" / f"{source_run}.json").exists():
        write_text_atomic(evals_dir / f"{run_id}.json", (source / "evals" / f"{source_run}.json").read_text())
    scores = scores_path(source / "evals" / f"{source_run}.json")  # the probe's per-clip scores (fused rows)
    if scores.exists():
        tmp = scores_path(evals_dir / f".{run_id}.json")
        shutil.copyfile(scores, tmp)
        os.replace(tmp, scores_path(evals_dir / f"{run_id}.json"))
    student = source / "evals" / f"{source_run}.student"
    if student.is_dir():
        with atomic_directory(evals_dir / f"{run_id}.student") as staging:
            shutil.copytree(student, staging, dirs_exist_ok=True)
    write_json_atomic(result_path, result)
