"""What a restore after a killed driver meets: a kept checkpoint already deleted, trials with no result yet.

(The end-to-end check, a driver SIGKILLed mid-study and resumed, is in tests/test_cluster_faults.py.)
"""
from __future__ import annotations

import logging

import pytest
from ray.train import Checkpoint, CheckpointConfig
from ray.train._internal import checkpoint_manager
from ray.train._internal.session import _TrainingResult

from asma.tune_restore import NoMetricsOfUnstartedTrials, tolerate_deleted_checkpoints


def register_after_a_stale_restore(tmp_path) -> list[str]:
    """The restored bookkeeping keeps epochs 0 and 1 (num_to_keep=2) but epoch 0's folder is gone;
    the trial then reports epoch 2. Returns the folders the manager keeps."""
    folders = [tmp_path / f"checkpoint_00000{i}" for i in range(3)]
    for folder in folders[1:]:
        folder.mkdir(parents=True)
    manager = checkpoint_manager._CheckpointManager(CheckpointConfig(num_to_keep=2))
    for folder in folders:
        manager.register_checkpoint(_TrainingResult(Checkpoint(str(folder)), {}))
    return [r.checkpoint.path for r in manager.best_checkpoint_results]


def test_deleting_a_checkpoint_that_is_already_gone_is_a_no_op(tmp_path, monkeypatch):
    # start from Ray's own helper even if an earlier test in this process restored a tuner (which
    # mends it for the whole process); monkeypatch puts back whatever was there after the test
    original = getattr(checkpoint_manager._delete_fs_path, "__wrapped__", checkpoint_manager._delete_fs_path)
    monkeypatch.setattr(checkpoint_manager, "_delete_fs_path", original)
    # Ray 2.60 raises here (Tune logs it as "Error handling checkpoint"); if it stops, the mend can go
    with pytest.raises(FileNotFoundError, match="Path not found.*checkpoint_000000"):
        register_after_a_stale_restore(tmp_path / "ray")
    tolerate_deleted_checkpoints()
    tolerate_deleted_checkpoints()  # idempotent: one wrapper, not two
    assert checkpoint_manager._delete_fs_path.skips_missing
    kept = register_after_a_stale_restore(tmp_path / "mended")
    assert [p.rsplit("/", 1)[1] for p in kept] == ["checkpoint_000001", "checkpoint_000002"]
    assert (tmp_path / "mended" / "checkpoint_000002").is_dir()


def record(message: str) -> logging.LogRecord:
    return logging.LogRecord(NoMetricsOfUnstartedTrials.LOGGER, logging.WARNING, __file__, 0, message, None, None)


def test_only_the_warning_about_trials_without_results_is_dropped():
    # the text Ray 2.60 logs on restore (tests/test_cluster_faults.py saw it before the filter)
    missing = ("- ablation_trial_bd39f_0000{i}: FileNotFoundError('Could not fetch metrics for ablation_trial_"
               "bd39f_0000{i}: both result.json and progress.csv were not found at /tmp/x/tune/run_{i}')")
    unstarted = "Failed to fetch metrics for 2 trial(s):\n" + "\n".join(missing.format(i=i) for i in (2, 3))
    broken = ("Failed to fetch metrics for 2 trial(s):\n" + missing.format(i=2) +
              "\n- ablation_trial_bd39f_00003: JSONDecodeError('Expecting value: line 1 column 1 (char 0)')")
    keep = NoMetricsOfUnstartedTrials().filter
    assert not keep(record(unstarted))
    assert keep(record(broken)) and keep(record("Something else"))
    logger = logging.getLogger(NoMetricsOfUnstartedTrials.LOGGER)
    with NoMetricsOfUnstartedTrials.installed():
        assert len(logger.filters) == 1
    assert not logger.filters
