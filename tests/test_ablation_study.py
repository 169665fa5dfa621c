"""Study YAML: validation before anything runs, the runs and configs it expands to, skip logic."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from asma.ablation.runner import finished_runs, run_specs
from asma.ablation.study_file import load_study
from asma.errors import AsmaError, ConfigError
from asma.experiments.evaluate import columns_of_record

ABLATIONS = Path(__file__).resolve().parents[1] / "ablations"

TINY = {
    "base": "smoke",
    "variants": {"pstl": {"masking.views": ["pstl"]}, "asma": {"masking.views": ["a", "b"], "default": True}},
    "factors": [{"name": "strategy", "variants": ["pstl", "asma"]}],
    "seeds": 2,
    "protocols": ["knn"],
}


def write_study(tmp_path: Path, study: dict, name: str = "tiny") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


def prepared_stub(folder: Path, splits: dict | None = None) -> Path:
    """A folder that passes for a prepared set where a study loads: the files, splits.json real."""
    from asma.data.format import REQUIRED_FILES

    folder.mkdir(parents=True, exist_ok=True)
    for name in REQUIRED_FILES:
        (folder / name).touch()
    (folder / "splits.json").write_text(json.dumps(splits or {"xsub": {"train": [0], "test": [1]}}))
    return folder


def test_runs_and_configs(tmp_path):
    study = load_study(write_study(tmp_path, {**TINY, "overrides": {"data.cache_dir": str(tmp_path)}}))
    assert study.name == "tiny" and study.default == "asma"
    runs = study.runs()
    assert [r.run_id for r in runs] == ["pstl__synthetic__seed0", "pstl__synthetic__seed1",
                                        "asma__synthetic__seed0", "asma__synthetic__seed1"]
    cfg = study.config_for(runs[1])
    assert cfg.masking.views == ["pstl"] and cfg.train.seed == 1 and cfg.eval.seed == 1
    # trials start seed by seed, so that a study stopped part way has every row at the same seeds
    from asma.ablation.runner import in_seed_order

    specs = run_specs(study, tmp_path / "out")
    assert in_seed_order(list(specs), specs) == ["pstl__synthetic__seed0", "asma__synthetic__seed0",
                                                 "pstl__synthetic__seed1", "asma__synthetic__seed1"]
    assert cfg.train.threads == 1 and Path(cfg.out_dir).is_absolute() and cfg.data.cache_dir == str(tmp_path)
    assert cfg.train.device == "cpu"  # no GPU asked for: none used even on a GPU node
    assert study.config_for(runs[2]).masking.views == ["a", "b"]


def test_cli_options_replace_the_files(tmp_path):
    prepared_stub(tmp_path)
    study = load_study(write_study(tmp_path, TINY), seeds=3, data=str(tmp_path), base="laptop",
                       protocols=["knn", "linear"], cpus=2, overrides=["train.epochs=1"])
    assert study.seeds == [0, 1, 2] and len(study.runs()) == 6
    assert study.datasets[0].path == str(tmp_path.resolve())
    assert study.protocols == ["knn", "linear"] and study.resources.cpus == 2
    assert study.base["train"]["epochs"] == 1 and study.base["train"]["batch_size"] == 64  # laptop's


def test_unknown_override_names_file_variant_and_key(tmp_path):
    bad = {**TINY, "variants": {**TINY["variants"], "typo": {"masking.specs.a.joints.ratoi": 0.1}}}
    path = write_study(tmp_path, bad)
    with pytest.raises(ConfigError) as err:
        load_study(path)
    text = str(err.value)
    assert str(path) in text and "'typo'" in text and "ratoi" in text


def test_out_of_range_override_is_an_error(tmp_path):
    bad = {**TINY, "variants": {**TINY["variants"], "big": {"masking.specs.a.joints.ratio": 1.5}}}
    with pytest.raises(ConfigError, match="variant 'big'"):
        load_study(write_study(tmp_path, bad))


@pytest.mark.parametrize("change, message", [
    ({"variants": {"a": {"masking.views": ["a"]}}}, "exactly one variant"),
    ({"variants": {"a": {"default": True}, "b": {"default": True}}}, "exactly one variant"),
    ({"variants": {"a": {"default": True, "views": ["a"]}}}, "not a dotted config key"),
    ({"variants": {"a__b": {"default": True}}}, "without '__'"),
    ({"factors": [{"name": "f", "variants": ["nope"]}]}, "unknown variants"),
    ({"protocols": ["knn", "lineer"]}, "unknown protocols"),
    ({"seeds": [1, 1]}, "without repeats"),
    ({"budgett": {"epochs": 1}}, "unknown key"),
    ({"base": "no_such_preset"}, "unknown preset"),
    ({"variants": {"a": {"default": True}, "f": {"reference": "flor"}}}, "choose floor, raw or ceiling"),
    ({"variants": {"a": {"default": True, "reference": "floor"}}}, "cannot be the default"),
])
def test_bad_studies_fail_on_load(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        load_study(write_study(tmp_path, {**TINY, **change}))


def test_shipped_studies_load(tmp_path):
    teacher = fake_teacher_record(tmp_path)
    for path in sorted(ABLATIONS.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text())
        if any(d["path"] != "synthetic" and not Path(d["path"]).exists() for d in raw["datasets"]):
            with pytest.raises(ConfigError, match="no such data set folder"):  # real data, not prepared here
                load_study(path)
            here = {"check_data": False}
        else:
            here = {}
        if path.stem == "protocols":  # transfer needs a prepared target set, absent here
            with pytest.raises(ConfigError, match="eval.transfer_data"):
                load_study(path, **here)
            study = load_study(path, protocols=["knn", "linear", "finetune", "semi"], **here)
        elif "distill.teacher" in raw.get("overrides", {}):
            study = load_study(path, overrides=[f"distill.teacher={teacher}"], **here)  # another study's run
            assert study.protocols == ["distill"]
        else:
            study = load_study(path, **here)
        assert study.default in study.variants and len(study.runs()) >= 2
        for factor in study.factors:
            assert set(factor.names) <= set(study.variants)


def test_finished_runs_are_skipped_and_stale_ones_refused(tmp_path):
    study = load_study(write_study(tmp_path, TINY))
    specs = run_specs(study, tmp_path)
    assert finished_runs(specs) == set()
    first = next(iter(specs.values()))
    Path(first["result_path"]).parent.mkdir(parents=True)
    Path(first["result_path"]).write_text(json.dumps({"config": first["config"], "metrics": {}}))
    assert finished_runs(specs) == {first["run"]}
    moved = json.loads(json.dumps(first["config"]))  # the same run, driven from another folder
    moved["data"]["cache_dir"], moved["ray"]["storage_path"] = "/elsewhere/cache", "/elsewhere/ray"
    moved["name"] = "other_study.asma__synthetic__seed0"  # the same run, named by another study
    Path(first["result_path"]).write_text(json.dumps({"config": moved, "metrics": {}}))
    assert finished_runs(specs) == {first["run"]}
    stale = json.loads(json.dumps(first["config"]))
    stale["train"]["epochs"] += 1
    Path(first["result_path"]).write_text(json.dumps({"config": stale, "metrics": {}}))
    with pytest.raises(AsmaError, match="train.epochs"):
        finished_runs(specs)


def test_a_run_recorded_on_another_machine_is_finished_by_its_data_not_its_path(tmp_path):
    """A study resumed from its committed run records in another checkout: the prepared set lies at
    another absolute path there; the same data counts, other data at the same path does not."""
    from tests.test_fingerprint import prepared

    data = prepared(tmp_path / "here" / "msr")
    study = load_study(write_study(tmp_path, {**TINY, "datasets": [{"name": "msr", "path": str(data), "split": "xsub"}]}))
    specs = run_specs(study, tmp_path / "study")
    first = next(iter(specs.values()))
    assert first["data_fingerprint"] is not None
    elsewhere = json.loads(json.dumps(first["config"]))
    elsewhere["data"]["path"] = "/another/checkout/data/msr"  # not on this machine
    record = Path(first["result_path"])
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"config": elsewhere, "metrics": {}, "data_fingerprint": first["data_fingerprint"]}))
    assert finished_runs({first["run"]: first}) == {first["run"]}
    # no fingerprint recorded (an older record) and the path gone: only the path can say, and it differs
    record.write_text(json.dumps({"config": elsewhere, "metrics": {}}))
    with pytest.raises(AsmaError, match="data.path"):
        finished_runs({first["run"]: first})
    # no fingerprint recorded, the old path still there with the same data: the data decides, and
    # the record gains the fingerprint, so that it still counts once that path is gone
    shutil.copytree(data, tmp_path / "old" / "msr")
    elsewhere["data"]["path"] = str(tmp_path / "old" / "msr")
    record.write_text(json.dumps({"config": elsewhere, "metrics": {}}))
    assert finished_runs({first["run"]: first}) == {first["run"]}
    assert json.loads(record.read_text())["data_fingerprint"] == first["data_fingerprint"]
    shutil.rmtree(tmp_path / "old")
    assert finished_runs({first["run"]: first}) == {first["run"]}
    # the set prepared again in place with other numbers: the same path, other data
    record.write_text(json.dumps({"config": first["config"], "metrics": {}, "data_fingerprint": first["data_fingerprint"]}))
    prepared(data, scale=2.0)
    respec = run_specs(study, tmp_path / "study")
    with pytest.raises(AsmaError, match="prepared again"):
        finished_runs(respec)


def test_protocol_columns():
    record = {"protocols": {"linear": {"top1": 50.0}, "semi": {"fractions": {"0.01": {"top1": 10.0}, "0.1": {"top1": 20.0}}}}}
    assert columns_of_record(record) == {"linear": 50.0, "semi_1%": 10.0, "semi_10%": 20.0}


def test_a_changed_supervised_recipe_only_invalidates_runs_that_train_with_it(tmp_path):
    study = load_study(write_study(tmp_path, TINY))
    first = next(iter(run_specs(study, tmp_path).values()))
    changed = json.loads(json.dumps(first["config"]))
    changed["supervised"]["epochs"] += 1
    changed["student"]["depth"] += 1
    Path(first["result_path"]).parent.mkdir(parents=True)
    Path(first["result_path"]).write_text(json.dumps({"config": changed, "metrics": {}}))
    assert "supervised" not in first["protocols"] and first["reference"] is None
    assert finished_runs({first["run"]: first}) == {first["run"]}  # a pretraining run: not what ran
    for spec in ({**first, "reference": "ceiling"}, {**first, "protocols": [*first["protocols"], "supervised"]}):
        with pytest.raises(AsmaError, match="supervised.epochs"):
            finished_runs({first["run"]: spec})
    with pytest.raises(AsmaError, match="student.depth"):
        finished_runs({first["run"]: {**first, "protocols": [*first["protocols"], "distill"]}})


def test_a_key_the_schema_gained_after_a_run_keeps_it_finished_at_its_default(tmp_path):
    study = load_study(write_study(tmp_path, TINY))
    first = next(iter(run_specs(study, tmp_path).values()))
    older = json.loads(json.dumps(first["config"]))
    del older["data"]["sampling"], older["data"]["normalise"]  # a record written before these keys existed
    Path(first["result_path"]).parent.mkdir(parents=True)
    Path(first["result_path"]).write_text(json.dumps({"config": older, "metrics": {}}))
    assert finished_runs({first["run"]: first}) == {first["run"]}
    first["config"]["data"]["sampling"] = "uniform"  # not the default: the old run did not sample this way
    with pytest.raises(AsmaError, match="data.sampling"):
        finished_runs({first["run"]: first})



def test_masks_and_projector_did_not_run_in_a_run_that_does_not_pretrain(tmp_path):
    study = load_study(write_study(tmp_path, TINY))
    first = next(iter(run_specs(study, tmp_path).values()))
    changed = json.loads(json.dumps(first["config"]))
    changed["masking"]["sample_joints"] = "cut"
    changed["projector"]["dim"] += 16
    Path(first["result_path"]).parent.mkdir(parents=True)
    Path(first["result_path"]).write_text(json.dumps({"config": changed, "metrics": {}}))
    for spec in ({**first, "reference": "floor"}, {**first, "protocols": ["supervised"]}):
        assert finished_runs({first["run"]: spec}) == {first["run"]}
    with pytest.raises(AsmaError, match="masking.sample_joints"):  # a pretraining run: they ran
        finished_runs({first["run"]: first})


def fake_teacher_record(tmp_path: Path) -> Path:
    """An ablation run's record beside its Tune trial's checkpoint file (contents not read on load)."""
    study = tmp_path / "teacher_study"
    ckpt = study / "tune" / "asma__synthetic__seed0_abc12_00000" / "checkpoint_000001" / "checkpoint.pt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"x")
    (study / "runs").mkdir()
    (study / "runs" / "asma__synthetic__seed0.json").write_text('{"run": "asma__synthetic__seed0"}')
    return study / "runs" / "asma__synthetic__seed0.json"


def test_a_fixed_teacher_study_only_distils_a_teacher_that_exists(tmp_path):
    teacher = fake_teacher_record(tmp_path)
    fixed = {**TINY, "overrides": {"distill.teacher": str(teacher)}, "protocols": ["distill"]}
    study = load_study(write_study(tmp_path, fixed))
    specs = run_specs(study, tmp_path / "out")
    assert {s["config"]["distill"]["seed"] for s in specs.values()} == {0, 1}  # the seed varies the student
    assert all(s["config"]["distill"]["teacher"] == str(teacher.resolve()) for s in specs.values())
    with pytest.raises(ConfigError, match=r"protocols: \[distill\] only") as err:
        load_study(write_study(tmp_path, {**fixed, "protocols": ["linear", "distill"]}))
    assert err.value.key == "distill.teacher"
    with pytest.raises(ConfigError, match="no such run folder") as err:
        load_study(write_study(tmp_path, {**fixed, "overrides": {"distill.teacher": str(tmp_path / "gone")}}))
    assert err.value.key == "distill.teacher"


def finished_source(tmp_path: Path, study, specs: dict, protocols=("knn",), change=None) -> Path:
    """Another study's folder holding every run of `specs` finished (its config changed by `change`)."""
    source = tmp_path / "source"
    (source / "runs").mkdir(parents=True)
    (source / "evals").mkdir()
    (source / "study.json").write_text(json.dumps(study.to_dict()))
    for run_id, spec in specs.items():
        config = json.loads(json.dumps(spec["config"]))
        if change:
            change(config)
        (source / "runs" / f"{run_id}.json").write_text(json.dumps(
            {"run": run_id, "variant": spec["variant"], "dataset": spec["dataset"], "seed": spec["seed"],
             "config": config, "metrics": {"knn": 42.0}}))
        (source / "evals" / f"{run_id}.json").write_text(json.dumps(
            {"protocols": {p: {"top1": 42.0} for p in protocols}}))
    (source / "evals" / f"{next(iter(specs))}.student").mkdir()
    (source / "evals" / f"{next(iter(specs))}.student" / "distill.json").write_text("{}")
    (source / "evals" / f"{next(iter(specs))}.scores.npz").write_bytes(b"the probe's per-clip scores")
    return source


def test_reuse_copies_the_same_runs_from_another_study_and_names_the_ones_that_differ(tmp_path):
    from asma.ablation.reuse import reuse_runs
    from asma.ablation.runner import run_study

    study = load_study(write_study(tmp_path, TINY))
    here = tmp_path / "here"
    specs = run_specs(study, here)
    source = finished_source(tmp_path, study, specs)
    first, second = list(specs)[:2]
    reused = reuse_runs(specs, [first], [source])  # only what is pending is copied
    assert set(reused.copied) == {first} and not reused.differ
    copied = json.loads(Path(specs[first]["result_path"]).read_text())
    assert copied["reused_from"] == str(source) and copied["metrics"] == {"knn": 42.0}
    assert (here / "evals" / f"{first}.json").exists() and (here / "evals" / f"{first}.student" / "distill.json").exists()
    assert (here / "evals" / f"{first}.scores.npz").read_bytes() == b"the probe's per-clip scores"  # fused rows read it
    assert not Path(specs[second]["result_path"]).exists()
    assert finished_runs(specs) == {first}  # a copied run is a finished run of this study
    # run_study copies the rest and, with nothing left to train, never starts Ray
    outcome = run_study(study, out_dir=tmp_path / "out", reuse=[source])
    assert sorted(outcome.skipped) == sorted(specs) and not outcome.finished and not outcome.failed
    import csv
    import io

    from asma.reports.results import load_results, results_csv

    rows = list(csv.DictReader(io.StringIO(results_csv(load_results(outcome.run_dir)))))
    assert len(rows) == len(specs) and all(r["reused_from"] == str(source) for r in rows)  # the CSV says so
    # again, with nothing left to copy: it names the folder it was given (a Path, as the CLI passes it)
    from rich.console import Console

    console = Console(record=True, width=400)
    again = run_study(study, out_dir=tmp_path / "out", reuse=[source], console=console)
    assert sorted(again.skipped) == sorted(specs)
    assert f"0 finished runs copied from {source}" in console.export_text()


@pytest.mark.parametrize("case, reason", [
    ("config", "config differs in train.epochs"),
    ("protocol", "not evaluated with knn"),
    ("role", "a floor row there, a pretrained row here"),
])
def test_reuse_refuses_a_run_that_is_not_the_same(tmp_path, case, reason):
    from asma.ablation.reuse import reuse_runs

    study = load_study(write_study(tmp_path, TINY))
    specs = run_specs(study, tmp_path / "here")
    source = finished_source(tmp_path, study, specs, protocols=("linear",) if case == "protocol" else ("knn",),
                             change=(lambda c: c["train"].update(epochs=c["train"]["epochs"] + 1)) if case == "config" else None)
    if case == "role":
        record = json.loads((source / "study.json").read_text())
        record["variants"]["asma"]["reference"] = "floor"
        (source / "study.json").write_text(json.dumps(record))
    run_id = next(r for r in specs if r.startswith("asma"))
    reused = reuse_runs(specs, [run_id], [source])
    assert not reused.copied and reason in reused.differ[run_id]
    assert not Path(specs[run_id]["result_path"]).exists()


@pytest.mark.parametrize("student_record", [True, False])
def test_reuse_takes_a_distillation_run_by_its_student_s_record(tmp_path, student_record):
    """A run that distils a fixed teacher writes no evals/<run>.json: its evaluation is the student's
    record, evals/<run>.student/distill.json. Such a run is reused when that record is there (it was
    refused as 'not evaluated with distill' whatever it held), and refused when it is not."""
    from asma.ablation.reuse import reuse_runs

    teacher = fake_teacher_record(tmp_path)
    fixed = {**TINY, "overrides": {"distill.teacher": str(teacher)}, "protocols": ["distill"]}
    study = load_study(write_study(tmp_path, fixed))
    specs = run_specs(study, tmp_path / "here")
    source = finished_source(tmp_path, study, specs)
    for run_id in specs:
        (source / "evals" / f"{run_id}.json").unlink()
        student = source / "evals" / f"{run_id}.student"
        student.mkdir(exist_ok=True)
        if student_record:
            (student / "distill.json").write_text("{}")
        else:
            (student / "distill.json").unlink(missing_ok=True)
    outcome = reuse_runs(specs, list(specs), [source])
    if student_record:
        assert set(outcome.copied) == set(specs) and not outcome.differ
        assert all((tmp_path / "here" / "evals" / f"{r}.student" / "distill.json").exists() for r in specs)
    else:
        assert not outcome.copied and all("not evaluated with distill" in why for why in outcome.differ.values())


def test_reuse_names_a_folder_that_is_not_a_study(tmp_path):
    from asma.ablation.reuse import reuse_runs
    from asma.errors import InputFileError

    study = load_study(write_study(tmp_path, TINY))
    specs = run_specs(study, tmp_path / "here")
    with pytest.raises(InputFileError, match="not a study folder"):
        reuse_runs(specs, list(specs), [tmp_path])


def test_an_interrupted_resume_does_not_start_a_fresh_experiment(tmp_path, monkeypatch):
    """Ctrl-C during `--resume`: Tune saves its state and returns with trials unended; the runner
    stops there instead of fitting the pending runs anew over the saved experiment."""
    from ray import tune

    import asma.ablation.runner as runner

    study = load_study(write_study(tmp_path, TINY))
    calls = []
    monkeypatch.setattr(tune.Tuner, "can_restore", classmethod(lambda cls, path: True))
    monkeypatch.setattr(runner, "start_ray", lambda *a, **k: None)
    monkeypatch.setattr(runner, "prepare_data", lambda specs: None)
    monkeypatch.setattr(runner, "_fit", lambda *a, restore, **k: calls.append(restore) or False)
    outcome = runner.run_study(study, out_dir=tmp_path / "out", resume=True)
    assert calls == [True] and not outcome.failed and sorted(outcome.interrupted) == sorted(r.run_id for r in study.runs())


def test_a_fused_variant_runs_nothing_and_names_its_members(tmp_path):
    fused = {**TINY, "protocols": ["linear"],
             "variants": {**TINY["variants"], "both": {"fuse": ["pstl", "asma"], "label": "PSTL + ASMa"}}}
    study = load_study(write_study(tmp_path, fused))
    assert {r.variant for r in study.runs()} == {"pstl", "asma"}
    assert study.to_dict()["variants"]["both"]["fuse"] == ["pstl", "asma"]


@pytest.mark.parametrize("variant, protocols, message", [
    ({"fuse": ["pstl"]}, ["linear"], "two or more"),
    ({"fuse": ["pstl", "nope"]}, ["linear"], "unknown variant 'nope'"),
    ({"fuse": ["pstl", "asma"], "masking.views": ["a"]}, ["linear"], "runs nothing"),
    ({"fuse": ["pstl", "asma"]}, ["knn"], "add linear"),
])
def test_a_fused_variant_is_checked_on_load(tmp_path, variant, protocols, message):
    bad = {**TINY, "protocols": protocols, "variants": {**TINY["variants"], "both": variant}}
    with pytest.raises(ConfigError, match=message):
        load_study(write_study(tmp_path, bad))


@pytest.mark.parametrize("supervised, reused", [(True, True), (False, False)])
def test_reuse_takes_a_ceiling_by_its_supervised_evaluation(tmp_path, supervised, reused):
    """A ceiling row trains once with labels (`supervised`) and that top-1 stands in its linear and
    kNN columns: it is the same run wherever its record says so, not 'not evaluated with linear'."""
    from asma.ablation.reuse import reuse_runs

    ceiling = {**TINY, "protocols": ["linear", "knn"],
               "variants": {**TINY["variants"], "ceiling": {"masking.views": ["none"], "reference": "ceiling"}}}
    study = load_study(write_study(tmp_path, ceiling))
    specs = run_specs(study, tmp_path / "here")
    source = finished_source(tmp_path, study, specs, protocols=("supervised",) if supervised else ())
    run_id = next(r for r in specs if r.startswith("ceiling"))
    result = json.loads((source / "runs" / f"{run_id}.json").read_text())
    result["metrics"] = {"linear": 80.0, "knn": 80.0}
    (source / "runs" / f"{run_id}.json").write_text(json.dumps(result))
    outcome = reuse_runs(specs, [run_id], [source])
    assert (run_id in outcome.copied) is reused
    if not reused:
        assert "not evaluated with supervised" in outcome.differ[run_id]


def test_every_problem_of_a_study_in_one_error(tmp_path):
    """Five mistakes in five layers (schema, factor names, a variant's config key, a data path, a
    split name) come in one error, a line each naming the file and the key."""
    prepared_stub(tmp_path / "msr", {"xview": {"train": [0], "test": [1]}})
    bad = {**TINY, "protocols": ["knn", "lineer"], "budget": {"epoch": 2},
           "factors": [{"name": "strategy", "variants": ["pstl", "asma", "nope"]}],
           "variants": {**TINY["variants"], "pstl": {"masking.viewz": ["pstl"]}},
           "datasets": [{"name": "gone", "path": str(tmp_path / "gone")},
                        {"name": "msr", "path": str(tmp_path / "msr"), "split": "xsub"}]}
    path = write_study(tmp_path, bad)
    with pytest.raises(ConfigError) as err:
        load_study(path)
    keys = [key for key, _ in err.value.problems]
    assert keys == ["protocols", "budget.epoch", "factors[strategy]", "variant 'pstl': masking.viewz",
                    "datasets[gone]", "datasets[msr]"]
    lines = str(err.value).splitlines()
    assert len(lines) == 1 + 6 and all(line.startswith(f"  {path}: ") for line in lines[1:])
    problems = dict(err.value.problems)
    assert "no such data set folder" in problems["datasets[gone]"]
    assert "no split 'xsub'; choose one of: all, xview" in problems["datasets[msr]"]
    assert "allowed: epochs" in problems["budget.epoch"]


def test_a_split_a_variant_chooses_is_looked_up_too(tmp_path):
    prepared_stub(tmp_path / "msr")
    fine = {**TINY, "datasets": [{"name": "msr", "path": str(tmp_path / "msr")}]}
    assert load_study(write_study(tmp_path, fine)).datasets[0].path == str(tmp_path / "msr")
    odd = {**fine, "variants": {**TINY["variants"], "pstl": {"masking.views": ["pstl"], "data.split": "xview"}}}
    with pytest.raises(ConfigError, match="no split 'xview'"):
        load_study(write_study(tmp_path, odd))
    assert load_study(write_study(tmp_path, odd), check_data=False).variants["pstl"].overrides["data.split"] == "xview"
