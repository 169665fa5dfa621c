"""`asma data import`: CTR-GCN npz, pyskl pickles and PSTL/AimCLR folders into the standard format;
`export_pstl`: a prepared set back into PSTL's folders."""
import pickle

import numpy as np
import pytest

from asma.cli.main import main
from asma.config.loading import load_config
from asma.data.external import export_pstl, import_external, valid_lengths
from asma.data.format import SkeletonSet, write_skeleton_set
from asma.errors import InputFileError


def padded(n, t, lengths, shape, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, t, *shape)).astype(np.float32)
    x[np.arange(t)[None, :] >= np.asarray(lengths)[:, None]] = 0
    return x


def test_valid_length_is_the_last_non_zero_frame():
    x = padded(3, 10, [4, 10, 0], (5,))
    x[0, 2] = 0  # a zero frame inside a sample does not end it
    assert valid_lengths(x).tolist() == [4, 10, 0]


def test_ctrgcn_npz(tmp_path):
    path = tmp_path / "NTU60_CS.npz"
    x_train = padded(3, 20, [5, 20, 0], (150,))
    x_test = padded(2, 20, [7, 9], (150,), seed=1)
    np.savez(path, x_train=x_train, y_train=np.eye(60)[[0, 5, 59]], x_test=x_test, y_test=np.eye(60)[[1, 2]])
    meta = import_external("ctrgcn-npz", path, tmp_path / "out")
    s = SkeletonSet.open(tmp_path / "out")
    assert len(s) == 4 and s.lengths.tolist() == [5, 20, 7, 9] and s.labels.tolist() == [0, 5, 1, 2]
    assert s.splits == {"xsub": {"train": [0, 1], "test": [2, 3]}} and s.meta["layout"] == "ntu25"
    assert np.allclose(s.sample(0), x_train[0, :5].reshape(5, 2, 25, 3))
    assert len(meta["skipped"]) == 1 and s.meta["dataset"] == "ntu60"


def test_pyskl_2d_uses_the_score_channel(tmp_path):
    rng = np.random.default_rng(0)
    annotations = [{"frame_dir": f"v{i}", "label": i % 3, "total_frames": 6,
                    "keypoint": rng.normal(size=(1 + i % 2, 6, 17, 2)).astype(np.float32),
                    "keypoint_score": rng.uniform(size=(1 + i % 2, 6, 17)).astype(np.float32)} for i in range(4)]
    path = tmp_path / "gym_2d.pkl"
    path.write_bytes(pickle.dumps({"split": {"xsub_train": ["v0", "v1", "v2"], "xsub_val": ["v3"]},
                                   "annotations": annotations}))
    import_external("pyskl", path, tmp_path / "out")
    s = SkeletonSet.open(tmp_path / "out")
    assert s.meta["layout"] == "coco17" and s.skeletons.shape[1:] == (2, 17, 3)
    assert s.splits == {"xsub": {"train": [0, 1, 2], "test": [3]}}
    one = annotations[1]
    assert np.allclose(s.sample(1)[:, :, :, 2], one["keypoint_score"].transpose(1, 0, 2))
    assert np.allclose(s.sample(1)[:, :, :, :2], one["keypoint"].transpose(1, 0, 2, 3))
    assert not np.asarray(s.sample(0))[:, 1].any()  # one person, padded with zeros


def test_pyskl_unknown_shape_needs_a_layout(tmp_path):
    path = tmp_path / "odd.pkl"
    path.write_bytes(pickle.dumps({"split": {}, "annotations": [{"frame_dir": "a", "label": 0,
                                                                 "keypoint": np.zeros((1, 2, 11, 3))}]}))
    with pytest.raises(InputFileError, match="--layout"):
        import_external("pyskl", path, tmp_path / "out")


def test_pstl_folder_and_cli(tmp_path, capsys):
    folder = tmp_path / "NTU60" / "xview"
    folder.mkdir(parents=True)
    for prefix, n, seed in (("train", 3, 0), ("val", 2, 1)):
        x = padded(n, 12, [12, 6, 3][:n], (2, 25, 3), seed=seed).transpose(0, 4, 1, 3, 2)  # (N, C, T, V, M)
        np.save(folder / f"{prefix}_data_joint.npy", np.ascontiguousarray(x))
        (folder / f"{prefix}_label.pkl").write_bytes(pickle.dumps(([f"{prefix}{i}" for i in range(n)], list(range(n)))))
    assert main(["data", "import", "pstl", str(folder), "--out", str(tmp_path / "out")]) == 0
    s = SkeletonSet.open(tmp_path / "out")
    assert s.names == ["train0", "train1", "train2", "val0", "val1"] and s.lengths.tolist() == [12, 6, 3, 12, 6]
    assert s.splits == {"xview": {"train": [0, 1, 2], "test": [3, 4]}} and s.meta["dataset"] == "ntu60"
    x = np.load(folder / "val_data_joint.npy")
    assert np.allclose(s.sample(4), x[1, :, :6].transpose(1, 3, 2, 0))
    assert "wrote 5 samples" in capsys.readouterr().out


def frame_numbered_set(root, lengths, labels, splits):
    """Samples (T, 2, 20, 3) whose every coordinate is 100 * person + frame number + 1 (never zero)."""
    samples = []
    for i, (t, y) in enumerate(zip(lengths, labels)):
        frames = np.arange(1, t + 1, dtype=np.float32)[:, None, None, None] + np.array([0, 100], np.float32)[:, None, None]
        samples.append((f"a{y:02d}_s{i:02d}", y, np.broadcast_to(frames, (t, 2, 20, 3)).copy()))
    write_skeleton_set(root, samples, splits=splits, meta={"dataset": "tiny", "layout": "msr_action3d", "num_classes": 3},
                       num_persons=2, num_joints=20, channels=3)
    return root


def test_export_pstl_writes_its_feeders_layout_and_reads_back(tmp_path):
    lengths, labels = [30, 9, 50, 17, 40], [2, 0, 1, 1, 0]
    splits = {"xsub": {"train": [3, 0, 4], "test": [1, 2]}, "other": {"train": [0], "test": [1]}}
    source = frame_numbered_set(tmp_path / "set", lengths, labels, splits)
    cfg = load_config("smoke", ["data.window=8", "data.persons=1", "data.sampling=uniform", "data.normalise.centre=none"])
    meta = export_pstl(source, tmp_path / "pstl" / "xsub", cfg.data)
    assert meta["samples"] == {"train": 3, "test": 2} and meta["layout"] == "msr_action3d" and meta["num_classes"] == 3
    for prefix, members in (("train", [3, 0, 4]), ("val", [1, 2])):
        x = np.load(tmp_path / "pstl" / "xsub" / f"{prefix}_data_joint.npy")
        assert x.dtype == np.float32 and x.shape == (len(members), 3, 8, 20, 1)  # (N, C, T, V, M)
        names, ys = pickle.loads((tmp_path / "pstl" / "xsub" / f"{prefix}_label.pkl").read_bytes())
        assert names == [f"a{labels[i]:02d}_s{i:02d}" for i in members] and ys == [labels[i] for i in members]
        for row, i in enumerate(members):  # 8 evenly spaced frames of the first person, written out by hand
            expected = np.round(np.arange(8) * (lengths[i] - 1) / 7) + 1
            assert np.array_equal(x[row, 0, :, 5, 0], expected) and np.array_equal(x[row, 2, :, 19, 0], expected)
    import_external("pstl", tmp_path / "pstl" / "xsub", tmp_path / "back")
    back = SkeletonSet.open(tmp_path / "back")
    assert back.splits == {"xsub": {"train": [0, 1, 2], "test": [3, 4]}}
    assert back.labels.tolist() == [1, 2, 0, 0, 1] and back.lengths.tolist() == [8] * 5


def test_export_pstl_centres_as_configured_and_refuses_other_streams(tmp_path):
    source = frame_numbered_set(tmp_path / "set", [12, 7], [0, 1], {"xsub": {"train": [0], "test": [1]}})
    cfg = load_config("smoke", ["data.window=8", "data.persons=2", "data.sampling=uniform",
                                 "data.normalise.centre=first_frame"])
    export_pstl(source, tmp_path / "out", cfg.data)
    x = np.load(tmp_path / "out" / "train_data_joint.npy")
    assert x.shape == (1, 3, 8, 20, 2) and np.all(x[0, :, 0, :, 0] == 0)  # person 1's origin joint of frame 1 is subtracted
    assert np.array_equal(x[0, 0, :, 0, 1], np.round(np.arange(8) * 11 / 7) + 100)  # person 2, shifted with it
    cfg.data.stream = "bone"
    with pytest.raises(InputFileError, match="stream"):
        export_pstl(source, tmp_path / "bone", cfg.data)


TRIANGLE = "name: triangle\njoints: [hip, head, hand]\nbones: [[1, 2], [2, 3]]\ncenter: 1\n"


def test_an_imported_layout_travels_with_the_set(tmp_path, monkeypatch):
    """A layout given as a relative path is copied into the set: it opens from any folder."""
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    (here / "my").mkdir(parents=True)
    elsewhere.mkdir()
    (here / "my" / "layout.yaml").write_text(TRIANGLE)
    annotations = [{"frame_dir": f"v{i}", "label": i % 2, "keypoint": np.ones((1, 4, 3, 3), np.float32)}
                   for i in range(3)]
    (here / "tri.pkl").write_bytes(pickle.dumps({"split": {"xsub_train": ["v0", "v1"], "xsub_val": ["v2"]},
                                                 "annotations": annotations}))
    monkeypatch.chdir(here)
    assert main(["data", "import", "pyskl", "tri.pkl", "--layout", "my/layout.yaml", "--out", "set"]) == 0
    monkeypatch.chdir(elsewhere)
    s = SkeletonSet.open(here / "set")
    assert s.meta["layout"] == "layout.yaml" and s.layout.joints == ("hip", "head", "hand")
    assert (here / "set" / "layout.yaml").read_text() == TRIANGLE


def test_a_lost_layout_names_meta_json_and_the_fix(tmp_path):
    (tmp_path / "l.yaml").write_text(TRIANGLE)
    root = write_skeleton_set(tmp_path / "set", [("a", 0, np.ones((2, 1, 3, 3)))], splits={},
                              meta={"dataset": "t", "layout": str(tmp_path / "l.yaml"), "num_classes": 1},
                              num_persons=1, num_joints=3, channels=3)
    (root / "layout.yaml").unlink()
    with pytest.raises(InputFileError) as e:
        SkeletonSet.open(root).layout
    assert e.value.path == root / "meta.json" and f"copy the layout YAML to {root / 'layout.yaml'}" in str(e.value)


def tiny_pyskl(path, labels):
    annotations = [{"frame_dir": f"v{i}", "label": y, "keypoint": np.ones((1, 4, 3, 3), np.float32)}
                   for i, y in enumerate(labels)]
    path.write_bytes(pickle.dumps({"split": {"xsub_train": ["v0"], "xsub_val": ["v1"]}, "annotations": annotations}))
    return path


def test_class_names_on_import(tmp_path):
    (tmp_path / "l.yaml").write_text(TRIANGLE)
    (tmp_path / "names.txt").write_text("wave\nclap\nbow\n")
    path = tiny_pyskl(tmp_path / "tri.pkl", [0, 1])
    assert main(["data", "import", "pyskl", str(path), "--layout", str(tmp_path / "l.yaml"),
                 "--class-names", str(tmp_path / "names.txt"), "--out", str(tmp_path / "set")]) == 0
    s = SkeletonSet.open(tmp_path / "set")
    assert s.class_names == ["wave", "clap", "bow"] and s.num_classes == 3  # a class without samples counts


def test_too_few_class_names_name_the_file(tmp_path):
    (tmp_path / "names.txt").write_text("wave\n")
    (tmp_path / "l.yaml").write_text(TRIANGLE)
    path = tiny_pyskl(tmp_path / "tri.pkl", [0, 1])
    with pytest.raises(InputFileError, match="1 class names, but the labels go up to 1") as e:
        import_external("pyskl", path, tmp_path / "set", layout=str(tmp_path / "l.yaml"),
                        class_names=tmp_path / "names.txt")
    assert e.value.path == tmp_path / "names.txt"
