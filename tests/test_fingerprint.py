"""A prepared set's fingerprint: the same for a copy anywhere, different for other data."""
import json
import shutil

import numpy as np

from asma.data.fingerprint import dataset_fingerprint
from asma.data.format import write_skeleton_set


def prepared(out, scale=1.0, labels=(0, 1, 0), test=(2,), raw="/raw/here"):
    rng = np.random.default_rng(0)
    items = [(f"s{i}", label, scale * rng.normal(size=(4 + i, 1, 20, 3)).astype(np.float32))
             for i, label in enumerate(labels)]
    train = [i for i in range(len(labels)) if i not in test]
    splits = {"xsub": {"train": train, "test": list(test)}, "xsub_val": {"train": train[:1], "test": train[1:]}}
    return write_skeleton_set(out, items, splits=splits,
                              meta={"dataset": "t", "layout": "msr_action3d", "num_classes": 2, "skipped": [],
                                    "source": {"raw": raw, "seconds": 0.1}},
                              num_persons=1, num_joints=20, channels=3)


def test_a_copy_elsewhere_has_the_same_fingerprint(tmp_path):
    first = dataset_fingerprint(prepared(tmp_path / "a"))
    assert first is not None and first.startswith("sha256:")
    shutil.copytree(tmp_path / "a", tmp_path / "elsewhere" / "a")
    assert dataset_fingerprint(tmp_path / "elsewhere" / "a") == first
    # prepared again from raw files in another folder, taking another time: meta.json is not the data
    assert dataset_fingerprint(prepared(tmp_path / "b", raw="/raw/there")) == first


def test_other_data_has_another_fingerprint(tmp_path):
    base = dataset_fingerprint(prepared(tmp_path / "base"))
    others = [prepared(tmp_path / "scaled", scale=2.0),  # e.g. another normalisation option
              prepared(tmp_path / "labels", labels=(0, 1, 1)),
              prepared(tmp_path / "split", test=(1,))]
    prints = [dataset_fingerprint(p) for p in others]
    assert base not in prints and len(set(prints)) == len(prints)


def test_a_set_prepared_again_in_place_is_hashed_again(tmp_path):
    before = dataset_fingerprint(prepared(tmp_path / "set"))
    after = dataset_fingerprint(prepared(tmp_path / "set", scale=3.0))
    assert after != before and after == dataset_fingerprint(prepared(tmp_path / "other", scale=3.0))


def test_what_is_not_a_prepared_set_has_none(tmp_path):
    assert dataset_fingerprint("synthetic") is None
    assert dataset_fingerprint(tmp_path / "missing") is None
    path = prepared(tmp_path / "set")
    (path / "labels.npy").unlink()
    assert dataset_fingerprint(path) is None
    assert json.loads((tmp_path / "set" / "meta.json").read_text())["dataset"] == "t"


def test_validation_splits_leave_the_fingerprint_as_it_was(tmp_path):
    """A set prepared again with its <split>_val entries is the set its earlier runs used."""
    with_val = prepared(tmp_path / "a")
    splits = json.loads((with_val / "splits.json").read_text())
    old = shutil.copytree(with_val, tmp_path / "b")
    (old / "splits.json").write_text(json.dumps({"xsub": splits["xsub"]}))  # as written before _val splits
    assert dataset_fingerprint(old) == dataset_fingerprint(with_val)
    (old / "splits.json").write_text(json.dumps({"xsub": {"train": [0], "test": [1, 2]}}))
    assert dataset_fingerprint(old) != dataset_fingerprint(with_val)
