"""`asma data relayout` and `asma transfer`: encoders pretrained on one set, unchanged, on another."""
import json
import shutil

import numpy as np
import pytest

from asma.ablation.transfer_table import transfer_study
from asma.cli.main import main
from asma.data.format import SkeletonSet, write_skeleton_set
from asma.data.relayout import relayout
from asma.reports.results import load_results

# MSR Action3D's joints (1-based, shared/data/README.md) in Kinect v1 SDK order, written out by hand
MSR_FOR_KINECT_V1 = [7, 4, 3, 20, 1, 8, 10, 12, 2, 9, 11, 13, 5, 14, 16, 18, 6, 15, 17, 19]
TINY = ["data.persons=1", "data.window=12", "train.epochs=1", "train.batch_size=8", "train.threads=1",
        "encoder.base_channels=4", "encoder.feature_dim=16", "encoder.depth=2", "projector.dim=32"]
EVAL = ["--set", "eval.epochs=2", "--set", "eval.finetune_epochs=1", "--set", "eval.batch_size=8"]


def tiny_set(path, layout, classes, joints=20, seed=0):
    rng = np.random.default_rng(seed)
    samples = [(f"s{i:03d}", i % classes, rng.normal(size=(10, 1, joints, 3)).astype(np.float32)) for i in range(8 * classes)]
    splits = {"xsub": {"train": list(range(0, 8 * classes, 2)), "test": list(range(1, 8 * classes, 2))}}
    return write_skeleton_set(path, samples, splits=splits, num_persons=1, num_joints=joints, channels=3,
                              meta={"dataset": path.name, "layout": layout, "num_classes": classes})


def test_relayout_puts_msr_joints_in_kinect_order(tmp_path):
    source = SkeletonSet.open(tiny_set(tmp_path / "msr", "msr_action3d", 2))
    out = SkeletonSet.open(relayout(source.root, "kinect_v1", tmp_path / "k1"))
    assert out.meta["layout"] == "kinect_v1" and out.splits == source.splits and out.names == source.names
    expected = np.asarray(source.sample(3))[:, :, [j - 1 for j in MSR_FOR_KINECT_V1]]
    assert np.array_equal(np.asarray(out.sample(3)), expected)


def test_relayout_names_the_joints_it_cannot_find(tmp_path, capsys):
    tiny_set(tmp_path / "coco", "coco17", 2, joints=17)
    assert main(["data", "relayout", str(tmp_path / "coco"), "--layout", "kinect_v1", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "no joint named hip_center" in err and "Traceback" not in err and not (tmp_path / "o").exists()


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    root = tmp_path_factory.mktemp("transfer")
    tiny_set(root / "source", "kinect_v1", 4)
    tiny_set(root / "target", "kinect_v1", 3, seed=1)
    tiny_set(root / "msr", "msr_action3d", 3, seed=2)
    sets = ["--set", f"data.path={root / 'source'}", "--set", f"out_dir={root / 'runs'}", "--set", "name=p"]
    assert main(["pretrain", "smoke", *sets, *[a for o in TINY for a in ("--set", o)]]) == 0
    return root


def test_transfer_one_run_writes_beside_it(pretrained, capsys):
    root = pretrained
    assert main(["transfer", str(root / "runs" / "p"), "--target", str(root / "target"), *EVAL]) == 0
    record = json.loads((root / "runs" / "p" / "transfer_target_xsub.json").read_text())
    assert set(record["protocols"]) == {"linear", "knn", "finetune"}
    assert record["config"]["data"]["path"] == str((root / "target").resolve()) and record["checkpoint_epoch"] == 1
    # another joint order is refused in one line that says how to fix it
    assert main(["transfer", str(root / "runs" / "p"), "--target", str(root / "msr")]) == 2
    err = capsys.readouterr().err
    assert "asma data relayout" in err and "Traceback" not in err


def _study_folder(root, study_dir):
    """A study folder of one pretrained run (its checkpoint in the Tune folder), a raw-input row and a
    ceiling row, as `asma ablate` leaves it."""
    trial = study_dir / "tune" / "asma__source__seed0_0001" / "checkpoint_000000"
    trial.mkdir(parents=True)
    shutil.copy(next((root / "runs" / "p" / "checkpoints").glob("*.pt")), trial / "checkpoint.pt")
    config = json.loads(json.dumps(__import__("yaml").safe_load((root / "runs" / "p" / "config.yaml").read_text())))
    variants = {"raw": {"label": "raw", "default": False, "reference": "raw"},
                "asma": {"label": "ASMa", "default": True, "reference": None},
                "ceiling": {"label": "ceiling", "default": False, "reference": "ceiling"}}
    runs = ["raw__source__seed0", "asma__source__seed0", "ceiling__source__seed0"]
    study = {"name": "s", "source": "s.yaml", "description": "", "default": "asma", "seeds": [0],
             "protocols": ["linear", "knn"], "variants": variants,
             "factors": [{"name": "f", "variants": list(variants)}], "datasets": [{"name": "source", "path": "x"}],
             "resources": {"cpus": 1, "gpus": 0}, "runs": runs, "epochs": {r: 1 for r in runs}}
    (study_dir / "runs").mkdir()
    (study_dir / "study.json").write_text(json.dumps(study))
    for run in runs:
        variant = run.split("__")[0]
        (study_dir / "runs" / f"{run}.json").write_text(json.dumps(
            {"run": run, "variant": variant, "dataset": "source", "seed": 0, "metrics": {}, "config": config,
             "pretrain": {"epochs": 0 if variant != "asma" else 1}}))
    return study_dir


def test_transfer_a_study_folder_is_a_study_asma_report_reads(pretrained):
    root = pretrained
    study_dir = _study_folder(root, root / "study")
    transfer_study(study_dir, root / "target", "xsub", ["linear"], ["eval.epochs=2", "eval.batch_size=8"])
    out = transfer_study(study_dir, root / "target", "xsub", ["linear", "knn"],  # a protocol more: evaluated again
                         ["eval.epochs=2", "eval.batch_size=8"])
    results = load_results(out)
    assert sorted(r["run"] for r in results.rows) == ["asma__target__seed0", "raw__target__seed0"]  # no ceiling
    assert all(set(r["metrics"]) == {"linear", "knn"} for r in results.rows)
    assert results.study["datasets"][0]["name"] == "target" and "ceiling" not in results.study["variants"]
    first = (out / "runs" / "asma__target__seed0.json").read_bytes()
    transfer_study(study_dir, root / "target", "xsub", ["linear", "knn"], [])  # finished runs are kept
    assert (out / "runs" / "asma__target__seed0.json").read_bytes() == first


def test_saved_encoders_transfer_as_the_checkpoint_does_without_it(pretrained, tmp_path, capsys):
    """`asma save-encoders`: the study's encoders beside its records, a fraction of a checkpoint; with
    the checkpoints gone (a fresh clone), transfer reads them and scores as before."""
    root = pretrained
    study_dir = _study_folder(root, tmp_path / "study")
    protocols, evaluation = ["linear", "knn"], ["eval.epochs=2", "eval.batch_size=8"]
    with_checkpoint = load_results(transfer_study(study_dir, root / "target", "xsub", protocols, evaluation)).rows
    assert main(["save-encoders", str(study_dir)]) == 0
    saved = study_dir / "encoders" / "asma__source__seed0.pt"
    assert sorted(p.name for p in (study_dir / "encoders").iterdir()) == [saved.name]  # no reference row
    checkpoint = next((study_dir / "tune").rglob("checkpoint.pt"))
    assert saved.stat().st_size < checkpoint.stat().st_size / 2
    assert main(["save-encoders", str(study_dir)]) == 0 and "0 written" in capsys.readouterr().out

    shutil.rmtree(study_dir / "tune")
    shutil.rmtree(study_dir / "transfer")
    without = load_results(transfer_study(study_dir, root / "target", "xsub", protocols, evaluation)).rows
    assert {r["run"]: r["metrics"] for r in without} == {r["run"]: r["metrics"] for r in with_checkpoint}
    evaluated = json.loads((study_dir / "transfer" / "target_xsub" / "evals" / "asma__target__seed0.json").read_text())
    assert evaluated["source"] == str(saved)


def test_saved_encoders_of_another_run_are_refused(pretrained, tmp_path, capsys):
    root = pretrained
    study_dir = _study_folder(root, tmp_path / "study")
    assert main(["save-encoders", str(study_dir)]) == 0
    shutil.rmtree(study_dir / "tune")
    record_path = study_dir / "runs" / "asma__source__seed0.json"
    record = json.loads(record_path.read_text())
    record["config"]["train"]["epochs"] = 7  # the run was trained again with another config
    record_path.write_text(json.dumps(record))
    assert main(["transfer", str(study_dir), "--target", str(root / "target"), "--protocols", "linear"]) == 2
    err = capsys.readouterr().err
    assert "asma__source__seed0.pt: saved from another run" in err and "asma save-encoders" in err
    assert "Traceback" not in err
    assert main(["save-encoders", str(study_dir)]) == 1  # nothing to save it from: named, not a crash
    assert "not saved asma__source__seed0" in capsys.readouterr().out
