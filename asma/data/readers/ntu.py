"""NTU RGB+D 60 / 120 `.skeleton` files -> (T, M=2, V=25, C=3) samples, denoised as SGN / CTR-GCN.

File format (text, whitespace separated): frame count; per frame a body count; per body a line of
10 body-info values (the first is the tracking id), the joint count (25), then 25 lines of 12 values
of which x y z (metres, camera space) come first. Class names are the official action names
(asma/data/readers/action_names.py), label 0 "drink water".

Denoising follows SGN's `get_raw_denoised_data.py` (also used by CTR-GCN): drop bodies tracked for
few frames, drop bodies whose x extent is large against their y extent in most frames (furniture and
ghosts are wide, people are tall), order the rest by motion and fill two actors with bodies whose
time intervals do not overlap; then drop frames where no actor is present and centre on the middle
of the spine of actor 1's first frame (CTR-GCN's `seq_transformation.py`).
"""
from __future__ import annotations

import operator
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from asma.data.format import EXPECTED, SkippedFile
from asma.data.readers.action_names import NTU120_ACTIONS
from asma.data.readers.base import (Sample, centre_on_origin, line_of_token, read_text, split_by,
                                    with_validation_splits)
from asma.errors import InputFileError
from asma.skeleton.layout import load_layout

NAME_PATTERN = re.compile(r"^S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})$")
NTU60_XSUB_TRAIN = {1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38}
NTU120_XSUB_TRAIN = NTU60_XSUB_TRAIN | {45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81,
                                        82, 83, 84, 85, 86, 89, 91, 92, 93, 94, 95, 97, 98, 100, 103}
NTU60_XVIEW_TRAIN_CAMERAS = {2, 3}
NTU60_LAST_SETUP, NTU60_CLASSES, NTU120_CLASSES = 17, 60, 120
JOINTS, VALUES_PER_JOINT, BODY_INFO = 25, 12, 10
MAX_BODIES = 6  # Kinect v2 tracks at most six bodies
SHARED_MISSING_LISTS = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "ntu"


@dataclass(frozen=True)
class DenoiseOptions:
    """SGN's thresholds (noise_len_thres, noise_spr_thres1, noise_spr_thres2)."""

    max_short_body_frames: int = 11     # a body tracked for <= this many frames is noise
    spread_ratio: float = 0.8           # a frame is noisy for a body when x extent > ratio * y extent
    max_noisy_frame_share: float = 0.69754  # a body noisy in >= this share of its frames is dropped


@dataclass
class RawBodies:
    """Every body record of one file: `joints` (B, 25, 3), with the frame and tracking id of each."""

    frame_count: int
    frame_of_record: np.ndarray  # (B,) int
    body_ids: np.ndarray         # (B,) str: ids exceed float64 precision, so kept as text
    joints: np.ndarray           # (B, 25, 3) float32


def parse_skeleton_file(path: Path) -> RawBodies:
    """Read a `.skeleton` file; a truncated file, a bad count or a NaN raises naming the line."""
    text = read_text(path)
    tokens = text.split()
    if not tokens:
        raise InputFileError(path, "empty file", line=1)

    def integer(pos: int, what: str) -> int:
        if pos >= len(tokens):
            raise InputFileError(path, f"file ends where the {what} was expected (truncated?)",
                                 line=len(text.splitlines()))
        try:
            return int(tokens[pos])
        except ValueError:
            raise InputFileError(path, f"{what} {tokens[pos]!r} is not an integer", line=line_of_token(text, pos)) from None

    frame_count = integer(0, "frame count")
    body_size = BODY_INFO + 1 + JOINTS * VALUES_PER_JOINT
    starts, frames = [], []
    pos = 1
    for frame in range(frame_count):  # walks headers only: one step per body, never per joint
        bodies = integer(pos, f"body count of frame {frame + 1}")
        if not 0 <= bodies <= MAX_BODIES:
            raise InputFileError(path, f"frame {frame + 1} has body count {bodies}, expected 0..{MAX_BODIES}",
                                 line=line_of_token(text, pos))
        pos += 1
        for _ in range(bodies):
            joints = integer(pos + BODY_INFO, f"joint count of frame {frame + 1}")
            if joints != JOINTS:
                raise InputFileError(path, f"frame {frame + 1} has a body with {joints} joints, expected {JOINTS}",
                                     line=line_of_token(text, pos + BODY_INFO))
            if pos + body_size > len(tokens):
                raise InputFileError(path, f"file ends inside frame {frame + 1} of {frame_count} (truncated)",
                                     line=len(text.splitlines()))
            starts.append(pos)
            frames.append(frame)
            pos += body_size
    if pos != len(tokens):
        raise InputFileError(path, f"{len(tokens) - pos} values after the {frame_count} frames the header declares",
                             line=line_of_token(text, pos))
    starts = np.asarray(starts, dtype=np.int64)
    # token index of x, y, z of every joint of every body record: (B, 25, 3); only these are converted
    xyz_index = (starts[:, None, None] + BODY_INFO + 1 + np.arange(JOINTS)[None, :, None] * VALUES_PER_JOINT
                 + np.arange(3)).ravel().tolist()
    selected = operator.itemgetter(*xyz_index)(tokens) if len(xyz_index) > 1 else tuple(tokens[i] for i in xyz_index)
    try:
        xyz = np.array(selected, dtype=np.float64).reshape(-1, JOINTS, 3)
    except ValueError:
        bad = next(i for i in xyz_index if not _is_number(tokens[i]))
        raise InputFileError(path, f"joint value {tokens[bad]!r} is not a number", line=line_of_token(text, bad)) from None
    finite = np.isfinite(xyz).reshape(-1)
    if not finite.all():
        raise InputFileError(path, "NaN or infinite joint coordinate",
                             line=line_of_token(text, xyz_index[int(np.argmin(finite))]))
    body_ids = np.array([tokens[i] for i in starts.tolist()], dtype=str)
    return RawBodies(frame_count, np.asarray(frames, dtype=np.int64), body_ids, xyz.astype(np.float32))


def _is_number(token: str) -> bool:
    try:
        float(token)
        return True
    except ValueError:
        return False


def body_motion(joints: np.ndarray) -> float:
    """Motion energy of one body's (T, V, 3) joints: joint variance over time, summed."""
    return float(joints.var(axis=0).sum())


def noisy_spread_frames(joints: np.ndarray, ratio: float) -> np.ndarray:
    """(T, V, 3) -> (T,) True where the body is wider (x) than `ratio` times its height (y)."""
    extent = joints.max(axis=1) - joints.min(axis=1)
    return extent[:, 0] > ratio * extent[:, 1]


def choose_actors(raw: RawBodies, options: DenoiseOptions) -> np.ndarray:
    """Denoise and fill two actors: (T, 2, 25, 3) over the file's frames, zeros where absent."""
    ids, body_of_record = np.unique(raw.body_ids, return_inverse=True)
    records = [np.flatnonzero(body_of_record == k) for k in range(ids.size)]
    if len(records) > 1:
        long_enough = [r for r in records if r.size > options.max_short_body_frames]
        records = long_enough or [max(records, key=len)]  # all short: keep the longest, not nothing
    motions = [body_motion(raw.joints[r]) for r in records]
    if len(records) > 1:
        kept, kept_motion = [], []
        for r, motion in zip(records, motions):
            noisy = noisy_spread_frames(raw.joints[r], options.spread_ratio)
            if noisy.mean() >= options.max_noisy_frame_share:
                continue
            if noisy.any():  # SGN: motion over the plausible frames, if lower
                motion = min(motion, body_motion(raw.joints[r][~noisy]))
            kept.append(r)
            kept_motion.append(motion)
        if kept:
            records, motions = kept, kept_motion
    actors = np.zeros((raw.frame_count, 2, JOINTS, 3), dtype=np.float32)
    spans = [None, None]  # (first, last) frame each actor covers so far
    for k in np.argsort(motions, kind="stable")[::-1]:
        frames = raw.frame_of_record[records[k]]
        start, end = int(frames.min()), int(frames.max())
        for actor in (0, 1):
            span = spans[actor]
            if span is None or min(span[1], end) - max(span[0], start) <= 0:  # no overlap in time
                actors[frames, actor] = raw.joints[records[k]]
                spans[actor] = (start, end) if span is None else (min(start, span[0]), max(end, span[1]))
                break
    return actors


def denoised_sample(path: Path, options: DenoiseOptions, origin: int) -> np.ndarray:
    """One file -> (T, 2, 25, 3): actors chosen, empty frames dropped, centred on the spine."""
    raw = parse_skeleton_file(path)
    if raw.joints.shape[0] == 0:
        raise InputFileError(path, f"no body in any of its {raw.frame_count} frames")
    actors = choose_actors(raw, options)
    actors = actors[actors.any(axis=(1, 2, 3))]
    if actors.shape[0] == 0:
        raise InputFileError(path, "every body is all zeros")
    return centre_on_origin(actors, origin)


def default_missing_list(dataset: str, raw: Path) -> Path | None:
    """The official missing-skeleton list, looked up (never copied) beside the raw data or in shared/."""
    name = f"{dataset}_samples_with_missing_skeletons.txt"
    return next((p for p in (raw / name, SHARED_MISSING_LISTS / name) if p.exists()), None)


@dataclass
class NTUReader:
    dataset: str = "ntu60"  # or ntu120
    missing_list: Path | None = None
    denoise: DenoiseOptions = field(default_factory=DenoiseOptions)
    layout: str = "ntu25"
    num_persons: int = 2
    num_joints: int = JOINTS
    ignored: int = 0  # files of the other NTU release in the folder (NTU120 actions in an NTU60 run)

    @property
    def num_classes(self) -> int:
        return NTU60_CLASSES if self.dataset == "ntu60" else NTU120_CLASSES

    def belongs(self, setup: int, action: int) -> bool:
        return self.dataset == "ntu120" or (setup <= NTU60_LAST_SETUP and action <= NTU60_CLASSES)

    def list_sources(self, raw: Path) -> tuple[list[Path], list[SkippedFile]]:
        missing_list = self.missing_list or default_missing_list(self.dataset, raw)
        self.missing_list = missing_list
        missing = set(read_text(missing_list).split()) if missing_list else set()
        items, skipped = [], []
        for path in sorted(raw.rglob("*.skeleton")):
            match = NAME_PATTERN.match(path.stem)
            if not match:
                skipped.append(SkippedFile(str(path), "name is not SsssCcccPpppRrrrAaaa"))
            elif not self.belongs(int(match[1]), int(match[5])):
                self.ignored += 1
            elif path.stem in missing:
                skipped.append(SkippedFile(str(path), f"in the official missing-skeleton list {missing_list.name}",
                                            EXPECTED))
            else:
                items.append(path)
        return items, skipped

    def read(self, path: Path) -> tuple[list[Sample], list[SkippedFile]]:
        frames = denoised_sample(path, self.denoise, load_layout(self.layout).origin)
        return [(path.stem, int(NAME_PATTERN.match(path.stem)[5]) - 1, frames)], []

    def splits(self, names: list[str]) -> dict[str, dict[str, list[int]]]:
        keys = [tuple(int(g) for g in NAME_PATTERN.match(n).groups()) for n in names]
        fields = dict(zip(names, keys))
        if self.dataset == "ntu60":
            splits = {"xsub": split_by(names, lambda n: fields[n][2] in NTU60_XSUB_TRAIN),
                      "xview": split_by(names, lambda n: fields[n][1] in NTU60_XVIEW_TRAIN_CAMERAS)}
        else:
            splits = {"xsub": split_by(names, lambda n: fields[n][2] in NTU120_XSUB_TRAIN),
                      "xset": split_by(names, lambda n: fields[n][0] % 2 == 0)}
        return with_validation_splits(splits, names, lambda n: fields[n][2])  # by performer

    def meta(self) -> dict:
        return {"dataset": self.dataset, "layout": self.layout, "num_classes": self.num_classes,
                "class_names": list(NTU120_ACTIONS[: self.num_classes]),
                "preprocessing": {"denoise": asdict(self.denoise),
                                  "missing_list": str(self.missing_list) if self.missing_list else None,
                                  "motion": "sum over joints and axes of the variance over time",
                                  "frames": "frames without any actor dropped",
                                  "centre": "middle of spine (joint 2) of actor 1's first frame",
                                  "ignored_other_release_files": self.ignored}}


def write_skeleton_file(path: Path, joints: np.ndarray, present: np.ndarray, body_ids: list[str]) -> None:
    """Write a `.skeleton` file (for tests and benchmarks): joints (T, B, 25, 3), present (T, B) bool.

    The 9 values after x y z of each joint line are plausible constants (depth/colour pixels,
    orientation, tracking state), as the reader ignores them.
    """
    tail = " 250.1 200.2 960.3 540.4 0.9 0.1 0.1 0.1 2"
    lines = [str(joints.shape[0])]
    for t in range(joints.shape[0]):
        bodies = np.flatnonzero(present[t])
        lines.append(str(bodies.size))
        for b in bodies:
            lines.append(f"{body_ids[b]} 0 1 1 1 1 0 0.1 0.2 2")
            lines.append(str(JOINTS))
            lines.extend(f"{x:.6f} {y:.6f} {z:.6f}{tail}" for x, y, z in joints[t, b])
    path.write_text("\n".join(lines) + "\n")
