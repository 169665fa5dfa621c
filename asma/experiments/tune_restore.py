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

A restored experiment also keeps the trial concurrency it was started with: Tune saves it in the
search algorithm's state and `Tuner.restore` takes no new TuneConfig, so `--concurrency` on a
resume did nothing. `set_saved_concurrency` rewrites that one value in the saved state before the
restore reads it.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path

from asma.cluster.ray_session import tune_loggers
from asma.data.atomic import write_bytes_atomic
from asma.errors import AsmaError

# where Tune (Ray 2.60) saves a search algorithm's concurrency: the newest state file of the pattern
# in the experiment folder (the one a restore reads), then the keys down to `max_concurrent`.
# Tune's default grid generator (`asma ablate`); a SearchGenerator around a ConcurrencyLimiter (`asma tune`).
SAVED_CONCURRENCY = (("basic-variant-state-*.json", ()),
                     ("search_gen_state-*.json", ("name:ConcurrencyLimiter",)))


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
    if not any(Path(path).glob("*/events.out.tfevents.*")):  # started with asma's loggers, not Tune's

        tune_loggers()
    with NoMetricsOfUnstartedTrials.installed():
        return tune.Tuner.restore(path, trainable, **options)


def saved_concurrency(experiment: str | Path) -> int:
    """The trials at a time a restore of the Tune experiment in `experiment` runs (0: as many as fit)."""
    return _saved_concurrency_state(Path(experiment))[2]["max_concurrent"]


def set_saved_concurrency(experiment: str | Path, concurrency: int) -> int:
    """Make the restore of the Tune experiment in `experiment` run `concurrency` trials at a time
    (0: as many as fit, for Tune's grid generator only); returns the concurrency it had."""
    import ray.cloudpickle as cloudpickle

    file, state, holder = _saved_concurrency_state(Path(experiment))
    if concurrency < 1 and holder is not state:
        raise AsmaError(f"{experiment}: a search runs at least 1 trial at a time, got {concurrency}")
    before = holder["max_concurrent"]
    holder["max_concurrent"] = concurrency
    write_bytes_atomic(file, cloudpickle.dumps(state))
    return before


def _saved_concurrency_state(experiment: Path) -> tuple[Path, dict, dict]:
    """The state file a restore reads, its state, and the dict in it that holds `max_concurrent`.

    Raises AsmaError when the experiment holds no saved concurrency of a known form."""
    import ray.cloudpickle as cloudpickle

    for pattern, keys in SAVED_CONCURRENCY:
        files = sorted(experiment.glob(pattern))  # Tune restores the newest: the greatest name
        if not files:
            continue
        state = cloudpickle.loads(files[-1].read_bytes())
        holder = state
        for key in keys:
            holder = holder.get(key) if isinstance(holder, dict) else None
        if isinstance(holder, dict) and "max_concurrent" in holder:
            return files[-1], state, holder
        break
    raise AsmaError(f"{experiment}: found no saved trial concurrency (is this a Tune experiment of another Ray "
                    "version?); resume without --concurrency to keep the one it was started with")
