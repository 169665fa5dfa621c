"""`asma data import`: CTR-GCN npz, pyskl pickles and PSTL/AimCLR folders into the standard format."""
import pickle

import numpy as np
import pytest

from asma.cli.main import main
from asma.data.external import import_external, valid_lengths
from asma.data.format import SkeletonSet
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
