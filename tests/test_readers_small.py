"""MSR Action3D, UTKinect-Action3D and NW-UCLA readers, on small written files and on the real sets."""
import json
from pathlib import Path

import numpy as np
import pytest

from asma.data.format import SkeletonSet
from asma.data.prepare import prepare
from asma.data.readers.msr_action3d import read_msr_file
from asma.data.readers.utkinect import Segment, cut_segment
from asma.errors import InputFileError

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
shared_data = pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data")


def msr_lines(frames, seed=0):
    rows = np.random.default_rng(seed).uniform(-1, 1, (frames * 20, 4))
    return "".join(f"{x:.6f} {y:.6f} {z:.6f} {c:.6f}\n" for x, y, z, c in rows)


def test_msr_file_is_read_in_frames_of_20_lines(tmp_path):
    path = tmp_path / "a01_s01_e01_skeleton3D.txt"
    path.write_text(msr_lines(3))
    frames = read_msr_file(path, origin=6)
    assert frames.shape == (3, 1, 20, 3) and np.allclose(frames[0, 0, 6], 0)


def test_msr_cut_frame_names_the_line(tmp_path):
    path = tmp_path / "a01_s01_e01_skeleton3D.txt"
    path.write_text(msr_lines(2) + "0 0 0 1\n")
    with pytest.raises(InputFileError) as e:
        read_msr_file(path, origin=6)
    assert e.value.line == 41 and "multiple of 20" in str(e.value)


def test_msr_prepare_uses_the_list_and_splits(tmp_path):
    raw = tmp_path / "raw"
    (raw / "skeletons").mkdir(parents=True)
    for a, s in [(2, 1), (2, 2), (14, 3), (14, 4), (16, 5)]:
        (raw / "skeletons" / f"a{a:02d}_s{s:02d}_e01_skeleton3D.txt").write_text(msr_lines(2, seed=a + s))
    (raw / "skeletons" / "a16_s05_e01_skeleton3D.txt").write_text(msr_lines(2) + "1 2 3 4\n")
    (raw / "skeletons" / "a16_s06_e01_skeleton3D.txt").write_text(msr_lines(2))
    (raw / "files_used_in_cvpr12_paper.txt").write_text(
        "a02_s01_e01\na02_s02_e01\na14_s03_e01\na14_s04_e01\na16_s05_e01")
    meta = prepare("msr_action3d", raw, tmp_path / "out", progress=False)
    s = SkeletonSet.open(tmp_path / "out")
    assert len(s) == 4 and sorted(r["reason"].split(":")[0] for r in meta["skipped"]) == ["line 41", "not in files_used_in_cvpr12_paper.txt"]
    sizes = {k: (len(v["train"]), len(v["test"])) for k, v in s.splits.items()}
    assert sizes == {"xsub": (2, 2), "xsub_val": (1, 1), "as1": (1, 1), "as2": (1, 1), "as3": (1, 1)}


def msr_with_three_corrupt_files(raw):
    """10 files the list leaves out, 3 listed files that are corrupt, 2 good ones."""
    (raw / "skeletons").mkdir(parents=True)
    listed = []
    for s in range(1, 16):
        name = f"a01_s{s:02d}_e01"
        text = msr_lines(2, seed=s)
        if s in (11, 12, 13):
            text = {11: text + "0 0 0 1\n", 12: text.replace("0.", "x.", 1), 13: ""}[s]
        (raw / "skeletons" / f"{name}_skeleton3D.txt").write_text(text)
        if s > 10:
            listed.append(name)
    (raw / "files_used_in_cvpr12_paper.txt").write_text("\n".join(listed))


def test_unreadable_files_are_named_apart_from_expected_skips(tmp_path, capsys, monkeypatch):
    from asma.cli.main import main

    monkeypatch.setenv("COLUMNS", "1000")
    raw = tmp_path / "raw"
    msr_with_three_corrupt_files(raw)
    assert main(["data", "prepare", "msr_action3d", "--raw", str(raw), "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    corrupt = [raw / "skeletons" / f"a01_s{s}_e01_skeleton3D.txt" for s in (11, 12, 13)]
    for path, reason in zip(corrupt, ["line 41: 41 joint lines is not a multiple of 20", "line 1: not a number",
                                      "no frames"]):
        assert f"unreadable {path}: {reason}" in err
    assert err.count("not in files_used_in_cvpr12_paper.txt") == 1
    assert "10 files excluded by the protocol as expected (10 not in files_used_in_cvpr12_paper.txt)" in err
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    kinds = {Path(s["file"]).name: s["kind"] for s in meta["skipped"]}
    assert sorted(n for n, k in kinds.items() if k == "unreadable") == [p.name for p in corrupt]
    assert sum(k == "expected" for k in kinds.values()) == 10 and meta["source"]["unreadable"] == 3


def test_strict_refuses_unreadable_files_and_writes_nothing(tmp_path, capsys, monkeypatch):
    from asma.cli.main import main

    monkeypatch.setenv("COLUMNS", "1000")
    raw = tmp_path / "raw"
    msr_with_three_corrupt_files(raw)
    out = tmp_path / "out"
    assert main(["data", "prepare", "msr_action3d", "--raw", str(raw), "--out", str(out), "--strict"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"error: {raw}: 3 unreadable files") and "--strict: nothing was written" in err[-1]
    assert sum("unreadable" in line for line in err[:-1]) == 3 and not out.exists()
    for s in (11, 12, 13):  # repaired, the same command succeeds
        (raw / "skeletons" / f"a01_s{s}_e01_skeleton3D.txt").write_text(msr_lines(2))
    assert main(["data", "prepare", "msr_action3d", "--raw", str(raw), "--out", str(out), "--strict"]) == 0
    assert len(SkeletonSet.open(out)) == 5


def utk_recording(ids, seed=0):
    values = np.random.default_rng(seed).uniform(-1, 1, (len(ids), 60))
    return "".join(f"{i} " + " ".join(f"{v:.5f}" for v in row) + "\n" for i, row in zip(ids, values))


def test_utkinect_segments_select_frames_by_id():
    ids = np.array([10, 10, 12, 15, 15, 16, 20], dtype=float)
    joints = np.arange(7, dtype=float)[:, None, None] * np.ones((7, 20, 3))
    frames = cut_segment(ids, joints, Segment("walk", 10, 15, 1))
    assert frames[:, 0, 0].tolist() == [0, 2, 3]  # repeated ids once, jumps allowed
    assert "NaN" in cut_segment(ids, joints, Segment("walk", np.nan, np.nan, 1))
    assert "outside" in cut_segment(ids, joints, Segment("walk", 30, 40, 1))
    assert "reversed" in cut_segment(ids, joints, Segment("walk", 15, 10, 1))


def test_utkinect_prepare_reports_bad_segments(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "joints_s01_e01.txt").write_text(utk_recording([5, 6, 6, 8, 9, 12]))
    (raw / "joints_s02_e01.txt").write_text(utk_recording([1, 2, 3, 4], seed=1))
    (raw / "actionLabel.txt").write_text("s01_e01\nwalk: 5 8\nsitDown: 9 12 \ns02_e01\nwalk: 1 2\ncarry:  NaN NaN\n"
                                         "push: 50 60\n")
    meta = prepare("utkinect", raw, tmp_path / "out", progress=False)
    s = SkeletonSet.open(tmp_path / "out")
    assert s.names == ["s01_e01_walk", "s01_e01_sitDown", "s02_e01_walk"]
    assert s.lengths.tolist() == [3, 2, 2] and s.labels.tolist() == [0, 1, 0]
    assert sorted(r["file"].rsplit(":", 1)[1] for r in meta["skipped"]) == ["6", "7"]
    assert s.splits["xsub"] == {"train": [0, 1], "test": [2]}
    assert s.splits["loso_s02_e01"] == {"train": [0, 1], "test": [2]}


def test_nw_ucla_maps_actions_and_views(tmp_path):
    raw = tmp_path / "raw" / "all_sqe"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for a, v in [(1, 1), (12, 2), (11, 3), (7, 1)]:
        name = f"a{a:02d}_s01_e01_v{v:02d}"
        (raw / f"{name}.json").write_text(json.dumps({"file_name": name, "skeletons": rng.uniform(size=(4, 20, 3)).tolist()}))
    (raw / "a02_s01_e01_v01.json").write_text('{"file_name": "x", "skeletons": [[[1, 2]]]}')
    meta = prepare("nw_ucla", raw.parent, tmp_path / "out", progress=False)
    s = SkeletonSet.open(tmp_path / "out")
    assert s.labels.tolist() == [0, 8, 9] and s.num_classes == 10
    assert s.splits["xview"] == {"train": [0, 2], "test": [1]}
    assert sorted(r["file"].rsplit("/", 1)[1] for r in meta["skipped"]) == ["a02_s01_e01_v01.json", "a07_s01_e01_v01.json"]


@pytest.mark.slow  # workers=2: a process pool
@pytest.mark.shared_data
@shared_data
def test_real_msr_action3d(tmp_path):
    meta = prepare("msr_action3d", SHARED / "msr_action3d", tmp_path / "msr", workers=2, progress=False)
    assert meta["preprocessing"]["files_found"] == 567
    assert meta["source"]["samples"] == 557 and len(meta["skipped"]) == 10
    assert {s["kind"] for s in meta["skipped"]} == {"expected"}  # the list's exclusions, nothing damaged
    s = SkeletonSet.open(tmp_path / "msr")
    assert s.num_classes == 20 and s.skeletons.shape[1:] == (1, 20, 3)
    assert len(s.splits["xsub"]["train"]) + len(s.splits["xsub"]["test"]) == 557


@pytest.mark.shared_data
@shared_data
def test_real_utkinect(tmp_path):
    meta = prepare("utkinect", SHARED / "utkinect", tmp_path / "utk", progress=False)
    assert meta["source"]["samples"] + len(meta["skipped"]) == 200
    assert len(meta["skipped"]) == 1 and "NaN" in meta["skipped"][0]["reason"]
    s = SkeletonSet.open(tmp_path / "utk")
    assert len([k for k in s.splits if k.startswith("loso_")]) == 20


@pytest.mark.parametrize("spelling", ["msr-action3d", "MSR_Action3D", "msr action3d"])
def test_data_set_and_layout_names_take_dashes(spelling):
    from asma.data.prepare import DATASETS, dataset_name
    from asma.skeleton.layout import load_layout

    assert dataset_name(spelling) == "msr_action3d"
    assert load_layout(spelling).joints == load_layout("msr_action3d").joints
    for name in DATASETS:
        assert dataset_name(name.replace("_", "-").upper()) == name
        assert dataset_name(name.replace("_", "")) == name
    assert [dataset_name(n) for n in ("ntu-60", "NTU-120", "pku-mmd-1", "PKU_MMD2", "nw-ucla")] == \
        ["ntu60", "ntu120", "pku1", "pku2", "nw_ucla"]
    assert dataset_name("kinetics") == "kinetics"  # unknown: left for the caller's error
