"""Results must not be written into Ray's own folders, where a `ray job submit` runs its entrypoint.

`ray job submit --working-dir .` unpacks the upload under Ray's session folder
(`<temp>/ray/session_<date>_<pid>/runtime_resources/working_dir_files/_ray_pkg_<hash>/`) and makes
it the job's working directory, so a relative `out_dir` (the default `runs`) or `--out` lands there.
The next job is unpacked into another folder (the hash is the upload's), Ray's runtime-env cache
deletes unused ones and a new session starts in another folder: a later job can neither find the
finished runs to skip nor the checkpoints to resume. So a results folder there is refused before
anything is written; an absolute folder every node mounts is the fix (docs/cluster.md).

The job is known by the variable Ray sets for its entrypoint (RAY_JOB_CONFIG_JSON_ENV_VAR, whose
metadata holds the submission id: ray/dashboard/modules/job/job_supervisor.py); the folder by its path.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from asma.errors import AsmaError

JOB_CONFIG_VAR = "RAY_JOB_CONFIG_JSON_ENV_VAR"
# a Ray session folder (session_2026-12-07_18-00-00_123456_4242, or its session_latest link) or the
# runtime-env folder inside it, whatever Ray's temp dir is
RAY_FOLDER = re.compile(r"^(session_latest|session_\d{4}-\d{2}-\d{2}_.+|runtime_resources)$")


def ray_job_id() -> str | None:
    """The submission id of the Ray job this process is the entrypoint of, or None outside a job."""
    raw = os.environ.get(JOB_CONFIG_VAR)
    if not raw:
        return None
    try:
        return str(json.loads(raw)["metadata"]["job_submission_id"])
    except (ValueError, KeyError, TypeError):
        return "(unknown id)"


def in_ray_folder(path: str | Path) -> bool:
    """Whether `path` (made absolute from this folder) lies in a folder Ray owns and removes."""
    return any(RAY_FOLDER.match(part) for part in Path(path).expanduser().resolve().parts)


def check_outside_ray_folders(path: str | Path, option: str) -> None:
    """Refuse a results folder inside Ray's session folder (a job's working directory, typically),
    naming `option` (`--out`, `out_dir`, `ray.storage_path`), where it resolved to, and the fix."""
    if not in_ray_folder(path):
        return
    job = ray_job_id()
    inside = f"Ray job {job}'s working directory" if job else "Ray's session folder"
    resolved = Path(path).expanduser().resolve()
    shown = f"{path}" if str(resolved) == str(path) else f"{path} ({resolved})"
    fix = f"{option} /mnt/efs/asma-runs" if option.startswith("--") else f"--set {option}=/mnt/efs/asma-runs"
    raise AsmaError(f"{option} {shown} lies inside {inside}, which Ray deletes: a later job would neither skip "
                    f"nor resume these runs. Give an absolute folder every node mounts, e.g. {fix} (docs/cluster.md)")
