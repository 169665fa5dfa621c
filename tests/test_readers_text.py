"""`asma data import text`: one text or CSV file per sequence, fields in the file name, any layout."""
import numpy as np
import pytest

from asma.cli.main import main
from asma.data.format import SkeletonSet
from asma.data.prepare import prepare_with
from asma.data.readers.text import TextReader
from asma.errors import ConfigError, InputFileError

TRIANGLE = "name: triangle\njoints: [hip, head, hand]\nbones: [[1, 2], [2, 3]]\ncenter: 1\n"
FLAT = "name: flat\ncoord_dims: 2\njoints: [hip, head, hand]\nbones: [[1, 2], [2, 3]]\ncenter: 1\n"


def frames(seed, t=4, v=3, c=3):
    return np.random.default_rng(seed).uniform(-1, 1, (t, v, c)).round(4)


def centred(x):
    """The reference: every coordinate minus the origin joint (joint 1 here) of the first frame."""
    return x - x[0, 0]


@pytest.fixture
def layouts(tmp_path):
    (tmp_path / "triangle.yaml").write_text(TRIANGLE)
    (tmp_path / "flat.yaml").write_text(FLAT)
    return tmp_path


def test_a_joint_per_line_with_subjects_and_class_names(layouts, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    written = {}
    for a, s in [(1, 1), (1, 2), (2, 3), (3, 4), (3, 5)]:
        x = frames(10 * a + s)
        written[f"a{a:02d}_s{s:02d}_e01"] = (a - 1, x)
        (raw / f"a{a:02d}_s{s:02d}_e01.txt").write_text("".join(" ".join(map(str, j)) + "\n" for j in x.reshape(-1, 3)))
    (raw / "README").write_text("not a sequence")
    (tmp_path / "names.txt").write_text("wave\nclap\nbow\n")
    reader = TextReader(layout=str(layouts / "triangle.yaml"), pattern="a{label}_s{subject}_e{rep}.txt",
                        class_names_file=tmp_path / "names.txt", train_subjects=["1", "3", "5"], dataset="tiny")
    meta = prepare_with(reader, raw, tmp_path / "out", progress=False)
    s = SkeletonSet.open(tmp_path / "out")
    assert s.class_names == ["wave", "clap", "bow"] and s.layout.name == "triangle" and s.meta["dataset"] == "tiny"
    for i, name in enumerate(s.names):
        label, x = written[name]
        assert s.labels[i] == label and np.allclose(s.sample(i)[:, 0], centred(x), atol=1e-6)
    train = {s.names[i] for i in s.splits["xsub"]["train"]}
    assert train == {"a01_s01_e01", "a02_s03_e01", "a03_s05_e01"} and set(s.splits) == {"xsub", "xsub_val"}
    assert [(k["file"].rsplit("/", 1)[1], k["kind"]) for k in meta["skipped"]] == [("README", "expected")]


def test_a_frame_per_line_csv_with_header_frame_numbers_and_views(layouts, tmp_path):
    raw = tmp_path / "raw" / "nested"
    raw.mkdir(parents=True)
    written = {}
    for label, subject, view in [("walk", 1, 1), ("walk", 2, 2), ("sit", 1, 2), ("sit", 2, 1)]:
        x = frames(subject * 7 + view)
        written[f"nested/{label}-{subject}-{view}"] = x
        rows = [f"{t}," + ",".join(f"{a}, {b}, {c}, 0.9" for a, b, c in x[t]) for t in range(len(x))]
        (raw / f"{label}-{subject}-{view}.csv").write_text("frame,joints...\n" + "\n".join(rows) + "\n")
    reader = TextReader(layout=str(layouts / "triangle.yaml"), pattern="{label}-{subject}-{view}.csv",
                        per_line="frame", delimiter=",", columns=("x", "y", "z", "confidence"), skip_columns=1,
                        skip_lines=1)
    prepare_with(reader, tmp_path / "raw", tmp_path / "out", progress=False)
    s = SkeletonSet.open(tmp_path / "out")
    assert s.class_names == ["sit", "walk"]  # words, alphabetical without a names file
    for i, name in enumerate(s.names):
        assert np.allclose(s.sample(i)[:, 0], centred(written[name]), atol=1e-6)
    by_name = {split: {part: sorted(s.names[i].split("/")[1] for i in idx) for part, idx in parts.items()}
               for split, parts in s.splits.items()}
    assert by_name["xsub"] == {"train": ["sit-1-2", "walk-1-1"], "test": ["sit-2-1", "walk-2-2"]}  # odd subjects
    assert by_name["xview"] == {"train": ["sit-2-1", "walk-1-1"], "test": ["sit-1-2", "walk-2-2"]}  # last view tests


def test_2d_keeps_the_score_as_third_channel(layouts, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    for s in (1, 2):
        x = frames(s, c=3)
        (raw / f"0_{s}.txt").write_text("".join(f"{a} {b} {c}\n" for a, b, c in x.reshape(-1, 3)))
    reader = TextReader(layout=str(layouts / "flat.yaml"), pattern="{label}_{subject}.txt", columns=("x", "y", "score"),
                        first_label=0)
    prepare_with(reader, raw, tmp_path / "out", progress=False)
    s = SkeletonSet.open(tmp_path / "out")
    x = frames(1, c=3)
    assert s.class_names == ["0"] and np.allclose(s.sample(0)[:, 0, :, 2], x[..., 2])
    assert np.allclose(s.sample(0)[:, 0, :, :2], x[..., :2] - x[0, 0, :2], atol=1e-6)


def test_broken_files_are_unreadable_by_name(layouts, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a1_s1.txt").write_text("1 2 3\n" * 6)
    (raw / "a1_s2.txt").write_text("1 2 3\n" * 6)
    (raw / "a2_s1.txt").write_text("1 2 3\n" * 5)  # a frame is cut
    (raw / "a2_s2.txt").write_text("1 2 3\n1 nan 3\n1 2 3\n")
    reader = TextReader(layout=str(layouts / "triangle.yaml"), pattern="a{label}_s{subject}.txt")
    meta = prepare_with(reader, raw, tmp_path / "out", progress=False)
    unreadable = {k["file"].rsplit("/", 1)[1]: k["reason"] for k in meta["skipped"] if k["kind"] == "unreadable"}
    assert unreadable == {"a2_s1.txt": "5 joint lines is not a multiple of 3 (a frame is cut)",
                          "a2_s2.txt": "NaN or infinite value in frame 1"}


@pytest.mark.parametrize("pattern, options, problem", [
    ("s{subject}.txt", {}, "no {label}"),
    ("a{label}.txt", {}, "neither {subject} nor {view}"),
    ("a{label}_s{subject}.txt", {"train_subjects": ["9"]}, "9 not among"),
    ("a{label}_s{subject}.txt", {"train_subjects": ["1", "2"]}, "none is left to test"),
    ("a{label}_s{subject}.txt", {"columns": ("x", "y")}, "needs each of x, y, z"),
])
def test_options_that_cannot_work_are_config_errors(layouts, tmp_path, pattern, options, problem):
    raw = tmp_path / "raw"
    raw.mkdir()
    for s in (1, 2):
        (raw / f"a1_s{s}.txt").write_text("1 2 3\n" * 3)
    with pytest.raises(ConfigError, match=problem.replace("{", r"\{").replace("}", r"\}")):
        prepare_with(TextReader(layout=str(layouts / "triangle.yaml"), pattern=pattern, **options), raw,
                     tmp_path / "out", progress=False)


def test_a_label_missing_from_the_class_names_names_the_file(layouts, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    for label, s in [("walk", 1), ("jump", 2)]:
        (raw / f"{label}_{s}.txt").write_text("1 2 3\n" * 3)
    (tmp_path / "names.txt").write_text("walk\nsit\n")
    reader = TextReader(layout=str(layouts / "triangle.yaml"), pattern="{label}_{subject}.txt",
                        class_names_file=tmp_path / "names.txt")
    with pytest.raises(InputFileError, match="has no class 'jump'") as e:
        prepare_with(reader, raw, tmp_path / "out", progress=False)
    assert e.value.path == tmp_path / "names.txt"


def test_text_options_belong_to_the_text_format(tmp_path, capsys):
    assert main(["data", "import", "pyskl", str(tmp_path), "--out", str(tmp_path / "o"), "--pattern", "x"]) == 2
    assert "--pattern: only `asma data import text` takes it" in capsys.readouterr().err


def test_classes_in_folders_and_tabs_from_the_cli(layouts, tmp_path):
    raw = tmp_path / "raw"
    for label in ("sit", "walk"):
        (raw / label).mkdir(parents=True)
        for s in (1, 2):
            (raw / label / f"s{s}.tsv").write_text("".join("\t".join(map(str, j)) + "\n" for j in frames(s).reshape(-1, 3)))
    assert main(["data", "import", "text", str(raw), "--layout", str(layouts / "triangle.yaml"), "--pattern",
                 "{label}/s{subject}.tsv", "--delimiter", "tab", "--out", str(tmp_path / "out")]) == 0
    s = SkeletonSet.open(tmp_path / "out")
    assert s.names == ["sit/s1", "sit/s2", "walk/s1", "walk/s2"] and s.labels.tolist() == [0, 0, 1, 1]
    assert np.allclose(s.sample(3)[:, 0], centred(frames(2)), atol=1e-6)
