"""A pretrained run's encoders alone, small enough to keep in git beside the run's record.

A pretraining checkpoint holds each view's encoder, its projector and the optimizer's state (22 MB
for two `real` ST-GCNs); evaluation and transfer read the encoders only (2.7 MB). An encoder file is
a checkpoint with `encoders_only` set: the config, the epoch and the encoders' weights, plus the run
and a digest of the config of the record it stands for, so that a file saved from one run is never
read as another's (a run trained again with another config). A study keeps them in
`<study>/encoders/<run>.pt` (`asma save-encoders`), where `asma transfer` and `asma eval` find them
when the study's checkpoints are not at hand, e.g. in a fresh clone.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from asma.errors import InputFileError
from asma.training.runtime import save_checkpoint_file

ENCODERS_ONLY = "encoders_only"
ENCODERS_FOLDER = "encoders"


def record_digest(record: dict) -> str:
    """A run record's config, as a short digest: what an encoder file is checked against."""
    return hashlib.sha256(json.dumps(record["config"], sort_keys=True, default=str).encode()).hexdigest()[:16]


def is_encoder_file(state: dict) -> bool:
    return bool(state.get(ENCODERS_ONLY))


def encoder_file_of(record_path: Path) -> Path:
    """Where a study keeps the encoders of the run whose record is runs/<run>.json."""
    return record_path.parent.parent / ENCODERS_FOLDER / f"{record_path.stem}.pt"


def encoder_file_state(checkpoint: dict, encoder_state: dict[str, torch.Tensor], record: dict) -> dict:
    """What an encoder file holds: the checkpoint's config and epoch, the encoders' weights, and
    which record they stand for."""
    return {ENCODERS_ONLY: True, "config": checkpoint["config"], "epoch": int(checkpoint["epoch"]),
            "model": {key: value.detach().cpu().contiguous() for key, value in encoder_state.items()},
            "run": record["run"], "record_config": record_digest(record)}


def write_encoder_file(state: dict, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint_file(state, out)
    return out


def check_encoder_file(path: Path, state: dict, record_path: Path, record: dict) -> None:
    """The encoder file must stand for this record: the same run, trained with the same config."""
    if state.get("run") != record["run"] or state.get("record_config") != record_digest(record):
        raise InputFileError(path, f"saved from another run than {record_path} (its run or config differs)",
                             fix=f"save it again from the run's checkpoint: asma save-encoders {record_path.parent.parent}")
