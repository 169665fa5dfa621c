"""NTU `.skeleton` reader: parsing, errors naming file and line, SGN denoising, splits, prepare."""
import json
import re
from pathlib import Path

import numpy as np
import pytest

from asma.data.format import SkeletonSet
from asma.data.prepare import prepare
from asma.data.readers.ntu import (DenoiseOptions, NTUReader, RawBodies, choose_actors, denoised_sample,
                                   parse_skeleton_file, write_skeleton_file)
from asma.data.synthetic import rest_pose
from asma.errors import InputFileError
from asma.skeleton.layout import load_layout

REST = rest_pose(load_layout("ntu25")).astype(np.float32)


def body(frames: int, shift=(0.0, 0.0, 3.0), motion: float = 0.05, seed: int = 0) -> np.ndarray:
    """(T, 25, 3) a standing body that sways by `motion` metres."""
    t = np.arange(frames)[:, None, None]
    sway = motion * np.sin(0.3 * t + np.random.default_rng(seed).uniform(0, 6, (1, 25, 3)))
    return (REST + np.asarray(shift) + sway).astype(np.float32)


def write(path, bodies, present=None, ids=None):
    joints = np.stack(bodies, axis=1)
    present = np.ones(joints.shape[:2], bool) if present is None else present
    write_skeleton_file(path, joints, present, ids or [f"7205759403793{i:04d}" for i in range(len(bodies))])
    return path


def test_parse_returns_every_body_record(tmp_path):
    present = np.array([[1, 0], [1, 1], [0, 1]], bool)
    path = write(tmp_path / "S001C001P001R001A001.skeleton", [body(3), body(3, shift=(1, 0, 3))], present)
    raw = parse_skeleton_file(path)
    assert raw.frame_count == 3
    assert raw.frame_of_record.tolist() == [0, 1, 1, 2]
    assert raw.body_ids.tolist() == ["72057594037930000", "72057594037930000", "72057594037930001", "72057594037930001"]
    assert np.allclose(raw.joints[2], body(3, shift=(1, 0, 3))[1], atol=1e-5)


def test_body_ids_beyond_float_precision_stay_distinct(tmp_path):
    path = write(tmp_path / "a.skeleton", [body(2), body(2, shift=(1, 0, 3))], ids=["72057594037931101", "72057594037931102"])
    assert len(set(parse_skeleton_file(path).body_ids)) == 2


@pytest.mark.parametrize("damage, problem, line", [
    (lambda lines: lines[:40], "truncated", None),
    (lambda lines: lines[:1] + ["9"] + lines[2:], "body count 9", 2),
    (lambda lines: lines[:3] + ["24"] + lines[4:], "24 joints", 4),
    (lambda lines: lines[:5] + ["NaN 0.1 3.0 250 200 960 540 0.9 0.1 0.1 0.1 2"] + lines[6:], "NaN", 6),
    (lambda lines: lines + ["1.0 2.0"], "after the", None),
])
def test_bad_files_raise_naming_file_and_line(tmp_path, damage, problem, line):
    path = write(tmp_path / "bad.skeleton", [body(2)])
    path.write_text("\n".join(damage(path.read_text().splitlines())) + "\n")
    with pytest.raises(InputFileError) as e:
        parse_skeleton_file(path)
    assert problem in str(e.value) and "bad.skeleton" in str(e.value)
    assert e.value.line is not None
    if line is not None:
        assert e.value.line == line


def raw_of(bodies_with_frames, frame_count):
    """RawBodies from [(id, frames (list), joints (len(frames), 25, 3))]."""
    ids, frames, joints = [], [], []
    for body_id, fs, js in bodies_with_frames:
        ids += [body_id] * len(fs)
        frames += list(fs)
        joints.append(js)
    return RawBodies(frame_count, np.array(frames), np.array(ids), np.concatenate(joints))


def test_denoising_drops_short_and_wide_bodies_and_keeps_the_two_most_moving():
    wide = body(40)[:, :, [1, 0, 2]]  # lying on its side: wider than tall, like furniture
    raw = raw_of([("still", range(40), body(40, motion=0.01, seed=1)),
                  ("short", range(5), body(5, motion=0.5, seed=2)),
                  ("wide", range(40), wide * [3, 1, 1]),
                  ("mover", range(40), body(40, shift=(1, 0, 3), motion=0.2, seed=3)),
                  ("middle", range(40), body(40, shift=(-1, 0, 3), motion=0.05, seed=4))], 40)
    actors = choose_actors(raw, DenoiseOptions())
    assert np.allclose(actors[:, 0], body(40, shift=(1, 0, 3), motion=0.2, seed=3))   # most motion first
    assert np.allclose(actors[:, 1], body(40, shift=(-1, 0, 3), motion=0.05, seed=4))


def test_bodies_that_do_not_overlap_in_time_share_an_actor():
    raw = raw_of([("first", range(0, 20), body(20, motion=0.2)), ("later", range(20, 40), body(20, motion=0.1))], 40)
    actors = choose_actors(raw, DenoiseOptions())
    assert actors[:, 0].any(axis=(1, 2)).all() and not actors[:, 1].any()


def test_thresholds_are_options():
    raw = raw_of([("a", range(15), body(15, motion=0.2)), ("b", range(15), body(15, shift=(1, 0, 3), seed=5))], 15)
    assert choose_actors(raw, DenoiseOptions())[:, 1].any()
    # both bodies are "short" now; all would go, so only the longest is kept
    assert not choose_actors(raw, DenoiseOptions(max_short_body_frames=20))[:, 1].any()


def test_empty_frames_are_dropped_and_the_spine_is_the_origin(tmp_path):
    present = np.array([[0], [1], [1], [0], [1]], bool)
    path = write(tmp_path / "S001C001P001R001A001.skeleton", [body(5)], present)
    frames = denoised_sample(path, DenoiseOptions(), origin=1)
    assert frames.shape == (3, 2, 25, 3)
    assert np.allclose(frames[0, 0, 1], 0)
    assert not frames[:, 1].any()  # the absent second actor stays zero, not minus the origin


def synthetic_names(setups, cameras, subjects, actions):
    return [f"S{s:03d}C{c:03d}P{p:03d}R001A{a:03d}" for s in setups for c in cameras for p in subjects for a in actions]


# The official training IDs, transcribed from the data sets' papers (Shahroudy et al. 2016, Liu et
# al. 2019) as ../shared/data/README.md lists them; the rest of each range is the test part.
OFFICIAL_NTU60_XSUB_TRAIN = [1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38]
OFFICIAL_NTU120_XSUB_TRAIN = OFFICIAL_NTU60_XSUB_TRAIN + [
    45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86, 89, 91, 92,
    93, 94, 95, 97, 98, 100, 103]
OFFICIAL_NTU60_XVIEW_TRAIN_CAMERAS = [2, 3]
SHARED_README = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "README.md"


def ids_of(names: list[str], indices: list[int], field: str) -> list[int]:
    """The distinct setup (S), camera (C) or performer (P) numbers of the named samples."""
    return sorted({int(re.search(rf"{field}(\d{{3}})", names[i]).group(1)) for i in indices})


def test_ntu60_splits_are_the_official_id_lists():
    names = synthetic_names(range(1, 18), [1, 2, 3], range(1, 41), [1])
    splits = NTUReader("ntu60").splits(names)
    assert ids_of(names, splits["xsub"]["train"], "P") == OFFICIAL_NTU60_XSUB_TRAIN
    assert ids_of(names, splits["xsub"]["test"], "P") == sorted(set(range(1, 41)) - set(OFFICIAL_NTU60_XSUB_TRAIN))
    assert ids_of(names, splits["xview"]["train"], "C") == OFFICIAL_NTU60_XVIEW_TRAIN_CAMERAS
    assert ids_of(names, splits["xview"]["test"], "C") == [1]
    assert sorted(splits["xsub"]["train"] + splits["xsub"]["test"]) == list(range(len(names)))


def test_ntu120_splits_are_the_official_id_lists():
    names = synthetic_names(range(1, 33), [1], range(1, 107), [1])
    splits = NTUReader("ntu120").splits(names)
    assert len(OFFICIAL_NTU120_XSUB_TRAIN) == 53
    assert ids_of(names, splits["xsub"]["train"], "P") == OFFICIAL_NTU120_XSUB_TRAIN
    assert ids_of(names, splits["xsub"]["test"], "P") == sorted(set(range(1, 107)) - set(OFFICIAL_NTU120_XSUB_TRAIN))
    assert ids_of(names, splits["xset"]["train"], "S") == list(range(2, 33, 2))
    assert ids_of(names, splits["xset"]["test"], "S") == list(range(1, 33, 2))


@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED_README.exists(), reason="needs ../shared/data/README.md")
def test_the_transcribed_lists_are_the_ones_data_readme_gives():
    text = " ".join(SHARED_README.read_text().split())

    def listed(after: str, until: str) -> list[int]:
        found = re.search(re.escape(after) + r"(.*?)" + re.escape(until), text)
        return [int(x) for x in re.findall(r"\d+", found.group(1))]

    assert listed("NTU60 cross-subject training subjects:", ";") == OFFICIAL_NTU60_XSUB_TRAIN
    assert listed("cross-view training cameras:", ".") == OFFICIAL_NTU60_XVIEW_TRAIN_CAMERAS
    assert listed("NTU120 cross-subject training subjects:", ";") == OFFICIAL_NTU120_XSUB_TRAIN
    assert "cross-setup training setups: the even setup numbers" in text


@pytest.fixture
def raw_ntu(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    for i, name in enumerate(["S001C001P001R001A001", "S001C002P002R001A002", "S001C003P003R001A050",
                              "S001C001P001R001A061", "S018C001P001R001A001"]):
        write(raw / f"{name}.skeleton", [body(30, seed=i), body(30, shift=(1, 0, 3), seed=i + 9)])
    write(raw / "S001C001P004R001A003.skeleton", [body(30)]).write_text("30\n1\n")  # truncated
    write(raw / "S001C003P002R001A055.skeleton", [body(30)])  # on the official missing list
    (raw / "ntu60_samples_with_missing_skeletons.txt").write_text("S001C003P002R001A055\n")
    return raw


def test_prepare_skips_and_lists_bad_files(raw_ntu, tmp_path):
    meta = prepare("ntu60", raw_ntu, tmp_path / "out", progress=False)
    s = SkeletonSet.open(tmp_path / "out")
    assert s.names == ["S001C001P001R001A001", "S001C002P002R001A002", "S001C003P003R001A050"]
    assert s.labels.tolist() == [0, 1, 49] and s.skeletons.shape[1:] == (2, 25, 3)
    reasons = {r["file"].rsplit("/", 1)[-1]: r["reason"] for r in meta["skipped"]}
    assert set(reasons) == {"S001C001P004R001A003.skeleton", "S001C003P002R001A055.skeleton"}
    assert "line" in reasons["S001C001P004R001A003.skeleton"]
    assert "missing" in reasons["S001C003P002R001A055.skeleton"]
    on_disk = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert on_disk["preprocessing"]["denoise"]["max_short_body_frames"] == 11
    assert on_disk["preprocessing"]["ignored_other_release_files"] == 2
    assert on_disk["num_classes"] == 60 and len(on_disk["skipped"]) == 2


@pytest.mark.slow  # a process pool
def test_prepare_with_two_workers_gives_the_same_set(raw_ntu, tmp_path):
    prepare("ntu120", raw_ntu, tmp_path / "one", progress=False, missing=raw_ntu / "ntu60_samples_with_missing_skeletons.txt")
    prepare("ntu120", raw_ntu, tmp_path / "two", workers=2, progress=False,
            missing=raw_ntu / "ntu60_samples_with_missing_skeletons.txt")
    one, two = SkeletonSet.open(tmp_path / "one"), SkeletonSet.open(tmp_path / "two")
    assert one.names == two.names and len(one) == 5
    assert np.array_equal(np.asarray(one.skeletons), np.asarray(two.skeletons))
    assert set(one.splits) == {"xsub", "xset", "xsub_val", "xset_val"}


# A few names of the official list (github.com/shahroudy/NTURGB-D README, "Action Classes"), typed here
NTU_OFFICIAL = {1: "drink water", 2: "eat meal/snack", 50: "punching/slapping other person",
                60: "walking apart from each other", 61: "put on headphone",
                120: "finger-guessing game (playing rock-paper-scissors)"}


def test_a_prepared_ntu_set_names_its_classes(raw_ntu, tmp_path):
    from asma.cli.main import main

    # the CLI takes the data set's own spelling, dashes and capitals included
    assert main(["data", "prepare", "NTU-60", "--raw", str(raw_ntu), "--out", str(tmp_path / "ntu60")]) == 0
    ntu60 = SkeletonSet.open(tmp_path / "ntu60")
    assert len(ntu60.class_names) == 60
    assert [ntu60.class_names[label] for label in ntu60.labels] == ["drink water", "eat meal/snack",
                                                                     "punching/slapping other person"]
    prepare("ntu120", raw_ntu, tmp_path / "ntu120", progress=False)
    names = SkeletonSet.open(tmp_path / "ntu120").class_names
    assert len(names) == len(set(names)) == 120
    assert {a: names[a - 1] for a in NTU_OFFICIAL} == NTU_OFFICIAL
