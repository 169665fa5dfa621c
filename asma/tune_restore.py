"""`Tuner.restore` for an experiment whose driver was killed (SIGKILL, a lost head), without tracebacks.

Tune saves its experiment state (trials, each trial's kept checkpoints) every few seconds and
whenever a trial has made `num_to_keep` checkpoints, so a killed driver leaves a state a little
older than the folder. Restoring it (Ray 2.60) shows two symptoms, neither of which loses work:

- a trial the saved state still lists a checkpoint for that the killed driver had already deleted
  (`num_to_keep`): when the restored trial reports its next checkpoint, Tune deletes the oldest
  one it knows of, Ray raises FileNotFoundError for the missing folder, and Tune logs it with a
  traceback ("Error handling checkpoint"). Its bookkeeping is already updated by then; the missing
  folder is exactly what the delete wanted. `restore_tuner` makes deleting a missing checkpoint a
  no-op in this process.
- every trial that had not reported yet (not started, or within its first epoch) has a folder
  without result.json, and the restore logs a FileNotFoundError per trial while reading the old
  metrics ("Failed to fetch metrics ..."), which nothing uses. That one warning is dropped while
  restoring; any other failure to read a trial's metrics is still logged.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager


class NoMetricsOfUnstartedTrials(logging.Filter):
    LOGGER = "ray.tune.analysis.experiment_analysis"

    def filter(self, record: logging.LogRecord) -> bool:
        lines = record.getMessage().splitlines()
        unstarted = all("result.json and progress.csv were not found" in line for line in lines[1:])
        return not (lines and lines[0].startswith("Failed to fetch metrics") and unstarted)

    @classmethod
    @contextmanager
    def installed(cls):
        logger, quiet = logging.getLogger(cls.LOGGER), cls()
        logger.addFilter(quiet)
        try:
            yield
        finally:
            logger.removeFilter(quiet)


def tolerate_deleted_checkpoints() -> None:
    """Tune's checkpoint manager deletes checkpoints past `num_to_keep` with a helper that raises
    on a missing path; make it skip one that is already gone (idempotent)."""
    from ray.train._internal import checkpoint_manager, storage

    delete = getattr(checkpoint_manager, "_delete_fs_path", None)
    if delete is None or getattr(delete, "skips_missing", False):
        return  # another Ray version: nothing to mend, or already mended

    def delete_if_present(fs, fs_path: str) -> None:
        if storage._exists_at_fs_path(fs, fs_path):
            delete(fs=fs, fs_path=fs_path)

    delete_if_present.skips_missing = True
    delete_if_present.__wrapped__ = delete  # Ray's own helper, for a caller that needs it back
    checkpoint_manager._delete_fs_path = delete_if_present


def restore_tuner(path: str, trainable, **options):
    """`tune.Tuner.restore(path, trainable, **options)`, quiet about what a killed driver left."""
    from ray import tune

    tolerate_deleted_checkpoints()
    with NoMetricsOfUnstartedTrials.installed():
        return tune.Tuner.restore(path, trainable, **options)
