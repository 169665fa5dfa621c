"""Northwestern-UCLA `all_sqe/aAA_sSS_eEE_vVV.json` -> (T, M=1, V=20, C=3), layout kinect_v1.

Each JSON holds `{"file_name": ..., "skeletons": [T][20][3]}`. The ten actions 1-6, 8, 9, 11, 12
become classes 0-9; split `xview`: views 1 and 2 train, view 3 tests (the usual protocol).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asma.data.format import EXPECTED, SkippedFile
from asma.data.readers.base import Sample, centre_on_origin, first_nan_row, read_text, split_by
from asma.errors import InputFileError
from asma.skeleton.layout import load_layout

NAME_PATTERN = re.compile(r"^a(\d{2})_s(\d{2})_e(\d{2})_v(\d{2})$")
ACTIONS = {1: "pick up with one hand", 2: "pick up with two hands", 3: "drop trash", 4: "walk around",
           5: "sit down", 6: "stand up", 8: "donning", 9: "doffing", 11: "throw", 12: "carry"}
CLASS_OF_ACTION = {a: i for i, a in enumerate(ACTIONS)}
JOINTS = 20


def read_nw_ucla_file(path: Path, origin: int) -> np.ndarray:
    """One JSON file -> (T, 1, 20, 3) float32, centred on the spine of the first frame."""
    try:
        doc = json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise InputFileError(path, f"not valid JSON: {e.msg}", line=e.lineno) from None
    if not isinstance(doc, dict) or "skeletons" not in doc:
        raise InputFileError(path, 'no "skeletons" key', fix='expected {"file_name": ..., "skeletons": [T][20][3]}')
    try:
        joints = np.asarray(doc["skeletons"], dtype=np.float64)
    except (TypeError, ValueError):
        raise InputFileError(path, '"skeletons" is not a [T][20][3] array of numbers') from None
    if joints.ndim != 3 or joints.shape[1:] != (JOINTS, 3) or joints.shape[0] == 0:
        raise InputFileError(path, f'"skeletons" has shape {joints.shape}, expected (T, {JOINTS}, 3) with T >= 1')
    bad = first_nan_row(joints)
    if bad is not None:
        raise InputFileError(path, f"NaN or infinite coordinate in frame {bad + 1}")
    return centre_on_origin(joints[:, None].astype(np.float32), origin)


@dataclass
class NWUCLAReader:
    dataset: str = "nw_ucla"
    layout: str = "kinect_v1"
    num_persons: int = 1
    num_joints: int = JOINTS

    def list_sources(self, raw: Path) -> tuple[list[Path], list[SkippedFile]]:
        folder = raw / "all_sqe" if (raw / "all_sqe").is_dir() else raw
        items, skipped = [], []
        for path in sorted(folder.glob("*.json")):
            match = NAME_PATTERN.match(path.stem)
            if not match:
                skipped.append(SkippedFile(str(path), "name is not aAA_sSS_eEE_vVV.json"))
            elif int(match[1]) not in CLASS_OF_ACTION:
                skipped.append(SkippedFile(str(path), f"action {int(match[1])} is not one of the ten used", EXPECTED))
            else:
                items.append(path)
        return items, skipped

    def read(self, path: Path) -> tuple[list[Sample], list[SkippedFile]]:
        label = CLASS_OF_ACTION[int(NAME_PATTERN.match(path.stem)[1])]
        return [(path.stem, label, read_nw_ucla_file(path, load_layout(self.layout).origin))], []

    def splits(self, names: list[str]) -> dict[str, dict[str, list[int]]]:
        return {"xview": split_by(names, lambda n: int(NAME_PATTERN.match(n)[4]) in (1, 2))}

    def meta(self) -> dict:
        return {"dataset": self.dataset, "layout": self.layout, "num_classes": len(ACTIONS),
                "class_names": list(ACTIONS.values()),
                "preprocessing": {"actions_to_classes": {str(a): c for a, c in CLASS_OF_ACTION.items()},
                                  "centre": "spine (joint 2) of the first frame",
                                  "splits": "xview: views 1, 2 train, view 3 test"}}
