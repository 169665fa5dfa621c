"""MSR Action3D `aAA_sSS_eEE_skeleton3D.txt` -> (T, M=1, V=20, C=3) samples, layout msr_action3d.

Each line is `x y z confidence`; 20 lines make a frame. The 557 files of
`files_used_in_cvpr12_paper.txt` are used when that list is in the folder (the field's protocol);
a file whose line count is not a multiple of 20 is reported and skipped.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asma.data.format import EXPECTED, SkippedFile
from asma.data.readers.base import (Sample, centre_on_origin, first_nan_row, parse_number_rows, read_text, split_by,
                                    validation_split)
from asma.errors import InputFileError
from asma.skeleton.layout import load_layout

NAME_PATTERN = re.compile(r"^a(\d{2})_s(\d{2})_e(\d{2})$")
USED_LIST = "files_used_in_cvpr12_paper.txt"
JOINTS = 20
ACTIONS = ("high arm wave", "horizontal arm wave", "hammer", "hand catch", "forward punch", "high throw",
           "draw X", "draw tick", "draw circle", "hand clap", "two hand wave", "side boxing", "bend",
           "forward kick", "side kick", "jogging", "tennis swing", "tennis serve", "golf swing", "pickup and throw")
# Li et al.'s action subsets, 1-based action numbers
ACTION_SETS = {"as1": {2, 3, 5, 6, 10, 13, 18, 20}, "as2": {1, 4, 7, 8, 9, 11, 12, 14},
               "as3": {6, 14, 15, 16, 17, 18, 19, 20}}


def sample_name(path: Path) -> str:
    return path.name.removesuffix("_skeleton3D.txt")


def read_msr_file(path: Path, origin: int) -> np.ndarray:
    """One file -> (T, 1, 20, 3) float32, centred on the hip centre of the first frame."""
    text = read_text(path)
    rows = parse_number_rows(path, text, 4)
    if rows.shape[0] == 0:
        raise InputFileError(path, "no frames")
    if rows.shape[0] % JOINTS:
        raise InputFileError(path, f"{rows.shape[0]} joint lines is not a multiple of {JOINTS} (a frame is cut)",
                             line=rows.shape[0] - rows.shape[0] % JOINTS + 1)
    bad = first_nan_row(rows[:, :3])
    if bad is not None:
        raise InputFileError(path, "NaN or infinite coordinate", line=bad + 1)
    frames = rows[:, :3].reshape(-1, 1, JOINTS, 3)
    return centre_on_origin(frames.astype(np.float32), origin)


@dataclass
class MSRAction3DReader:
    dataset: str = "msr_action3d"
    layout: str = "msr_action3d"
    num_persons: int = 1
    num_joints: int = JOINTS
    used_list: str | None = None
    files_found: int = 0

    def list_sources(self, raw: Path) -> tuple[list[Path], list[SkippedFile]]:
        folder = raw / "skeletons" if (raw / "skeletons").is_dir() else raw
        files = sorted(folder.glob("a*_s*_e*_skeleton3D.txt"))
        self.files_found = len(files)
        used = next((p for p in (raw / USED_LIST, folder / USED_LIST) if p.exists()), None)
        self.used_list = str(used) if used else None
        wanted = set(read_text(used).split()) if used else None
        items, skipped = [], []
        for path in files:
            if not NAME_PATTERN.match(sample_name(path)):
                skipped.append(SkippedFile(str(path), "name is not aAA_sSS_eEE_skeleton3D.txt"))
            elif wanted is not None and sample_name(path) not in wanted:
                skipped.append(SkippedFile(str(path), f"not in {USED_LIST}", EXPECTED))
            else:
                items.append(path)
        return items, skipped

    def read(self, path: Path) -> tuple[list[Sample], list[SkippedFile]]:
        name = sample_name(path)
        action = int(NAME_PATTERN.match(name)[1])
        return [(name, action - 1, read_msr_file(path, load_layout(self.layout).origin))], []

    def splits(self, names: list[str]) -> dict[str, dict[str, list[int]]]:
        action = {n: int(NAME_PATTERN.match(n)[1]) for n in names}
        odd_subject = {n: int(NAME_PATTERN.match(n)[2]) % 2 == 1 for n in names}
        splits = {"xsub": split_by(names, odd_subject.get)}
        splits["xsub_val"] = validation_split(names, lambda n: int(NAME_PATTERN.match(n)[2]), splits["xsub"])
        for subset, actions in ACTION_SETS.items():
            inside = [i for i, n in enumerate(names) if action[n] in actions]
            splits[subset] = {"train": [i for i in inside if odd_subject[names[i]]],
                              "test": [i for i in inside if not odd_subject[names[i]]]}
        return splits

    def meta(self) -> dict:
        return {"dataset": self.dataset, "layout": self.layout, "num_classes": len(ACTIONS),
                "class_names": list(ACTIONS),
                "preprocessing": {"used_list": self.used_list, "files_found": self.files_found,
                                  "channels": "x y z (confidence dropped)",
                                  "centre": "hip centre (joint 7) of the first frame",
                                  "splits": "xsub: odd subjects train; xsub_val: xsub's training subjects, subject 5 held out as "
                                            "validation; as1-as3: Li et al. subsets, cross-subject"}}
