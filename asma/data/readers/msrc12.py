"""MSRC-12 (Fothergill et al., CHI 2012): Kinect recordings cut into one clip per action point.

The authors distribute 594 recordings `P<A>_<B>_<C>[A]_p<D>.csv`: one line per frame, a timestamp
in microseconds, then 20 joints x (x, y, z, w) in the Kinect v1 SDK order. `<A>_<B>` is the
instruction modality (a trailing `A` after the gesture: two instructions combined), `<C>` the
gesture, `<D>` the subject. Beside each, `<same name>.tagstream` holds `XQPCTick;Tag` and one line
`tick;Gn  name` per annotated action point: the moment the gesture should be recognised, one per
gesture instance.

A clip is the WINDOW_BEFORE frames before an action point's frame, that frame and the
WINDOW_AFTER frames after it, clipped to the recording; all-zero frames (no skeleton tracked)
inside it are dropped. docs/method.md ("MSRC-12") says why this window.

The distributed copy's flaws are reported by name, never crashed on: a tagstream whose csv is
missing, a file name in another case than its partner, a tag of another gesture than the file's,
a tag far from every frame, two tags on one frame, and the tag count against the documented
instance count.

Splits: `xsub`, odd subjects (1, 3, ..., 29) train and even ones test, the half/half subject rule of
the MSR Action3D and UTKinect cross-subject protocols (Li et al. 2010); `xsub_val`, the same
training subjects with every fifth of them held out as validation (`validation_split`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from asma.data.format import SkippedFile
from asma.data.readers.base import (Sample, centre_on_origin, first_nan_row, parse_number_rows, read_text, split_by,
                                    validation_split)
from asma.errors import InputFileError
from asma.skeleton.layout import load_layout

# official gesture names, in gesture-number order (MSRC_12_gesture_dataset.pdf)
GESTURES = ("start music/raise volume", "crouch or hide", "navigate to next menu", "put on night vision goggles",
            "wind up the music", "shoot a pistol", "take a bow to end music session", "throw an object",
            "protest the music", "change weapon", "move up the tempo of the song", "kick")
DOCUMENTED_INSTANCES = 6244
RECORDING_PATTERN = re.compile(r"^P(\d+)_(\d+)_(\d+)(A?)_p(\d+)$", re.IGNORECASE)
TAG_PATTERN = re.compile(r"^(\d+);G(\d+)\b")
TAG_HEADER = "XQPCTick;Tag"
JOINTS = 20
WINDOW_BEFORE = 29   # 40 frames, ending a third of a second after the action point: the `real`
WINDOW_AFTER = 10    # preset's T, chosen on the validation split (docs/method.md, "MSRC-12")
TAG_TOLERANCE_US = 100_000  # an action point further than 3 frames from every frame is not in the recording
XSUB_TRAIN = "odd subjects"


def tick_to_microseconds(tick: int) -> int:
    """An XQPCTick as the distributed MATLAB code turns it into a frame time: `load_tagstream.m`
    computes (tick * 1000 + 49875 / 2) / 49875 in double precision and `tagstream_to_y.m` compares
    its int64 (rounded half away from zero) with the frame timestamps. Exact for any tick."""
    value = Fraction(tick * 1000) + Fraction(49875, 2)
    value /= 49875
    return int(value + Fraction(1, 2)) if value >= 0 else -int(-value + Fraction(1, 2))


@dataclass(frozen=True)
class Recording:
    name: str          # P<A>_<B>_<C>[A]_p<D>, as the csv is named
    csv: Path
    tagstream: Path
    gesture: int       # 1-12, from the name
    subject: int       # 1-30

    @property
    def instruction(self) -> str:
        """The instruction modality code `<A>_<B>`, with `+` when two instructions were combined."""
        match = RECORDING_PATTERN.match(self.name)
        return f"{match[1]}_{match[2]}{'+' if match[4] else ''}"


def parse_recording_name(stem: str) -> tuple[int, int] | None:
    """(gesture, subject) of a recording's file stem, None when it is not an MSRC-12 name."""
    match = RECORDING_PATTERN.match(stem)
    return (int(match[3]), int(match[5])) if match else None


def clip_fields(name: str) -> dict[str, str | int]:
    """What a clip's name says: recording, instruction modality, gesture, subject and instance."""
    recording, _, instance = name.rpartition("_")
    gesture, subject = parse_recording_name(recording)
    match = RECORDING_PATTERN.match(recording)
    return {"recording": recording, "instruction": f"{match[1]}_{match[2]}", "two_instructions": bool(match[4]),
            "gesture": gesture, "subject": subject, "instance": int(instance)}


def parse_tagstream(path: Path) -> list[tuple[int, int, int]]:
    """The action points of a tagstream: (line, tick, gesture number); a malformed line is an error."""
    lines = read_text(path).splitlines()
    if not lines or lines[0].strip() != TAG_HEADER:
        raise InputFileError(path, f"first line is not {TAG_HEADER!r}", line=1)
    tags = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        match = TAG_PATTERN.match(line.strip())
        if not match:
            raise InputFileError(path, f"expected 'tick;Gn name', found {line.strip()[:60]!r}", line=number)
        tags.append((number, int(match[1]), int(match[2])))
    return tags


def read_recording_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """-> frame timestamps (F,) in microseconds and joints (F, 20, 3) (the w column dropped)."""
    text = read_text(path).replace(",", " ")
    rows = parse_number_rows(path, text, 1 + JOINTS * 4)
    if rows.shape[0] == 0:
        raise InputFileError(path, "no frames")
    bad = first_nan_row(rows)
    if bad is not None:
        raise InputFileError(path, "NaN or infinite value", line=bad + 1)
    return rows[:, 0], rows[:, 1:].reshape(-1, JOINTS, 4)[:, :, :3]


def action_point_frames(timestamps: np.ndarray, ticks: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Each tick's nearest frame (the first on a tie, as MATLAB's min) and its distance in us."""
    times = np.array([tick_to_microseconds(t) for t in ticks], dtype=np.int64)
    distance = np.abs(timestamps.astype(np.int64)[None, :] - times[:, None])
    frames = distance.argmin(axis=1)
    return frames, distance[np.arange(len(times)), frames]


def cut_clip(joints: np.ndarray, frame: int, before: int, after: int) -> np.ndarray:
    """Frames frame-before .. frame+after of (F, V, 3), clipped to the recording, all-zero frames dropped."""
    window = joints[max(0, frame - before) : frame + after + 1]
    return window[np.abs(window).sum(axis=(1, 2)) > 0]


@dataclass
class MSRC12Reader:
    window_before: int = WINDOW_BEFORE
    window_after: int = WINDOW_AFTER
    dataset: str = "msrc12"
    layout: str = "kinect_v1"
    num_persons: int = 1
    num_joints: int = JOINTS
    flaws: list[str] = field(default_factory=list)
    tag_lines: int = 0

    def list_sources(self, raw: Path) -> tuple[list[Recording], list[SkippedFile]]:
        folder = raw / "data" if (raw / "data").is_dir() else raw
        csvs = {p.stem.lower(): p for p in folder.iterdir() if p.suffix.lower() == ".csv"}
        tags = {p.stem.lower(): p for p in folder.iterdir() if p.suffix.lower() == ".tagstream"}
        items, skipped = [], []
        self.flaws, self.tag_lines = [], 0
        for key in sorted(set(csvs) | set(tags)):
            csv, tagstream = csvs.get(key), tags.get(key)
            parsed = parse_recording_name((csv or tagstream).stem)
            if parsed is None:
                skipped.append(SkippedFile(str(csv or tagstream), "name is not P<A>_<B>_<C>[A]_p<D>"))
            elif csv is None:
                skipped.append(SkippedFile(str(tagstream), f"its recording {tagstream.stem}.csv is missing"))
            elif tagstream is None:
                skipped.append(SkippedFile(str(csv), f"its action points {csv.stem}.tagstream are missing"))
            else:
                if csv.stem != tagstream.stem:
                    self.flaws.append(f"{tagstream.name}: named in another case than {csv.name}; read as its pair")
                items.append(Recording(csv.stem, csv, tagstream, *parsed))
        self.tag_lines = sum(len(read_text(p).splitlines()[1:]) for p in tags.values())
        if self.tag_lines != DOCUMENTED_INSTANCES:
            self.flaws.append(f"the tag files hold {self.tag_lines} action points; the data set's description "
                              f"counts {DOCUMENTED_INSTANCES} gesture instances")
        return items, skipped

    def read(self, recording: Recording) -> tuple[list[Sample], list[SkippedFile]]:
        tags = parse_tagstream(recording.tagstream)
        timestamps, joints = read_recording_csv(recording.csv)
        frames, distance = action_point_frames(timestamps, [tick for _, tick, _ in tags])
        origin = load_layout(self.layout).origin
        samples, skipped, used = [], [], set()
        for (line, _, gesture), frame, gap in zip(tags, frames, distance):
            where = f"{recording.tagstream}:{line}"
            if gesture != recording.gesture:
                reason = f"a G{gesture} tag in a recording of gesture {recording.gesture}"
            elif gap > TAG_TOLERANCE_US:
                reason = f"action point {gap / 1e6:.2f} s from the nearest frame of {recording.csv.name}"
            elif int(frame) in used:
                reason = f"a second action point on frame {int(frame) + 1}"
            else:
                clip = cut_clip(joints, int(frame), self.window_before, self.window_after)
                reason = "" if len(clip) else f"no skeleton in the frames around frame {int(frame) + 1}"
            if reason:
                skipped.append(SkippedFile(where, reason))
                continue
            used.add(int(frame))
            name = f"{recording.name}_{len(samples) + 1:02d}"
            samples.append((name, gesture - 1, centre_on_origin(clip[:, None].astype(np.float32), origin)))
        return samples, skipped

    def splits(self, names: list[str]) -> dict[str, dict[str, list[int]]]:
        subject = {n: int(clip_fields(n)["subject"]) for n in names}
        xsub = split_by(names, lambda n: subject[n] % 2 == 1)
        return {"xsub": xsub, "xsub_val": validation_split(names, subject.__getitem__, xsub)}

    def meta(self) -> dict:
        return {"dataset": self.dataset, "layout": self.layout, "num_classes": len(GESTURES),
                "class_names": list(GESTURES), "flaws": list(self.flaws),
                "tag_lines": self.tag_lines, "documented_instances": DOCUMENTED_INSTANCES,
                "preprocessing": {
                    "window": f"{self.window_before} frames before each action point's frame to "
                              f"{self.window_after} after it, all-zero frames dropped",
                    "action_point": "the frame nearest the tag's time (load_tagstream.m, tagstream_to_y.m)",
                    "channels": "x y z (w dropped)",
                    "centre": "spine (joint 2) of the clip's first frame",
                    "names": "P<A>_<B>_<C>[A]_p<D>_<instance>: instruction <A>_<B> (A: two instructions), "
                             "gesture <C>, subject <D>",
                    "splits": "xsub: odd subjects train (the MSR Action3D / UTKinect cross-subject rule); "
                              "xsub_val: xsub's training subjects, every fifth held out as validation"}}
