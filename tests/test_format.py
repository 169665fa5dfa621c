"""The standard on-disk format: round trip, and atomic replacement when writing or preparing fails."""
import numpy as np
import pytest

from asma.data.format import SkeletonSet, write_skeleton_set
from asma.data.prepare import prepare
from asma.errors import InputFileError


def samples(n, seed=0):
    rng = np.random.default_rng(seed)
    return [(f"s{i}", i % 2, rng.normal(size=(3 + i, 2, 25, 3)).astype(np.float32)) for i in range(n)]


def write(out, items):
    return write_skeleton_set(out, items, splits={"all": {"train": [0], "test": [1]}},
                              meta={"dataset": "t", "layout": "ntu25", "num_classes": 2, "skipped": []},
                              num_persons=2, num_joints=25, channels=3)


def test_round_trip(tmp_path):
    items = samples(3)
    s = SkeletonSet.open(write(tmp_path / "set", items))
    assert s.names == ["s0", "s1", "s2"] and s.offsets.tolist() == [0, 3, 7, 12]
    for i, (_, label, frames) in enumerate(items):
        assert np.array_equal(s.sample(i), frames) and s.labels[i] == label


def test_a_failing_write_leaves_the_previous_set(tmp_path):
    write(tmp_path / "set", samples(2))

    def broken():
        yield from samples(2, seed=1)
        raise RuntimeError("disk full")
    with pytest.raises(RuntimeError):
        write(tmp_path / "set", broken())
    s = SkeletonSet.open(tmp_path / "set")
    assert np.array_equal(s.sample(0), samples(2)[0][2])
    assert [p.name for p in tmp_path.iterdir()] == ["set"]  # no staging folder left behind


def test_a_failing_prepare_leaves_the_previous_output(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "actionLabel.txt").write_text("s01_e01\nwalk: 1 2\n")
    (raw / "joints_s01_e01.txt").write_text("".join(f"{i} " + " ".join(["0.5"] * 60) + "\n" for i in (1, 2, 3)))
    prepare("utkinect", raw, tmp_path / "out", progress=False)
    before = (tmp_path / "out" / "skeletons.npy").read_bytes()
    (raw / "joints_s01_e01.txt").write_text("1 2 3\n")  # now every file is bad
    with pytest.raises(InputFileError, match="skipped"):
        prepare("utkinect", raw, tmp_path / "out", progress=False)
    assert (tmp_path / "out" / "skeletons.npy").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "raw"]


def another_writer_lands_first(monkeypatch, out):
    """Just before this writer's rename into `out`, another writer's set (samples(2, seed=1)) is
    renamed there; returns a list that holds True once that happened."""
    import asma.data.atomic as atomic
    rename, raced = atomic.os.replace, []

    def competitor_first(src, dst):
        if str(dst) == str(out) and not raced:
            raced.append(True)
            write(out.parent / "other", samples(2, seed=1))
            rename(out.parent / "other", out)  # the other writer's atomic rename lands first
        return rename(src, dst)
    monkeypatch.setattr(atomic.os, "replace", competitor_first)
    return raced


def test_a_set_another_writer_finishes_first_is_replaced_not_an_error(tmp_path, monkeypatch):
    """Two trials that fill one cache together: the other writer's folder appears at `out` just before
    this one is moved in (CI once failed here with 'Directory not empty'). Both writes succeed."""
    out = tmp_path / "set"
    raced = another_writer_lands_first(monkeypatch, out)
    write(out, samples(2))
    assert raced
    assert np.array_equal(SkeletonSet.open(out).sample(0), samples(2)[0][2])  # the last writer's set
    assert [p.name for p in tmp_path.iterdir()] == ["set"]  # neither staging nor the old set is left


def test_a_cache_another_writer_finishes_first_stays_under_its_readers(tmp_path, monkeypatch):
    """keep_existing (caches): the first set moved in stays and this writer drops its own, so a
    reader that opened the set keeps every file of it (a pool's worker once failed on
    'No such file: offsets.npy' when a second worker's set replaced the one it was opening)."""
    out = tmp_path / "set"
    raced = another_writer_lands_first(monkeypatch, out)
    write_skeleton_set(out, samples(2), splits={"all": {"train": [0], "test": [1]}},
                       meta={"dataset": "t", "layout": "ntu25", "num_classes": 2, "skipped": []},
                       num_persons=2, num_joints=25, channels=3, keep_existing=True)
    assert raced
    assert np.array_equal(SkeletonSet.open(out).sample(0), samples(2, seed=1)[0][2])  # the first writer's set
    assert [p.name for p in tmp_path.iterdir()] == ["set"]  # this writer's staging is gone


@pytest.mark.parametrize("name", ["skeletons.npy", "offsets.npy", "labels.npy", "names.txt", "meta.json"])
def test_a_partly_copied_set_names_the_file_to_copy_again(tmp_path, name):
    root = write(tmp_path / "set", samples(3))
    path = root / name
    path.write_bytes(path.read_bytes()[: path.stat().st_size - 7])  # a copy cut short
    with pytest.raises(InputFileError) as e:
        SkeletonSet.open(root)
    assert e.value.path == path and f"copy {path} again" in str(e.value)


def test_a_cut_set_is_one_line_from_the_cli(tmp_path, capsys, monkeypatch):
    from asma.cli.main import main

    monkeypatch.setenv("COLUMNS", "1000")  # rich would wrap the one line at a narrow terminal's width
    root = write(tmp_path / "set", samples(3))
    path = root / "skeletons.npy"
    path.write_bytes(path.read_bytes()[:200])
    assert main(["show", str(root), "0", "--config", "smoke", "--out", str(tmp_path / "s.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith(f"error: {path}: 200 bytes") and f"copy {path} again" in err
