"""The synthetic set: standard format, seeded, learnable structure."""
import numpy as np
import pytest

from asma.cli.main import main
from asma.data.format import SkeletonSet
from asma.data.synthetic import MOTIONS, ensure_synthetic, make_synthetic, rest_pose
from asma.skeleton.layout import load_layout


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return SkeletonSet.open(make_synthetic(tmp_path_factory.mktemp("syn") / "set", num_classes=10, samples_per_class=12))


def test_shapes_labels_and_lengths(synthetic):
    assert len(synthetic) == 120
    assert synthetic.skeletons.shape[1:] == (2, 25, 3)
    assert synthetic.skeletons.dtype == np.float32
    assert np.bincount(synthetic.labels).tolist() == [12] * 10
    assert synthetic.lengths.min() >= 40 and synthetic.lengths.max() <= 120
    assert synthetic.meta["layout"] == "ntu25" and synthetic.meta["skipped"] == []
    assert len(set(synthetic.names)) == len(synthetic)


def test_splits_separate_subjects_and_cameras(synthetic):
    subject = np.array([int(n[9:12]) for n in synthetic.names])
    camera = np.array([int(n[5:8]) for n in synthetic.names])
    xsub, xview = synthetic.splits["xsub"], synthetic.splits["xview"]
    assert not set(subject[xsub["train"]]) & set(subject[xsub["test"]])
    assert sorted(xsub["train"] + xsub["test"]) == list(range(len(synthetic)))
    assert set(camera[xview["test"]]) == {1} and set(camera[xview["train"]]) <= {2, 3}


def test_same_seed_same_data_other_seed_other_data(tmp_path):
    a = SkeletonSet.open(make_synthetic(tmp_path / "a", num_classes=3, samples_per_class=3, seed=1))
    b = SkeletonSet.open(make_synthetic(tmp_path / "b", num_classes=3, samples_per_class=3, seed=1))
    c = SkeletonSet.open(make_synthetic(tmp_path / "c", num_classes=3, samples_per_class=3, seed=2))
    assert np.array_equal(a.skeletons, b.skeletons) and a.names == b.names
    assert a.skeletons.shape != c.skeletons.shape or not np.array_equal(a.skeletons, c.skeletons)


def test_bones_keep_their_length_while_moving(synthetic):
    bones = np.array(load_layout("ntu25").bones)
    frames = np.asarray(synthetic.sample(0))[:, 0]
    lengths = np.linalg.norm(frames[:, bones[:, 0]] - frames[:, bones[:, 1]], axis=-1)
    assert lengths.std(axis=0).max() < 0.03  # only sensor noise changes them


def test_waving_raises_one_hand_above_its_shoulder_either_side(synthetic):
    """Each class is done with the right or the left side at random: both occur in a class."""
    layout = load_layout("ntu25")
    sides = []
    for i in np.flatnonzero(synthetic.labels == list(MOTIONS).index("wave_hand")):
        frames = np.asarray(synthetic.sample(i))[:, 0]
        raised = {side: (frames[:, layout.joint_index(f"{side}_hand"), 1]
                         > frames[:, layout.joint_index(f"{side}_shoulder"), 1]).mean()
                  for side in ("left", "right")}
        side = max(raised, key=raised.get)
        assert raised[side] > 0.9 and min(raised.values()) < 0.1
        sides.append(side)
    assert set(sides) == {"left", "right"}


def test_partner_appears_only_in_two_person_classes(synthetic):
    two_person = {i for i, name in enumerate(MOTIONS) if MOTIONS[name].partner and i < 10}
    assert two_person
    for i in range(len(synthetic)):
        has_partner = np.asarray(synthetic.sample(i))[:, 1].any()
        assert has_partner == (int(synthetic.labels[i]) in two_person)


def test_classes_are_separable_by_a_nearest_neighbour(synthetic):
    """A model can learn the classes: even 1-NN on motion statistics beats chance by far across subjects."""
    def features(i):
        x = np.asarray(synthetic.sample(i), dtype=np.float64)
        return np.concatenate([x.std(0).ravel(), np.abs(np.diff(x, axis=0)).mean(0).ravel()])
    f = np.stack([features(i) for i in range(len(synthetic))])
    train, test = (np.array(synthetic.splits["xsub"][p]) for p in ("train", "test"))
    f = (f - f[train].mean(0)) / (f[train].std(0) + 1e-6)
    nearest = ((f[test, None] - f[None, train]) ** 2).sum(-1).argmin(1)
    assert (synthetic.labels[train][nearest] == synthetic.labels[test]).mean() > 0.6


def test_one_person_and_other_layouts(tmp_path):
    one = SkeletonSet.open(make_synthetic(tmp_path / "one", num_classes=14, samples_per_class=2, persons=1))
    assert one.skeletons.shape[1] == 1 and one.num_classes == 14
    for layout in ("kinect_v1", "msr_action3d", "coco17"):
        s = SkeletonSet.open(make_synthetic(tmp_path / layout, num_classes=3, samples_per_class=2, layout=layout))
        assert s.skeletons.shape[2] == load_layout(layout).num_joints
        assert np.isfinite(s.skeletons).all()
    assert not np.isnan(rest_pose(load_layout("ntu25"))).any()


def test_a_second_builder_of_the_cache_leaves_the_first_set_in_place(tmp_path):
    """Workers that start together may all build the cache; the one that lands second keeps the
    first's folder, so a reader holding that path never sees its files go."""
    first = ensure_synthetic(tmp_path, num_classes=3, samples_per_class=2)
    inode = first.stat().st_ino
    make_synthetic(first, num_classes=3, samples_per_class=2, keep_existing=True)  # the late builder
    assert first.stat().st_ino == inode and len(SkeletonSet.open(first)) == 6
    assert [p.name for p in tmp_path.iterdir()] == [first.name]


def test_a_stale_cache_folder_without_meta_is_built_again(tmp_path):
    first = ensure_synthetic(tmp_path, num_classes=3, samples_per_class=2)
    (first / "meta.json").unlink()
    assert ensure_synthetic(tmp_path, num_classes=3, samples_per_class=2) == first
    assert len(SkeletonSet.open(first)) == 6


def test_ensure_synthetic_creates_once_and_reuses(tmp_path):
    first = ensure_synthetic(tmp_path, num_classes=3, samples_per_class=2)
    stamp = (first / "skeletons.npy").stat().st_mtime_ns
    again = ensure_synthetic(tmp_path, num_classes=3, samples_per_class=2)
    other = ensure_synthetic(tmp_path, num_classes=4, samples_per_class=2)
    assert again == first and (first / "skeletons.npy").stat().st_mtime_ns == stamp
    assert other != first and SkeletonSet.open(other).num_classes == 4


def test_cli_synth(tmp_path, capsys):
    assert main(["data", "synth", "--out", str(tmp_path / "s"), "--classes", "3", "--per-class", "2",
                 "--persons", "1", "--seed", "3"]) == 0
    s = SkeletonSet.open(tmp_path / "s")
    assert len(s) == 6 and s.meta["preprocessing"]["seed"] == 3
    assert "wrote 6 samples" in capsys.readouterr().out


def test_view_jitter_spreads_the_facing_direction(tmp_path):
    """Each body faces the camera's yaw plus jitter: its shoulder line's angle spreads with it."""
    layout = load_layout("ntu25")
    left, right = layout.joint_index("left_shoulder"), layout.joint_index("right_shoulder")

    def yaw_spread(jitter):
        s = SkeletonSet.open(make_synthetic(tmp_path / f"j{jitter}", num_classes=2, samples_per_class=30, persons=1,
                                            view_jitter_deg=jitter))
        camera = np.array([int(n[5:8]) for n in s.names])
        first = np.stack([np.asarray(s.sample(i))[0, 0] for i in range(len(s))])
        line = first[:, left] - first[:, right]
        yaw = np.degrees(np.arctan2(line[:, 2], line[:, 0]))
        return np.mean([yaw[camera == c].std() for c in np.unique(camera)])

    narrow, wide = yaw_spread(5.0), yaw_spread(40.0)
    assert narrow < 12 < 25 < wide


def test_a_layout_yaml_is_copied_into_the_set(tmp_path, monkeypatch):
    from asma.skeleton.layout import BUILTIN_DIR

    (tmp_path / "mine.yaml").write_text((BUILTIN_DIR / "kinect_v1.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    out = make_synthetic(tmp_path / "set", num_classes=2, samples_per_class=2, layout="mine.yaml")
    monkeypatch.chdir(tmp_path / "set")
    s = SkeletonSet.open(out)
    assert s.meta["layout"] == "layout.yaml" and s.layout == load_layout("kinect_v1")
