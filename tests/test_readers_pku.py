"""PKU-MMD reader: videos cut into labelled samples, official split lists, reported bad intervals."""
import numpy as np
import pytest

from asma.data.format import SkeletonSet
from asma.data.prepare import prepare
from asma.data.readers.pku_mmd import parse_labels, parse_split_file
from asma.errors import InputFileError

VIDEOS = ["0002-L", "0002-M", "0002-R", "0003-L", "0003-M", "0003-R"]


def write_video(folder, name, frames, second_body=True, seed=0):
    values = np.random.default_rng(seed).normal(0, 0.3, (frames, 2, 25, 3)) + [0, 0, 3]
    if not second_body:
        values[:, 1] = 0
    np.savetxt(folder / f"{name}.txt", values.reshape(frames, 150), fmt="%.5f")


@pytest.fixture
def raw_pku(tmp_path):
    raw = tmp_path / "raw"
    (raw / "PKU_Skeleton_Renew").mkdir(parents=True)
    (raw / "Train_Label_PKU_final").mkdir()
    for i, video in enumerate(VIDEOS):
        write_video(raw / "PKU_Skeleton_Renew", video, 100, second_body=i % 2 == 0, seed=i)
        (raw / "Train_Label_PKU_final" / f"{video}.txt").write_text("3,0,30,1\n51,40,70,2\n")
    (raw / "Train_Label_PKU_final" / "0003-R.txt").write_text("3,0,30,1\n52,40,70,1\n7,90,130,1\n")
    splits = tmp_path / "splits"
    splits.mkdir()
    (splits / "cross-subject.txt").write_text("Training videos: \n0002-L, 0002-M, 0002-R\nValidataion videos: \n"
                                              "0003-L, 0003-M, 0003-R\n")
    return raw, splits


def test_prepare_cuts_videos_and_reports_bad_intervals(raw_pku, tmp_path):
    raw, splits = raw_pku
    meta = prepare("pku1", raw, tmp_path / "out", splits_dir=splits, progress=False)
    s = SkeletonSet.open(tmp_path / "out")
    assert len(s) == 11 and s.num_classes == 51
    # label 3 of the official list; 1 and 51 are its first and last (alphabetical)
    assert s.class_names[2] == "brushing teeth" and s.class_names[0] == "bow" and s.class_names[50] == "writing"
    assert s.skeletons.shape[1:] == (2, 25, 3)
    assert sorted(set(s.labels.tolist())) == [2, 50]
    assert set(s.lengths.tolist()) == {30}
    reasons = sorted(r["reason"] for r in meta["skipped"])
    assert len(reasons) == 2 and "outside the video" in reasons[0] and "label 52" in reasons[1]
    assert all(r["file"].endswith(("0003-R.txt:2", "0003-R.txt:3")) for r in meta["skipped"])
    assert {k: (len(v["train"]), len(v["test"])) for k, v in s.splits.items()} == {"xsub": (6, 5), "xview": (7, 4)}


def test_absent_second_body_stays_zero_after_centring(raw_pku, tmp_path):
    raw, _ = raw_pku
    prepare("pku1", raw, tmp_path / "out", progress=False)
    s = SkeletonSet.open(tmp_path / "out")
    single = s.names.index("0002-M_000")
    assert not np.asarray(s.sample(single))[:, 1].any()
    assert np.allclose(s.sample(single)[0, 0, 1], 0)


def test_phase_two_has_41_classes(raw_pku, tmp_path):
    raw, _ = raw_pku
    meta = prepare("pku2", raw, tmp_path / "out", progress=False)
    assert meta["num_classes"] == 41 and meta["class_names"][:2] == ["A01", "A02"]
    assert sum("label 51" in r["reason"] for r in meta["skipped"]) == 5


def test_a_short_skeleton_line_names_file_and_line(raw_pku, tmp_path):
    raw, _ = raw_pku
    path = raw / "PKU_Skeleton_Renew" / "0002-L.txt"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:4] + [" ".join(lines[4].split()[:100])] + lines[5:]) + "\n")
    meta = prepare("pku1", raw, tmp_path / "out", progress=False)
    assert any(r["file"].endswith("0002-L.txt") and r["reason"].startswith("line 5:") for r in meta["skipped"])


def test_label_and_split_file_parsing(tmp_path):
    labels = tmp_path / "l.txt"
    labels.write_text("1,2,3,1\n\nx,1,2,1\n")
    with pytest.raises(InputFileError) as e:
        parse_labels(labels, 51)
    assert e.value.line == 3
    split = tmp_path / "cross-view.txt"
    split.write_text("Training videos: 0002-M, 0002-R\nValidation videos:\n0002-L\n")
    assert parse_split_file(split, set(VIDEOS)) == {"train": ["0002-M", "0002-R"], "test": ["0002-L"]}
