"""Atomic writes: a reader sees the old result or the new one, never half of either."""
from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def write_text_atomic(path: str | Path, text: str) -> None:
    write_bytes_atomic(path, text.encode())


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | Path, obj: object) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


@contextmanager
def atomic_directory(out: str | Path, keep_existing: bool = False) -> Iterator[Path]:
    """Yield a fresh staging folder; on success it replaces `out` in one rename.

    On an error the staging folder is removed and `out` (a previous result, if any) is untouched.
    Two writers of one `out` both succeed. By default the last one's folder stays: a folder that
    appears at `out` while this one is being moved in is moved aside and removed (a result the
    user makes again). With `keep_existing` (a cache that every writer fills the same way) the
    first folder moved in stays and later writers drop theirs, so a reader that found the folder
    never has it replaced under it (a pool worker reading a cache another worker also built).
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if keep_existing:
        _move_in_unless_present(staging, out)
    else:
        _move_in(staging, out)


def _move_in_unless_present(staging: Path, out: Path) -> None:
    """Rename `staging` to `out`; where another writer's folder is already there, drop `staging`."""
    try:
        os.replace(staging, out)  # atomic; fails while a non-empty folder sits at `out`
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        if error.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise


def _move_in(staging: Path, out: Path, attempts: int = 10) -> None:
    """Rename `staging` to `out`, moving any folder at `out` aside first (it may appear at any time)."""
    for _ in range(attempts):
        try:
            os.replace(staging, out)  # atomic; fails while a non-empty folder (or a file) sits at `out`
            return
        except OSError as error:
            if error.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR) or not out.exists():
                shutil.rmtree(staging, ignore_errors=True)
                raise
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
        try:
            os.replace(out, old / out.name)
        except FileNotFoundError:  # another writer moved it aside already; try again
            pass
        shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(staging, ignore_errors=True)
    raise OSError(errno.EBUSY, f"{out}: other writers kept replacing it; {attempts} attempts to move the result "
                               "in failed. Run again once they have finished.")
