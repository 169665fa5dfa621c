"""Is a prepared set whole? Checked when it is opened, before anything is memory-mapped.

A set copied between machines (rsync cut short, a full disk, a cluster node still syncing) fails
deep inside NumPy ("mmap length is greater than file size") or, worse, opens with samples cut
short. Each file's size and shape is checked against meta.json instead, so the error names the
file to copy again.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from asma.errors import InputFileError


def copy_again(root: Path, name: str) -> str:
    return f"the file is cut short or damaged: copy {root / name} again from where the set was prepared"


def read_json(root: Path, name: str) -> dict:
    """meta.json or splits.json, with a cut or damaged file an error that names it."""
    try:
        return json.loads((root / name).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputFileError(root / name, f"not valid JSON ({e})", fix=copy_again(root, name)) from None


def npy_shape(root: Path, name: str, expected: tuple[int, ...] | None) -> tuple[int, ...]:
    """The shape in an .npy file's header, checked against `expected` and against the file's size."""
    path = root / name
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(f)
            data_start = f.tell()
    except (ValueError, OSError) as e:
        raise InputFileError(path, f"not a readable .npy file ({e})", fix=copy_again(root, name)) from None
    if expected is not None and tuple(shape) != expected:
        raise InputFileError(path, f"holds shape {tuple(shape)}, meta.json says {expected}",
                             fix="the file belongs to another set: copy the whole folder again")
    needed = data_start + int(np.prod(shape)) * dtype.itemsize
    size = path.stat().st_size
    if size < needed:
        raise InputFileError(path, f"{size} bytes, but its {shape} array needs {needed}", fix=copy_again(root, name))
    return tuple(shape)


def check_complete(root: Path, meta: dict) -> None:
    """Every file of the set at `root` as large as meta.json says (older sets: as their headers say)."""
    samples = meta.get("num_samples")
    tail = tuple(meta.get(k) for k in ("num_persons", "num_joints", "channels"))
    frames = meta.get("num_frames")
    whole = (frames, *tail) if frames is not None and None not in tail else None
    npy_shape(root, "skeletons.npy", whole)
    npy_shape(root, "offsets.npy", None if samples is None else (samples + 1,))
    npy_shape(root, "labels.npy", None if samples is None else (samples,))
    if samples is not None:
        lines = len((root / "names.txt").read_text().splitlines())
        if lines != samples:
            raise InputFileError(root / "names.txt", f"{lines} names, meta.json says {samples} samples",
                                 fix=copy_again(root, "names.txt"))
