"""Resuming a run folder (asma/training/resume.py): `asma pretrain` continues a run only with the config
it trained with, up to the keys that cannot change its weights; a refused resume is one line that names
the keys (old -> new) and leaves the folder as it was."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from asma.cli.main import main
from asma.config.loading import load_config
from asma.errors import AsmaError
from asma.evaluation.proxy import proxy_knn
from asma.training.local import run_dir_for, save_config
from asma.training.resume import check_resume, epochs_trained

TINY = ["data.window=12", "data.synthetic.num_classes=3", "data.synthetic.samples_per_class=8",
        "encoder.base_channels=4", "encoder.feature_dim=16", "encoder.depth=2", "projector.dim=32",
        "train.batch_size=4", "train.max_steps_per_epoch=2", "train.threads=1", "eval.knn_k=3"]


def sets(tmp_path: Path, *overrides: str) -> list[str]:
    """`--set` items of a tiny smoke run in tmp_path/runs/resumed."""
    return [f"out_dir={tmp_path / 'runs'}", f"data.cache_dir={tmp_path.parent / 'resume-cache'}", "name=resumed",
            "train.epochs=2", *TINY, *overrides]


def pretrain(tmp_path: Path, *overrides: str) -> int:
    return main(["pretrain", "smoke", *[a for s in sets(tmp_path, *overrides) for a in ("--set", s)]])


def trained_folder(tmp_path: Path, *overrides: str, epochs: int = 2) -> Path:
    """A run folder as a run of `overrides` leaves it after `epochs` epochs, without training one."""
    cfg = load_config("smoke", sets(tmp_path, *overrides))
    run_dir = run_dir_for(cfg)
    (run_dir / "checkpoints").mkdir(parents=True)
    save_config(cfg, run_dir)
    (run_dir / "checkpoints" / "latest.json").write_text(json.dumps({"path": "x.pt", "epoch": epochs}))
    return run_dir


def refusal(tmp_path: Path, *overrides: str) -> str:
    with pytest.raises(AsmaError) as e:
        check_resume(load_config("smoke", sets(tmp_path, *overrides)), run_dir_for(load_config("smoke", sets(tmp_path))))
    return str(e.value)


def test_a_resume_with_another_learning_rate_is_refused_and_leaves_the_run_as_it_was(tmp_path, capsys, monkeypatch):
    """The issue's first case, end to end: two runs differing in optim.lr and train.epochs. The second
    ends in one line naming the key, old -> new, and the fix; config.yaml and metrics.jsonl are as the
    first run left them."""
    monkeypatch.setenv("COLUMNS", "1000")  # rich wraps long lines at the terminal's width
    assert pretrain(tmp_path) == 0
    run_dir = tmp_path / "runs" / "resumed"
    assert f"pretraining into {run_dir}" in capsys.readouterr().out
    before = {f: (run_dir / f).read_bytes() for f in ("config.yaml", "metrics.jsonl")}
    assert pretrain(tmp_path, "optim.lr=0.01", "train.epochs=4") == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert str(run_dir) in err and "optim.lr: 0.002 -> 0.01" in err and "--set name=" in err
    assert "train.epochs" not in err  # more epochs alone extend a run
    assert {f: (run_dir / f).read_bytes() for f in before} == before
    assert pretrain(tmp_path, "train.epochs=3") == 0  # more epochs: the run goes on
    assert f"resuming {run_dir} from epoch 2" in capsys.readouterr().out
    assert [json.loads(line)["epoch"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]
    assert "epochs: 3" in (run_dir / "config.yaml").read_text()


def test_other_data_or_masking_views_are_named(tmp_path):
    """The issue's other cases: another data set, other views (which ended in a state_dict traceback)."""
    trained_folder(tmp_path)
    other = tmp_path / "utkinect"
    assert "data.path: \"synthetic\" -> " + json.dumps(str(other)) in refusal(tmp_path, f"data.path={other}")
    assert 'masking.views: ["a", "b"] -> ["a"]' in refusal(tmp_path, "masking.views=[a]")


def test_keys_that_cannot_change_the_weights_may_differ(tmp_path):
    """Where the run is tracked, evaluated and on how many workers it runs, and more epochs."""
    run_dir = trained_folder(tmp_path)
    cfg = load_config("smoke", sets(tmp_path, "train.epochs=5", "tracking.backend=none", "eval.knn_k=5",
                                    "ray.workers=2", "ray.cpus_per_worker=2", "data.loader_workers=1"))
    assert check_resume(cfg, run_dir) == 2


def test_fewer_epochs_than_trained_are_refused(tmp_path):
    """A config claiming 1 epoch for a run that trained 2 would be a false record."""
    trained_folder(tmp_path, "train.epochs=4", epochs=2)
    message = refusal(tmp_path, "train.epochs=1")
    assert "train.epochs: 4 -> 1" in message and "trained 2 epochs" in message


def test_a_folder_with_nothing_trained_takes_any_config(tmp_path):
    """A run that failed before its first epoch (a wrong data.path, say) is started again with the fix."""
    cfg = load_config("smoke", sets(tmp_path))
    run_dir = run_dir_for(cfg)
    run_dir.mkdir(parents=True)
    save_config(cfg, run_dir)
    assert epochs_trained(run_dir) == 0
    assert check_resume(load_config("smoke", sets(tmp_path, "optim.lr=0.01")), run_dir) == 0


def test_a_ray_run_is_refused_before_ray_starts(tmp_path):
    """pretrain_on_ray checks the run folder first: no cluster is joined or started for a refusal."""
    import ray

    from asma.training.ray_trainer import pretrain_on_ray

    if ray.is_initialized():
        pytest.skip("another test's Ray is running in this process")
    run_dir = trained_folder(tmp_path)
    before = (run_dir / "config.yaml").read_bytes()
    with pytest.raises(AsmaError, match="optim.lr"):
        pretrain_on_ray(load_config("smoke", sets(tmp_path, "optim.lr=0.01", "ray.workers=2")), proxy=proxy_knn)
    assert not ray.is_initialized()
    assert (run_dir / "config.yaml").read_bytes() == before
