"""`asma save-encoders STUDY`: each finished pretrained run's encoders, kept beside its record.

A study's checkpoints live in its Tune folder or `asma pool`'s work folder, which git does not keep;
its records do. Saved here, in STUDY/encoders/<run>.pt (asma/evaluation/encoder_file.py), the
encoders travel with the records, and `asma transfer STUDY --target DIR` works on a fresh clone.
Reference rows (raw input, floor, ceiling) have nothing pretrained to keep. A run whose file is
saved already (from the same record) is left as it is; a run with no checkpoint is named.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from asma.errors import InputFileError
from asma.evaluation.encoder_file import (encoder_file_of, encoder_file_state, is_encoder_file, record_digest,
                                          write_encoder_file)
from asma.evaluation.protocols import find_checkpoint
from asma.models.pretrainer import encoder_entries
from asma.training.runtime import load_checkpoint_file


@dataclass
class SavedEncoders:
    written: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)   # "<run>: why"


def save_study_encoders(study_dir: Path) -> SavedEncoders:
    study_file = study_dir / "study.json"
    if not study_file.exists():
        raise InputFileError(study_dir, "not a study folder (no study.json)", fix="pass a study folder of `asma ablate`")
    variants = json.loads(study_file.read_text())["variants"]
    saved = SavedEncoders()
    for record_path in sorted((study_dir / "runs").glob("*.json")):
        record = json.loads(record_path.read_text())
        if variants.get(record.get("variant"), {}).get("reference"):
            continue
        try:
            checkpoint = find_checkpoint(record_path)
        except InputFileError as e:
            saved.missing.append(f"{record['run']}: {e.problem}")
            continue
        state = load_checkpoint_file(checkpoint)
        if is_encoder_file(state):  # no checkpoint but the file, which find_checkpoint checked
            saved.kept.append(checkpoint)
            continue
        out = encoder_file_of(record_path)
        if out.exists() and _same(load_checkpoint_file(out), record, state):
            saved.kept.append(out)
            continue
        encoders = encoder_entries(state["model"], state["config"]["masking"]["views"])
        saved.written.append(write_encoder_file(encoder_file_state(state, encoders, record), out))
    return saved


def _same(saved: dict, record: dict, checkpoint: dict) -> bool:
    """Whether a saved encoder file holds this record's run at the checkpoint's epoch."""
    return saved.get("record_config") == record_digest(record) and saved.get("epoch") == int(checkpoint["epoch"])
