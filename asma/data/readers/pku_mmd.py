"""PKU-MMD phase I (`pku1`, 51 classes) and phase II (`pku2`, 41 classes) -> (T, M=2, V=25, C=3).

Class names: phase I's official action names (asma/data/readers/action_names.py), phase II's A01...

Raw folder: a skeleton folder (name containing "skeleton", e.g. `PKU_Skeleton_Renew/`) with one
`VIDEO.txt` per video, one line a frame of 150 values (2 bodies x 25 joints x xyz; zeros when the
second body is absent), and a label folder (name containing "label") with `VIDEO.txt` files of
`label,start,end,confidence` lines (labels from 1). Each labelled interval [start, end) becomes a
sample `VIDEO_kkk`; an interval outside the video or a label out of range is reported and skipped.

Splits come from the official lists (`--splits DIR`, or the raw folder): a `*subject*.txt` file gives
`xsub`, a `*view*.txt` file gives `xview`. Expected format: a header line containing "train" then
video ids separated by commas or spaces, and a header containing "val" or "test" then the test ids
(ids may also follow the header on its line). Without a view file, `xview` uses the camera letter of
the id (`0002-L`): views M and R train, L tests, the published phase I protocol.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from asma.data.format import SkippedFile
from asma.data.readers.action_names import PKU_MMD1_ACTIONS, numbered_names
from asma.data.readers.base import Sample, centre_on_origin, first_nan_row, parse_number_rows, read_text
from asma.errors import InputFileError
from asma.skeleton.layout import load_layout

NUM_CLASSES = {1: 51, 2: 41}
VALUES_PER_FRAME = 2 * 25 * 3
XVIEW_TRAIN_VIEWS = {"M", "R"}


@dataclass(frozen=True)
class Video:
    name: str
    skeleton_file: Path
    label_file: Path


def find_subfolder(raw: Path, word: str) -> Path:
    matches = sorted(p for p in raw.iterdir() if p.is_dir() and word in p.name.lower())
    if not matches:
        raise InputFileError(raw, f"no sub-folder whose name contains {word!r}",
                             fix="--raw must hold the skeleton folder and the label folder")
    return matches[0]


def parse_labels(path: Path, num_classes: int) -> list[tuple[int, int, int, int]]:
    """`label,start,end,confidence` lines -> [(label from 1, start, end, line)]."""
    segments = []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        values = [v for v in re.split(r"[,\s]+", line.strip()) if v]
        if len(values) < 3:
            raise InputFileError(path, f"expected label,start,end,confidence, found {line.strip()[:60]!r}", line=number)
        try:
            label, start, end = (int(float(v)) for v in values[:3])
        except ValueError:
            raise InputFileError(path, f"label/start/end are not numbers: {line.strip()[:60]!r}", line=number) from None
        segments.append((label, start, end, number))
    return segments


def parse_split_file(path: Path, videos: set[str]) -> dict[str, list[str]]:
    """An official split list -> {"train": [video ids], "test": [...]}; see the module docstring."""
    parts: dict[str, list[str]] = {"train": [], "test": []}
    current = None
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        lowered = line.lower()
        if "train" in lowered:
            current = "train"
        elif "val" in lowered or "test" in lowered:
            current = "test"
        ids = [t for t in re.split(r"[,\s:]+", line.strip()) if t in videos]
        if ids and current is None:
            raise InputFileError(path, "video ids before any 'train' or 'test' header", line=number)
        if ids:
            parts[current].extend(ids)
    return parts


@dataclass
class PKUMMDReader:
    phase: int = 1
    splits_dir: Path | None = None
    layout: str = "ntu25"
    num_persons: int = 2
    num_joints: int = 25
    split_files: dict[str, str] = field(default_factory=dict)
    _split_lists: dict[str, dict[str, list[str]]] = field(default_factory=dict, repr=False)

    @property
    def dataset(self) -> str:
        return f"pku{self.phase}"

    def list_sources(self, raw: Path) -> tuple[list[Video], list[SkippedFile]]:
        skeletons, labels = find_subfolder(raw, "skeleton"), find_subfolder(raw, "label")
        items, skipped = [], []
        for path in sorted(skeletons.glob("*.txt")):
            label_file = labels / path.name
            if label_file.exists():
                items.append(Video(path.stem, path, label_file))
            else:
                skipped.append(SkippedFile(str(path), f"no label file {label_file.name} in {labels}"))
        videos = {v.name for v in items}
        for path in sorted((self.splits_dir or raw).glob("*.txt")):
            split = "xsub" if "subject" in path.stem.lower() else "xview" if "view" in path.stem.lower() else None
            if split:
                self._split_lists[split] = parse_split_file(path, videos)
                self.split_files[split] = str(path)
        return items, skipped

    def read(self, video: Video) -> tuple[list[Sample], list[SkippedFile]]:
        rows = parse_number_rows(video.skeleton_file, read_text(video.skeleton_file), VALUES_PER_FRAME)
        bad = first_nan_row(rows)
        if bad is not None:
            raise InputFileError(video.skeleton_file, "NaN or infinite value", line=bad + 1)
        frames = rows.reshape(-1, 2, 25, 3).astype(np.float32)
        origin = load_layout(self.layout).origin
        samples, skipped = [], []
        for k, (label, start, end, line) in enumerate(parse_labels(video.label_file, NUM_CLASSES[self.phase])):
            where = f"{video.label_file}:{line}"
            if not 1 <= label <= NUM_CLASSES[self.phase]:
                skipped.append(SkippedFile(where, f"label {label} outside 1..{NUM_CLASSES[self.phase]}"))
            elif not 0 <= start < end <= frames.shape[0]:
                skipped.append(SkippedFile(where, f"interval {start}-{end} outside the video's {frames.shape[0]} frames"))
            elif not frames[start:end].any():
                skipped.append(SkippedFile(where, f"interval {start}-{end} has no skeleton"))
            else:
                samples.append((f"{video.name}_{k:03d}", label - 1, centre_on_origin(frames[start:end], origin)))
        return samples, skipped

    def splits(self, names: list[str]) -> dict[str, dict[str, list[int]]]:
        video_of = [n.rsplit("_", 1)[0] for n in names]
        splits = {}
        for split, lists in self._split_lists.items():
            train, test = set(lists["train"]), set(lists["test"])
            splits[split] = {"train": [i for i, v in enumerate(video_of) if v in train],
                             "test": [i for i, v in enumerate(video_of) if v in test]}
        if "xview" not in splits and all(v[-2:-1] == "-" for v in video_of):
            splits["xview"] = {"train": [i for i, v in enumerate(video_of) if v[-1] in XVIEW_TRAIN_VIEWS],
                               "test": [i for i, v in enumerate(video_of) if v[-1] not in XVIEW_TRAIN_VIEWS]}
        return splits

    def meta(self) -> dict:
        n = NUM_CLASSES[self.phase]
        return {"dataset": self.dataset, "layout": self.layout, "num_classes": n,
                "class_names": list(PKU_MMD1_ACTIONS) if self.phase == 1 else numbered_names(n, 2),
                "preprocessing": {"interval": "frames [start, end) of the label file",
                                  "centre": "middle of spine (joint 2) of body 1's first frame",
                                  "split_files": self.split_files or None,
                                  "xview_default": "camera letter of the video id: M, R train; L test"}}
