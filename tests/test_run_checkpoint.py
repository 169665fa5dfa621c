"""Which checkpoint a study's run record stands for: its Tune trial's, or the `asma pool` run folder's."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from asma.errors import InputFileError
from asma.evaluation.protocols import find_checkpoint


def _record(study: Path, run: str, machine: dict | None = None) -> Path:
    path = study / "runs" / f"{run}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"run": run, "machine": machine or {}}))
    return path


def _pool_folder(folder: Path, epoch: int) -> Path:
    (folder / "checkpoints").mkdir(parents=True)
    checkpoint = folder / "checkpoints" / f"epoch_{epoch:04d}.pt"
    checkpoint.write_bytes(b"x")
    (folder / "checkpoints" / "latest.json").write_text(json.dumps({"path": checkpoint.name, "epoch": epoch}))
    return checkpoint


def test_a_tune_trial_s_newest_checkpoint(tmp_path):
    study = tmp_path / "records" / "ablations" / "s"
    older = study / "tune" / "a__d__seed0_x_00000" / "checkpoint_000001" / "checkpoint.pt"
    newer = study / "tune" / "a__d__seed0_y_00000" / "checkpoint_000003" / "checkpoint.pt"
    for i, p in enumerate((older, newer)):
        p.parent.mkdir(parents=True)
        p.write_bytes(b"x")
        os.utime(p, (1000 + i, 1000 + i))
    assert find_checkpoint(_record(study, "a__d__seed0")) == newer


def test_a_pool_run_s_checkpoint_from_the_folder_its_record_names(tmp_path):
    study = tmp_path / "records" / "ablations" / "s"
    checkpoint = _pool_folder(tmp_path / "elsewhere" / "s" / "a__d__seed0", 50)
    assert find_checkpoint(_record(study, "a__d__seed0", {"run_folder": str(checkpoint.parent.parent)})) == checkpoint


def test_a_pool_run_s_checkpoint_in_the_default_work_folder(tmp_path):
    """Records that name no folder: `asma pool run --out OUT` keeps its runs in OUT/pool/<study>/<run>."""
    study = tmp_path / "records" / "ablations" / "s"
    checkpoint = _pool_folder(tmp_path / "records" / "pool" / "s" / "a__d__seed0", 50)
    assert find_checkpoint(_record(study, "a__d__seed0")) == checkpoint


def test_no_checkpoint_anywhere_says_where_it_looked(tmp_path):
    study = tmp_path / "records" / "ablations" / "s"
    with pytest.raises(InputFileError, match="no checkpoint of run a__d__seed0 under .*tune or an `asma pool` folder"):
        find_checkpoint(_record(study, "a__d__seed0"))
