"""Results folders inside a Ray job's working directory (asma/cluster/job_dir.py) are refused before
anything is written: a later job could neither skip nor resume the runs written there.

The job's folder is built as Ray lays it out (its session name's format and its runtime-env folder
name, read from Ray's constants), and the job is announced as Ray's job supervisor announces it to
the entrypoint (RAY_JOB_CONFIG_JSON_ENV_VAR with the submission id in its metadata)."""
from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import pytest

from asma.cli.main import main
from asma.cluster.job_dir import check_outside_ray_folders, in_ray_folder, ray_job_id

ROOT = Path(__file__).resolve().parents[1]
JOB = "raysubmit_t3stJ0b"


@pytest.fixture
def job_dir(tmp_path, monkeypatch) -> Path:
    """This process as the entrypoint of a submitted job, in the folder Ray unpacked its upload into."""
    from ray._private.ray_constants import DEFAULT_RUNTIME_ENV_DIR_NAME, RAY_ADDRESS_ENVIRONMENT_VARIABLE
    from ray._private.runtime_env.constants import RAY_JOB_CONFIG_JSON_ENV_VAR

    session = f"session_{datetime.now().strftime('%Y-%m-%d_%H-%M-%S_%f')}_{os.getpid()}"  # ray/_private/node.py
    work = tmp_path / "ray" / session / DEFAULT_RUNTIME_ENV_DIR_NAME / "working_dir_files" / "_ray_pkg_0123abcd"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    monkeypatch.setenv(RAY_JOB_CONFIG_JSON_ENV_VAR, json.dumps(
        {"runtime_env": {"working_dir": "gcs://_ray_pkg_0123abcd.zip"}, "metadata": {"job_submission_id": JOB}}))
    monkeypatch.delenv(RAY_ADDRESS_ENVIRONMENT_VARIABLE, raising=False)  # nothing here may reach Ray
    monkeypatch.setenv("COLUMNS", "1000")  # rich wraps long lines at the terminal's width
    import asma.experiments.tune_run
    import asma.training.local
    import asma.training.ray_trainer

    def reached(*args, **kwargs):
        pytest.fail("the command went on to start Ray or to train")

    for module in (asma.experiments.tune_run, asma.training.ray_trainer):  # tune_run: ablate's and tune's
        monkeypatch.setattr(module, "init_ray", reached)
    monkeypatch.setattr(asma.training.local, "pretrain", reached)
    return work


def refused(capsys, *argv: str) -> str:
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_the_documented_job_without_out_is_refused_and_writes_nothing(job_dir, capsys):
    """`asma ablate STUDY --address auto` in a job: the study's default out_dir, `runs`, is in the job's folder."""
    err = refused(capsys, "ablate", str(ROOT / "ablations" / "quick.yaml"), "--seeds", "1", "--address", "auto")
    assert f"out_dir runs ({job_dir / 'runs'}) lies inside Ray job {JOB}'s working directory" in err
    assert "--set out_dir=/mnt/efs/asma-runs" in err
    err = refused(capsys, "ablate", str(ROOT / "ablations" / "quick.yaml"), "--out", "results")
    assert "--out results (" in err and "e.g. --out /mnt/efs/asma-runs" in err
    assert list(job_dir.iterdir()) == []


def test_pretraining_and_searches_are_refused_too(job_dir, capsys, tmp_path):
    assert "out_dir runs (" in refused(capsys, "pretrain", "smoke")
    assert "out_dir runs (" in refused(capsys, "pretrain", "smoke", "--workers", "2")
    kept = tmp_path / "kept"  # Ray Train's checkpoints go to ray.storage_path, relative by default
    err = refused(capsys, "pretrain", "smoke", "--workers", "2", "--set", f"out_dir={kept}")
    assert "ray.storage_path runs/ray (" in err and "--set ray.storage_path=" in err
    err = refused(capsys, "tune", str(ROOT / "search_spaces" / "alignment.yaml"))  # the space made it absolute
    assert f"out_dir {job_dir / 'runs'} lies inside Ray job {JOB}'s" in err
    assert list(job_dir.iterdir()) == [] and not kept.exists()


def test_an_absolute_folder_outside_ray_s_is_kept(job_dir, tmp_path):
    assert ray_job_id() == JOB
    assert in_ray_folder("runs") and in_ray_folder(job_dir.parent.parent.parent / "logs")
    check_outside_ray_folders(tmp_path / "kept", "--out")  # no error
    assert not in_ray_folder(tmp_path / "session_notes")  # only Ray's own names count
