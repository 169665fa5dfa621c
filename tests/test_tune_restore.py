"""What a restore after a killed driver meets: a kept checkpoint already deleted, trials with no result yet.

(The end-to-end check, a driver SIGKILLed mid-study and resumed, is in tests/test_cluster_faults.py.)
"""
from __future__ import annotations

import logging

import pytest
from ray.train import Checkpoint, CheckpointConfig
from ray.train._internal import checkpoint_manager
from ray.train._internal.session import _TrainingResult

from asma.experiments.tune_restore import NoMetricsOfUnstartedTrials, tolerate_deleted_checkpoints


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


def test_the_saved_concurrency_is_the_newest_state_s_and_one_of_an_unknown_form_is_refused(tmp_path):
    """The newest saved state is the one a restore reads, and the one rewritten; a folder with no
    saved concurrency gets an error that says to resume without --concurrency, not a KeyError."""
    import ray.cloudpickle as cloudpickle

    from asma.errors import AsmaError
    from asma.experiments.tune_restore import saved_concurrency, set_saved_concurrency

    old, new = tmp_path / "basic-variant-state-2026-01-01_00-00-00.json", tmp_path / "basic-variant-state-2026-01-02_00-00-00.json"
    old.write_bytes(cloudpickle.dumps({"max_concurrent": 3, "_counter": 5}))
    new.write_bytes(cloudpickle.dumps({"max_concurrent": 1, "_counter": 7}))
    assert saved_concurrency(tmp_path) == 1
    assert set_saved_concurrency(tmp_path, 0) == 1  # 0: as many as fit
    assert cloudpickle.loads(new.read_bytes()) == {"max_concurrent": 0, "_counter": 7}
    assert cloudpickle.loads(old.read_bytes())["max_concurrent"] == 3

    search = tmp_path / "search"
    search.mkdir()
    (search / "search_gen_state-2026-01-01_00-00-00.json").write_bytes(cloudpickle.dumps(
        {"counter": 2, "name:ConcurrencyLimiter": {"max_concurrent": 2, "live_trials": set()}}))
    with pytest.raises(AsmaError, match="at least 1"):
        set_saved_concurrency(search, 0)
    assert set_saved_concurrency(search, 4) == 2 and saved_concurrency(search) == 4

    with pytest.raises(AsmaError, match="resume without --concurrency"):
        saved_concurrency(tmp_path / "empty")
