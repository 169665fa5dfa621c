"""MSRC-12: the tick conversion of the distributed MATLAB code, clips around action points, zero
frames, the distributed copy's flaws reported by name; and the real set when ../shared has it."""
import subprocess
from pathlib import Path

import numpy as np
import pytest

from asma.data.format import SkeletonSet
from asma.data.prepare import prepare
from asma.data.readers.msrc12 import GESTURES, clip_fields, cut_clip, tick_to_microseconds

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FRAME_US = 33_333


@pytest.mark.parametrize("tick, expected", [
    # (tick * 1000 + 49875 / 2) / 49875 written out to 50 digits, then MATLAB's int64 (half away from 0)
    (32328528185, 648191042),  # 648191041.803...
    (32811429369, 657873271),  # 657873271.056...
    (49875, 1001),             # 1000.5 exactly: rounds up
    (0, 1),                    # 0.5
    (24, 1),                   # 0.981...
])
def test_tick_converts_as_load_tagstream_m(tick, expected):
    assert tick_to_microseconds(tick) == expected


def tick_of(microseconds: int) -> int:
    """A tick whose converted time is `microseconds` (the inverse of the MATLAB formula)."""
    return round((microseconds * 49875 - 49875 / 2) / 1000)


def write_recording(folder: Path, name: str, frames: int, points: list[int], *, gesture: int, zero=(),
                    tag_name: str | None = None, seed: int = 0) -> None:
    """`name`.csv with `frames` frames (those in `zero` all zeros) and `name`.tagstream with an
    action point at each frame index in `points` (tags of gesture `gesture`)."""
    rng = np.random.default_rng(seed)
    lines = []
    for f in range(frames):
        joints = np.zeros((20, 4)) if f in zero else np.c_[rng.uniform(-1, 1, (20, 3)), np.ones(20)]
        lines.append(" ".join([str(1_000_000 + f * FRAME_US), *(f"{v:.6f}" for v in joints.ravel())]))
    (folder / f"{name}.csv").write_text("\n".join(lines) + "\n")
    tags = [f"{tick_of(1_000_000 + p * FRAME_US)};G{gesture}  some name" for p in points]
    (folder / f"{tag_name or name}.tagstream").write_text("\r\n".join(["XQPCTick;Tag", *tags]) + "\r\n")


def test_clip_is_the_window_around_the_point_without_zero_frames():
    joints = np.arange(30 * 20 * 3, dtype=float).reshape(30, 20, 3) + 1
    joints[12] = 0
    clip = cut_clip(joints, 15, before=5, after=2)
    assert [int(f[0, 0] - 1) // 60 for f in clip] == [10, 11, 13, 14, 15, 16, 17]
    assert len(cut_clip(joints, 1, before=5, after=2)) == 4  # clipped to the recording's start


def test_prepare_cuts_clips_and_reports_the_flaws_by_name(tmp_path):
    raw = tmp_path / "raw" / "data"
    raw.mkdir(parents=True)
    for subject in (1, 2, 3, 4):
        write_recording(raw, f"P1_1_3_p{subject:02d}", 120, [50, 100], gesture=3, zero=range(0, 25), seed=subject)
    # flaws: a tagstream without its csv, one named in lower case, a tag of another gesture,
    # two tags on one frame, a point in frames without a skeleton, a point after the recording's end
    (raw / "P1_2_5_p04.tagstream").write_text("XQPCTick;Tag\r\n123;G5  Wind it up\r\n")
    write_recording(raw, "P2_1_2A_p05", 120, [40, 40, 70], gesture=2, tag_name="p2_1_2A_p05", seed=5)
    write_recording(raw, "P3_2_12_p06", 120, [60, 110, 400], gesture=12, zero=range(70, 120), seed=6)
    with open(raw / "P3_2_12_p06.tagstream", "a") as f:
        f.write(f"{tick_of(1_000_000 + 30 * FRAME_US)};G7  Bow\r\n")
    meta = prepare("msrc12", raw.parent, tmp_path / "out", progress=False)
    s = SkeletonSet.open(tmp_path / "out")
    assert s.names == ["P1_1_3_p01_01", "P1_1_3_p01_02", "P1_1_3_p02_01", "P1_1_3_p02_02", "P1_1_3_p03_01",
                       "P1_1_3_p03_02", "P1_1_3_p04_01", "P1_1_3_p04_02", "P2_1_2A_p05_01", "P2_1_2A_p05_02",
                       "P3_2_12_p06_01"]
    assert s.class_names == list(GESTURES) and list(s.labels[[0, 8, 10]]) == [2, 1, 11]
    # window 29 before to 10 after; P1's first 25 frames are zeros: 50-29=21 .. 60 keeps 36; P2: 40-29=11 .. 50
    assert s.lengths.tolist()[:2] == [36, 40] and s.lengths[8] == 40
    reasons = {r["file"].split("/")[-1]: r["reason"] for r in meta["skipped"]}
    assert "P1_2_5_p04.csv is missing" in reasons["P1_2_5_p04.tagstream"]
    assert "second action point on frame 41" in reasons["p2_1_2A_p05.tagstream:3"]
    assert "no skeleton" in reasons["P3_2_12_p06.tagstream:3"]
    assert "from the nearest frame" in reasons["P3_2_12_p06.tagstream:4"]
    assert "a G7 tag in a recording of gesture 12" in reasons["P3_2_12_p06.tagstream:5"]
    assert any("p2_1_2A_p05.tagstream: named in another case" in f for f in meta["flaws"])
    assert any("hold 16 action points" in f and "6244" in f for f in meta["flaws"])
    assert clip_fields("P2_1_2A_p05_02") == {"recording": "P2_1_2A_p05", "instruction": "2_1", "two_instructions": True,
                                             "gesture": 2, "subject": 5, "instance": 2}
    subjects = lambda part: sorted({clip_fields(s.names[i])["subject"] for i in part})  # noqa: E731
    assert subjects(s.splits["xsub"]["train"]) == [1, 3, 5] and subjects(s.splits["xsub"]["test"]) == [2, 4, 6]
    assert subjects(s.splits["xsub_val"]["train"]) == [1, 3] and subjects(s.splits["xsub_val"]["test"]) == [5]


@pytest.mark.slow  # tar, as a subprocess
@pytest.mark.shared_data
@pytest.mark.skipif(not (SHARED / "msrc12").is_dir(), reason="needs ../shared/data/msrc12")
def test_real_msrc12_recordings_and_flaws(tmp_path):
    """Subjects 1 and 2 and the two flawed recordings of the distributed archive (unpacking it
    whole costs a minute); 413 + 10 clips, as the whole set prepared gives for them."""
    members = ["*/data/*_p0[12].*", "*/data/p2_1_2A_p12.*", "*/data/P2_1_2A_p12.*", "*/data/P1_2_5_p04.*"]
    subprocess.run(["tar", "-xJf", str(SHARED / "msrc12" / "MicrosoftGestureDataset-RC.tar.xz"), "-C", str(tmp_path),
                    "--wildcards", *members], check=True)
    meta = prepare("msrc12", tmp_path / "MicrosoftGestureDataset-RC", tmp_path / "out", progress=False)
    s = SkeletonSet.open(tmp_path / "out")
    subjects = [clip_fields(n)["subject"] for n in s.names]
    assert (subjects.count(1), subjects.count(2), subjects.count(12)) == (204, 209, 10)
    assert any("P1_2_5_p04.csv is missing" in r["reason"] for r in meta["skipped"])
    assert any("p2_1_2A_p12.tagstream: named in another case" in f for f in meta["flaws"])
