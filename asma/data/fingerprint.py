"""What a prepared data set holds, as a short hash: the identity of a run's data, wherever it lies.

A run's result names its data by `data.path`, an absolute path (trials run in other folders). The
same prepared set on another machine, or in another checkout, lies elsewhere; a study resumed there
from its committed run records must still know those runs used the same data. The fingerprint is
that identity: equal for a copy of the set, or the same raw files prepared with the same options
anywhere; different when a sample, a label, a split or the preparation's numbers differ.

It hashes the index files whole (offsets, labels, names, splits: small) and, of `skeletons.npy`,
its size and 64 evenly spaced 4 KiB blocks: NTU-60's 2.7 GB would take seconds to hash whole,
and a preparation option that changes the coordinates (centring, scaling) changes every block.
`meta.json` is left out: it records where the raw files were and how long preparing took.
"""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

INDEX_FILES = ("offsets.npy", "labels.npy", "names.txt", "splits.json")
BLOCKS = 64
BLOCK_BYTES = 4096


def dataset_fingerprint(path: str | Path) -> str | None:
    """`sha256:<16 hex>` of the prepared set at `path`; None when `path` is not a prepared set
    (`synthetic`, whose identity is its config, or a folder that is not there)."""
    root = Path(path).expanduser()
    if not (root / "skeletons.npy").is_file() or not all((root / f).is_file() for f in INDEX_FILES):
        return None
    files = [root / f for f in (*INDEX_FILES, "skeletons.npy")]
    return _fingerprint(str(root.resolve()), tuple((f.stat().st_size, f.stat().st_mtime_ns) for f in files))


@lru_cache(maxsize=32)
def _fingerprint(root: str, stamps: tuple) -> str:  # stamps: a set prepared again is hashed again
    digest = hashlib.sha256()
    for name in INDEX_FILES:
        data = (Path(root) / name).read_bytes()
        if name == "splits.json":
            data = _without_validation_splits(data)
        digest.update(f"{name}:{len(data)}:".encode())
        digest.update(data)
    skeletons = Path(root) / "skeletons.npy"
    size = skeletons.stat().st_size
    digest.update(f"skeletons.npy:{size}:".encode())
    with open(skeletons, "rb") as f:
        for i in range(BLOCKS):
            f.seek(max(0, (size - BLOCK_BYTES) * i // max(1, BLOCKS - 1)))
            digest.update(f.read(BLOCK_BYTES))
    return f"sha256:{digest.hexdigest()[:16]}"


def _without_validation_splits(data: bytes) -> bytes:
    """splits.json as written without its `<split>_val` entries: those are carved from the other
    splits by subject (asma/data/readers/base.py), so they add nothing to the set's identity, and a
    set prepared before validation splits existed keeps its fingerprint (and its runs stay its runs)."""
    splits = json.loads(data)
    if not any(k.endswith("_val") for k in splits):
        return data
    return json.dumps({k: v for k, v in splits.items() if not k.endswith("_val")}).encode()


def same_data(old_path: str, new_path: str) -> bool:
    """Whether two `data.path` values name the same data: the same path, or prepared sets with equal
    fingerprints (a folder that is not there has none: then only an equal path is the same)."""
    if old_path == new_path:
        return True
    before, now = dataset_fingerprint(old_path), dataset_fingerprint(new_path)
    return before is not None and before == now
