"""UTKinect-Action3D: continuous recordings cut into action samples, (T, M=1, V=20, C=3), kinect_v1.

`joints_sSS_eEE.txt` holds one frame a line: a frame id, then 20 joints x (x y z). Frame ids jump
and repeat, so a segment is the frames whose id lies in its range (a repeated id counts once).
`actionLabel.txt` gives, per recording, `action: start_id end_id` lines; a segment that is `NaN`,
reversed, or holds no frame of the recording is reported in `skipped`, never guessed.

Splits: `xsub` (subjects 1, 3, 5, 7, 9 train) and leave-one-sequence-out as 20 splits named
`loso_sSS_eEE`, each testing on that recording's segments and training on the others.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from asma.data.format import EXPECTED, SkippedFile
from asma.data.readers.base import (Sample, centre_on_origin, first_nan_row, parse_number_rows, read_text, split_by,
                                    validation_split)
from asma.errors import InputFileError
from asma.skeleton.layout import load_layout

ACTIONS = ("walk", "sitDown", "standUp", "pickUp", "carry", "throw", "push", "pull", "waveHands", "clapHands")
RECORDING_PATTERN = re.compile(r"^s(\d{2})_e(\d{2})$")
SEGMENT_PATTERN = re.compile(r"^\s*(\w+)\s*:\s*(\S+)\s+(\S+)\s*$")
LABEL_FILE = "actionLabel.txt"
JOINTS = 20
XSUB_TRAIN_SUBJECTS = {1, 3, 5, 7, 9}


@dataclass(frozen=True)
class Segment:
    action: str
    start: float  # frame ids; NaN when the label file says so
    end: float
    line: int     # line of actionLabel.txt, for reports


@dataclass(frozen=True)
class Recording:
    name: str          # sSS_eEE
    joints_file: Path
    label_file: Path
    segments: tuple[Segment, ...]


def parse_action_labels(path: Path) -> dict[str, list[Segment]]:
    """actionLabel.txt -> {recording: segments}; a line that fits no pattern is an error naming it."""
    recordings: dict[str, list[Segment]] = {}
    current = None
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        if RECORDING_PATTERN.match(line.strip()):
            current = recordings.setdefault(line.strip(), [])
            continue
        match = SEGMENT_PATTERN.match(line)
        if not match or current is None:
            raise InputFileError(path, f"expected 'sSS_eEE' or 'action: start end', found {line.strip()[:60]!r}",
                                 line=number)
        action, start, end = match.groups()
        if action not in ACTIONS:
            raise InputFileError(path, f"unknown action {action!r}", line=number, fix=f"one of {', '.join(ACTIONS)}")
        try:
            current.append(Segment(action, float(start), float(end), number))
        except ValueError:
            raise InputFileError(path, f"frame ids {start!r} {end!r} are not numbers", line=number) from None
    return recordings


def cut_segment(frame_ids: np.ndarray, joints: np.ndarray, segment: Segment) -> np.ndarray | str:
    """The (T, 20, 3) frames of a segment, or the reason it has none."""
    if np.isnan(segment.start) or np.isnan(segment.end):
        return "frame range is NaN"
    if segment.start > segment.end:
        return f"frame range {segment.start:g}-{segment.end:g} is reversed"
    ids, first = np.unique(frame_ids, return_index=True)  # a repeated id counts once
    inside = first[(ids >= segment.start) & (ids <= segment.end)]
    if inside.size == 0:
        return (f"frame range {segment.start:g}-{segment.end:g} is outside the recording "
                f"(ids {frame_ids.min():g}-{frame_ids.max():g})")
    return joints[np.sort(inside)]


@dataclass
class UTKinectReader:
    dataset: str = "utkinect"
    layout: str = "kinect_v1"
    num_persons: int = 1
    num_joints: int = JOINTS
    recordings: list[str] = field(default_factory=list)

    def list_sources(self, raw: Path) -> tuple[list[Recording], list[SkippedFile]]:
        label_file = raw / LABEL_FILE
        if not label_file.exists():
            raise InputFileError(label_file, "label file not found", fix="--raw must hold actionLabel.txt and joints_sSS_eEE.txt")
        labelled = parse_action_labels(label_file)
        items, skipped = [], []
        for name, segments in labelled.items():
            joints_file = raw / f"joints_{name}.txt"
            if not joints_file.exists():
                skipped.append(SkippedFile(str(joints_file), f"labelled in {LABEL_FILE} but missing"))
                continue
            items.append(Recording(name, joints_file, label_file, tuple(segments)))
        for path in sorted(raw.glob("joints_*.txt")):
            if path.stem.removeprefix("joints_") not in labelled:
                skipped.append(SkippedFile(str(path), f"no segments in {LABEL_FILE}", EXPECTED))
        self.recordings = [r.name for r in items]
        return items, skipped

    def read(self, recording: Recording) -> tuple[list[Sample], list[SkippedFile]]:
        rows = parse_number_rows(recording.joints_file, read_text(recording.joints_file), 1 + JOINTS * 3)
        if rows.shape[0] == 0:
            raise InputFileError(recording.joints_file, "no frames")
        bad = first_nan_row(rows)
        if bad is not None:
            raise InputFileError(recording.joints_file, "NaN or infinite value", line=bad + 1)
        frame_ids, joints = rows[:, 0], rows[:, 1:].reshape(-1, JOINTS, 3)
        origin = load_layout(self.layout).origin
        samples, skipped = [], []
        for segment in recording.segments:
            frames = cut_segment(frame_ids, joints, segment)
            if isinstance(frames, str):
                skipped.append(SkippedFile(f"{recording.label_file}:{segment.line}",
                                           f"{recording.name} {segment.action}: {frames}"))
                continue
            name = f"{recording.name}_{segment.action}"
            samples.append((name, ACTIONS.index(segment.action), centre_on_origin(frames[:, None].astype(np.float32), origin)))
        return samples, skipped

    def splits(self, names: list[str]) -> dict[str, dict[str, list[int]]]:
        recording = [n[:7] for n in names]  # sSS_eEE
        splits = {"xsub": split_by(names, lambda n: int(n[1:3]) in XSUB_TRAIN_SUBJECTS)}
        splits["xsub_val"] = validation_split(names, lambda n: int(n[1:3]), splits["xsub"])
        for held_out in sorted(set(recording)):
            splits[f"loso_{held_out}"] = {"train": [i for i, r in enumerate(recording) if r != held_out],
                                          "test": [i for i, r in enumerate(recording) if r == held_out]}
        return splits

    def meta(self) -> dict:
        return {"dataset": self.dataset, "layout": self.layout, "num_classes": len(ACTIONS),
                "class_names": list(ACTIONS),
                "preprocessing": {"segments": "frames whose id lies in the labelled range, repeated ids once",
                                  "centre": "spine (joint 2) of the first frame",
                                  "splits": "xsub: subjects 1,3,5,7,9 train; xsub_val: those, subject 5 held out as validation; loso_sSS_eEE: leave that recording out"}}
