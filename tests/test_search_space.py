"""Search-space files: validation before any trial, Optuna's define-by-run, best trial and Pareto front."""
from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import yaml

from asma.cli.main import main
from asma.errors import ConfigError
from asma.search.space import DefineByRun, asha_rungs, load_space
from asma.search.summary import best_trial, pareto_front

SPACES = Path(__file__).resolve().parent.parent / "search_spaces"
A = "masking.specs.a.joints"


def write_space(tmp_path: Path, **changes) -> Path:
    raw = {"base": "smoke", "overrides": {"out_dir": str(tmp_path / "runs"), "data.split": "xsub_val"},
           "params": {f"{A}.ratio": {"type": "float", "low": 0.1, "high": 0.5}},
           "budget": {"trials": 3, "epochs": 2}}
    raw.update(changes)
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.mark.parametrize("name", ["masking", "alignment", "student", "full"])
def test_shipped_spaces_load(name):
    space = load_space(SPACES / f"{name}.yaml")
    b, train = space.spec.budget, space.base.train
    # the kNN proxy is measured at ASHA's rungs and the end, and carried between (Tune wants it every epoch)
    assert (train.eval_every, train.eval_report) == (0, "latest")
    assert train.eval_epochs == (asha_rungs(b.grace_period, space.epochs, b.reduction_factor)
                                 if space.early_stopping else [])
    assert space.params and space.trials >= 1


def test_asha_rungs_are_ray_s_and_every_epoch_keeps_full_curves(tmp_path):
    from ray.tune.schedulers.async_hyperband import _Bracket

    for grace, max_t, factor in [(10, 60, 3), (1, 3, 3), (2, 10, 2), (1, 9, 3), (5, 5, 2)]:
        assert asha_rungs(grace, max_t, factor) == sorted(m for m, _ in _Bracket(grace, max_t, factor, 0)._rungs)
    space = load_space(write_space(tmp_path, budget={"trials": 3, "epochs": 12, "grace_period": 2,
                                                     "reduction_factor": 3}))
    assert space.base.train.eval_epochs == [2, 6]
    every = load_space(write_space(tmp_path, budget={"trials": 3, "epochs": 12, "proxy": "every_epoch"}))
    assert (every.base.train.eval_every, every.base.train.eval_report) == (1, "measured")
    assert load_space(write_space(tmp_path), ["train.eval_epochs=[1]"]).base.train.eval_epochs == [1]  # CLI last


def test_budget_and_cli_values_reach_the_base_config(tmp_path):
    space = load_space(write_space(tmp_path), ["train.batch_size=16"], data="synthetic", trials=7)
    assert (space.epochs, space.trials, space.base.train.batch_size) == (2, 7, 16)
    assert Path(space.base.out_dir).is_absolute()  # trials run in their own folders


@pytest.mark.parametrize("param, key, words", [
    ({f"{A}.ratio": {"type": "float", "low": 0.5, "high": 0.1}}, f"params.{A}.ratio", "low (0.5) > high (0.1)"),
    ({f"{A}.mode": {"type": "categorical", "choices": []}}, f"params.{A}.mode", "non-empty `choices`"),
    ({f"{A}.ratio": {"type": "uniform", "low": 0, "high": 1}}, f"params.{A}.ratio.type", "float"),
    ({f"{A}.ratioo": {"type": "float", "low": 0.1, "high": 0.5}}, f"params.{A}.ratioo", "unknown key"),
    ({f"{A}.ratio": {"type": "float", "low": 0.1, "high": 1.5}}, f"params.{A}.ratio", "less than 1"),
    ({f"{A}.mode": {"type": "categorical", "choices": ["degree", "sideways"]}}, f"params.{A}.mode", "sideways"),
    ({f"{A}.degree_power": {"type": "float", "low": 1, "high": 2, "when": {f"{A}.mode": "degree"}}},
     f"params.{A}.degree_power.when", "not a searched param"),
])
def test_bad_params_name_the_file_and_key(tmp_path, param, key, words):
    path = write_space(tmp_path, params=param)
    with pytest.raises(ConfigError) as err:
        load_space(path)
    assert err.value.source == str(path)
    assert err.value.key == key
    assert words in str(err.value)


def test_condition_must_name_an_earlier_param_and_one_of_its_choices(tmp_path):
    power = {"type": "float", "low": 1, "high": 2, "when": {f"{A}.mode": "degree"}}
    mode = {"type": "categorical", "choices": ["degree", "threshold"]}
    with pytest.raises(ConfigError, match="must be listed before"):
        load_space(write_space(tmp_path, params={f"{A}.degree_power": power, f"{A}.mode": mode}))
    power["when"] = {f"{A}.mode": "csm"}
    with pytest.raises(ConfigError, match="not among its choices"):
        load_space(write_space(tmp_path, params={f"{A}.mode": mode, f"{A}.degree_power": power}))


@pytest.mark.parametrize("changes, key", [
    ({"metric": "knn_top2"}, "metric"),
    ({"metric": "eval/linear"}, "metric"),  # needs evaluate: [linear]
    ({"metric": ["knn_top1", "encoder_params"], "mode": "max"}, "mode"),
    ({"sampler": "grid"}, f"params.{A}.ratio"),  # a float without step has no grid
    ({"budget": {"trials": 3, "epochs": 2, "grace_period": 3}}, "budget.grace_period"),
    ({"budget": {"trials": 0}}, "budget.trials"),
])
def test_bad_objectives_and_budgets(tmp_path, changes, key):
    with pytest.raises(ConfigError) as err:
        load_space(write_space(tmp_path, **changes))
    assert err.value.key == key


def test_grid_enumerates_steps_and_choices(tmp_path):
    params = {f"{A}.ratio": {"type": "float", "low": 0.1, "high": 0.5, "step": 0.2},
              "encoder.depth": {"type": "int", "low": 2, "high": 4},
              f"{A}.mode": {"type": "categorical", "choices": ["degree", "threshold"]}}
    space = load_space(write_space(tmp_path, params=params, sampler="grid", budget={"epochs": 2}))
    assert space.grid()[f"{A}.ratio"] == [0.1, 0.3, 0.5]
    assert space.grid_size() == 3 * 3 * 2 == space.trials


def test_define_by_run_suggests_conditional_params_only_when_their_condition_holds():
    space = load_space(SPACES / "masking.yaml")

    def sample(seed: int) -> list[dict]:
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed), direction="maximize")
        study.optimize(lambda t: DefineByRun(space.params)(t) or 0.0, n_trials=25)
        return [t.params for t in study.trials]

    trials = sample(3)
    for params in trials:
        for view in "ab":
            mode = params[f"masking.specs.{view}.joints.mode"]
            assert (f"masking.specs.{view}.joints.degree_power" in params) == (mode == "degree")
            assert (f"masking.specs.{view}.joints.degree_threshold" in params) == (mode == "threshold")
            assert 0.12 <= params[f"masking.specs.{view}.joints.ratio"] <= 0.6
        space.trial_config(params)  # every suggestion is a valid config
    assert {p["masking.specs.a.joints.mode"] for p in trials} == {"degree", "threshold"}
    assert sample(3) == trials  # seeded


def _row(trial_id, status, **metrics):
    return {"trial_id": trial_id, "status": status, "epochs": 3, "params": {}, "metrics": metrics}


def test_best_trial_prefers_full_budget_trials(tmp_path):
    space = load_space(write_space(tmp_path))
    rows = [_row("a", "stopped early", knn_top1=90.0), _row("b", "done", knn_top1=60.0),
            _row("c", "done", knn_top1=70.0), _row("d", "error", knn_top1=None)]
    assert best_trial(rows, space)["trial_id"] == "c"


def test_proxy_agreement_ranks_the_rungs_proxy_against_the_final_metric_over_full_budget_trials(tmp_path):
    from asma.search.summary import markdown, proxy_agreement

    space = load_space(write_space(tmp_path, metric="eval/linear", evaluate=["linear"], schedule_metric="knn_top1"))

    def row(trial_id, status, curve, linear):
        return {**_row(trial_id, status, **{"eval/linear": linear}), "curve": curve}

    rows = [row("a", "done", [[1, 30.0], [2, 40.0], [3, 35.0]], 60.0),
            row("b", "done", [[1, 31.0], [2, 30.0], [3, 36.0]], 61.0),
            row("c", "done", [[1, 32.0], [2, 20.0], [3, 37.0]], 62.0),
            row("d", "stopped early", [[1, 99.0]], None)]  # no final metric: not counted
    agreement = proxy_agreement(rows, space)
    assert agreement == [{"epoch": 1, "trials": 3, "spearman": 1.0}, {"epoch": 2, "trials": 3, "spearman": -1.0},
                         {"epoch": 3, "trials": 3, "spearman": 1.0}]
    assert proxy_agreement(rows[:2], space)[0]["spearman"] is None  # two trials rank nothing
    summary = {"name": "s", "compute": {"trials": 4, "epochs": 10, "stopped_early": 1, "errors": 0},
               "epochs_per_trial": 3, "sampler": "tpe", "seed": 0, "scheduler": "ASHA", "best": None,
               "pareto": [], "trials": [], "importances": {}, "importances_note": "", "proxy_agreement": agreement}
    assert "| 2 | 3 | -1 |" in markdown(summary, space)


def test_pareto_front_keeps_only_non_dominated_trials(tmp_path):
    space = load_space(write_space(tmp_path, metric=["knn_top1", "encoder_params"], mode=["max", "min"]))
    rows = [_row("small", "done", knn_top1=50.0, encoder_params=1e3),
            _row("big", "done", knn_top1=80.0, encoder_params=1e5),
            _row("worse", "done", knn_top1=49.0, encoder_params=2e3),   # dominated by small
            _row("same", "done", knn_top1=80.0, encoder_params=2e5),    # dominated by big
            _row("mid", "done", knn_top1=60.0, encoder_params=1e4)]
    assert [r["trial_id"] for r in pareto_front(rows, space)] == ["big", "mid", "small"]


def test_cli_reports_a_bad_space_before_starting_ray(tmp_path, capsys):
    path = write_space(tmp_path, params={f"{A}.ratio": {"type": "float", "low": 0.9, "high": 0.1}})
    assert main(["tune", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err.replace("\n", "") and f"params.{A}.ratio" in err.replace("\n", "")


def fake_teacher(tmp_path: Path) -> Path:
    """An ablation study folder's shape: a run record and its Tune trial's checkpoint files."""
    study = tmp_path / "ablations" / "study"
    (study / "runs").mkdir(parents=True)
    record = study / "runs" / "asma__synthetic__seed0.json"
    record.write_text('{"run": "asma__synthetic__seed0"}')
    for trial, epoch in (("abc12_00000", 3), ("def34_00000", 5)):
        ckpt = study / "tune" / f"asma__synthetic__seed0_{trial}" / f"checkpoint_{epoch:06d}" / "checkpoint.pt"
        ckpt.parent.mkdir(parents=True)
        ckpt.write_bytes(b"x")
    return record


def distill_space(tmp_path: Path, teacher: Path | None, **changes) -> Path:
    overrides = {"out_dir": str(tmp_path / "runs"), "data.split": "xsub_val"}
    if teacher is not None:
        overrides["distill.teacher"] = str(teacher)
    raw = {"task": "distill", "overrides": overrides,
           "params": {"student.base_channels": {"type": "categorical", "choices": [4, 8]}},
           "metric": ["student_top1", "student_params"], "mode": ["max", "min"], "sampler": "nsga2",
           "budget": {"trials": 2, "epochs": 4}}
    raw.update(changes)
    return write_space(tmp_path, **raw)


def test_an_ablation_run_record_names_its_newest_checkpoint(tmp_path):
    import os

    from asma.errors import InputFileError
    from asma.evaluation.protocols import find_checkpoint

    record = fake_teacher(tmp_path)
    older, newer = sorted(record.parent.parent.glob("tune/*/checkpoint_*/checkpoint.pt"))
    os.utime(older, (1, 1))  # the trial folder a resumed study wrote last holds the record's model
    assert find_checkpoint(record) == newer
    os.utime(newer, (0, 0))
    assert find_checkpoint(record) == older
    (tmp_path / "other.json").write_text('{"name": 1}')
    with pytest.raises(InputFileError, match="not an ablation run record"):
        find_checkpoint(tmp_path / "other.json")


def test_a_distillation_space_sets_the_students_epochs_and_keeps_the_teacher(tmp_path):
    record = fake_teacher(tmp_path)
    space = load_space(distill_space(tmp_path, record))
    assert space.distills and space.epochs == 4 == space.base.distill.epochs
    assert space.base.train.epochs != 4  # the budget is the student's, not a pretraining's
    assert space.base.distill.teacher == str(record.resolve())
    assert space.schedule_metric == "student_top1"


@pytest.mark.parametrize("changes, key", [
    ({"params": {"encoder.depth": {"type": "int", "low": 2, "high": 4}}}, "params.encoder.depth"),
    ({"metric": "knn_top1", "mode": "max"}, "metric"),
    ({"evaluate": ["linear"]}, "evaluate"),
    ({"resources": {"workers": 2}}, "resources.workers"),
])
def test_a_distillation_space_varies_only_the_student(tmp_path, changes, key):
    with pytest.raises(ConfigError) as err:
        load_space(distill_space(tmp_path, fake_teacher(tmp_path), **changes))
    assert err.value.key == key


def test_a_distillation_space_needs_a_teacher_that_exists(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_space(distill_space(tmp_path, None))
    assert err.value.key == "overrides.distill.teacher"
    with pytest.raises(ConfigError) as err:
        load_space(distill_space(tmp_path, tmp_path / "no_such_run"))
    assert err.value.key == "distill.teacher" and "no such run folder" in str(err.value)


def test_the_best_trial_as_a_preset_keeps_its_params_and_leaves_data_and_budget(tmp_path):
    """best_preset.yaml loads as a config equal to the trial's on everything but data, budget and output."""
    from asma.config.loading import config_to_dict, load_config
    from asma.search.summary import preset_text

    space = load_space(write_space(tmp_path, overrides={"out_dir": str(tmp_path / "runs"), "data.split": "xsub_val", "data.path": "synthetic",
                                                        "masking.views": ["a", "b"], "train.batch_size": 16,
                                                        "train.precision": "bfloat16"}))
    trial = {"trial_id": "t1", "epochs": 2, "params": {f"{A}.ratio": 0.37}, "metrics": {"knn_top1": 51.2}}
    text = preset_text(space, trial)
    assert text.startswith("# Found by the search space") and "knn_top1 51.2" in text
    path = tmp_path / "found.yaml"
    path.write_text(text)
    raw = yaml.safe_load(text)
    assert raw["base"] == "smoke" and "out_dir" not in raw and "path" not in raw.get("data", {})
    assert "epochs" not in raw.get("train", {}) and "precision" not in raw.get("train", {})  # the machine's choice
    found = load_config(str(path))
    assert found.masking.specs["a"].joints.ratio == 0.37 and found.masking.views == ["a", "b"]
    assert found.train.batch_size == 16
    expected = config_to_dict(space.trial_config(trial["params"]))
    for key in ("out_dir", "name"):
        expected.pop(key)
    got = config_to_dict(found)
    for section in ("masking", "encoder", "projector", "optim", "augment"):
        assert got[section] == expected[section], section
    left = ("epochs", "eval_every", "eval_epochs", "eval_report", "precision")  # the search's budget, proxy, machine
    assert got["train"] == {**expected["train"], **{k: got["train"][k] for k in left}}


def _summary(folder: Path, name: str, trials: list[tuple[str, int, float | None, float]]) -> Path:
    """A search folder whose summary.json holds (status, epochs, knn_top1, seconds) trials in completion order."""
    import json

    rows = [{"trial_id": f"{name}{i}", "status": st, "epochs": ep, "params": {"x": i}, "metrics": {"knn_top1": v},
             "time_s": sec} for i, (st, ep, v, sec) in enumerate(trials)]
    summary = {"name": name, "metrics": ["knn_top1"], "modes": ["max"], "trials": rows,
               "compute": {"epochs": sum(r["epochs"] for r in rows), "trial_time_s": sum(r["time_s"] for r in rows),
                           "stopped_early": sum(r["status"] == "stopped early" for r in rows)}}
    (folder / name / "summary").mkdir(parents=True)
    (folder / name / "summary" / "summary.json").write_text(json.dumps(summary))
    return folder / name


def test_search_comparison_counts_full_budget_trials_and_the_epochs_spent_to_reach_the_reference(tmp_path, capsys):
    from asma.search.compare import compare_searches, read_summary

    grid = _summary(tmp_path, "grid", [("done", 6, 50.0, 60), ("done", 6, 58.0, 60), ("done", 6, 55.0, 60)])
    tpe = _summary(tmp_path, "tpe", [("stopped early", 2, 70.0, 20), ("done", 6, 56.5, 60),
                                     ("done", 6, 57.2, 60), ("stopped early", 2, 40.0, 20)])
    c = compare_searches(read_summary(grid), read_summary(tpe), tolerance=1.0)
    assert c["reference"]["best"] == 58.0 and c["candidate"]["best"] == 57.2  # the stopped 70.0 does not count
    assert c["gap"] == pytest.approx(-0.8) and c["within_tolerance"]
    assert c["reached"] == {"epochs": 14, "trial_s": 140.0, "trial_id": "tpe2"}  # 56.5 is 1.5 short
    assert c["epochs_share"] == pytest.approx(16 / 18)
    assert not compare_searches(read_summary(grid), read_summary(tpe), tolerance=0.5)["within_tolerance"]
    assert main(["tune-compare", str(grid), str(tpe)]) == 0
    assert "-0.8 points from grid's best (within 1 point(s)" in capsys.readouterr().out
    assert main(["tune-compare", str(grid), str(tmp_path / "none")]) == 2


def test_a_confirmation_study_reruns_the_best_full_budget_trials_beside_the_references(tmp_path, capsys):
    """asma tune-confirm: the top full-budget trials (a stopped trial's early score never counts) as
    variants with their params, no masking twice as the default row, PSTL twice and ASMa beside
    them, the search's fixed overrides, the base preset's own epochs, and a study that loads."""
    import json

    from asma.ablation.study_file import load_study
    from asma.config.loading import load_config

    space = load_space(write_space(tmp_path, overrides={"out_dir": str(tmp_path / "runs"), "data.split": "xsub_val", "data.path": "synthetic",
                                                        "masking.views": ["a", "b"],
                                                        "masking.sample_joints": "cut"}))
    folder = _summary(tmp_path, "masks", [("done", 2, 50.0, 6), ("stopped early", 1, 90.0, 3),
                                          ("done", 2, 58.0, 6), ("done", 2, 55.0, 6), ("done", 2, 41.0, 6)])
    summary = json.loads((folder / "summary" / "summary.json").read_text())
    for i, trial in enumerate(summary["trials"]):
        trial["params"] = {f"{A}.ratio": 0.1 + 0.1 * i}
    (folder / "summary" / "summary.json").write_text(json.dumps(summary))
    (folder / "space.json").write_text(json.dumps(space.to_dict()))
    out = tmp_path / "confirm.yaml"
    assert main(["tune-confirm", str(folder), "--top", "3", "--seeds", "4", "--out", str(out)]) == 0
    assert "24 runs (6 rows x 4 seeds)" in " ".join(capsys.readouterr().out.split())  # 3 found + 3 references
    study = load_study(out)
    assert study.datasets[0].split == "xsub"  # chosen on xsub_val, reported on xsub's test clips
    assert list(study.variants) == ["found_1", "found_2", "found_3", "none_none", "pstl_pstl", "asma"]
    assert study.default == "none_none" and len(study.runs()) == 6 * 4
    assert study.seeds == [1, 2, 3, 4]  # not the search's seed 0, on which the found configs were picked
    ratios = {name: study.variants[name].overrides[f"{A}.ratio"] for name in ("found_1", "found_2", "found_3")}
    assert ratios == pytest.approx({"found_1": 0.3, "found_2": 0.4, "found_3": 0.1})  # 58, 55, 50; not 90 (stopped)
    run = next(r for r in study.runs() if r.variant == "found_1")
    cfg = study.config_for(run)
    assert cfg.masking.specs["a"].joints.ratio == pytest.approx(0.3) and cfg.masking.sample_joints == "cut"
    assert cfg.masking.views == ["a", "b"]  # as the search ran it
    assert cfg.train.epochs == load_config("smoke").train.epochs  # the preset's, not the search's 2
    none = study.config_for(next(r for r in study.runs() if r.variant == "none_none"))
    assert none.masking.views == ["none", "none2"] and none.masking.specs["none2"].joints.mode == "none"
    summary["metrics"], summary["modes"] = ["knn_top1", "encoder_params"], ["max", "min"]
    (folder / "summary" / "summary.json").write_text(json.dumps(summary))
    assert main(["tune-confirm", str(folder), "--out", str(tmp_path / "x.yaml")]) == 2
    assert "several objectives" in " ".join(capsys.readouterr().err.split())
    assert main(["tune-confirm", str(tmp_path / "nothing")]) == 2 and not (tmp_path / "x.yaml").exists()


def test_the_masking_searchs_confirmation_shares_its_reference_runs_with_the_converged_study(tmp_path):
    """search_spaces/msr_masking.yaml's confirmation study names and configures its no masking, PSTL
    and ASMa rows as ablations/real_converged.yaml's MSR Action3D rows, so `asma ablate --reuse`
    copies those runs instead of training them twice."""
    import json

    from asma.ablation.finished import changed_config_keys
    from asma.ablation.runner import run_specs
    from asma.ablation.study_file import load_study
    from asma.search.confirm import confirmation_study, confirmation_yaml

    space = load_space(SPACES / "msr_masking.yaml", check_data=False)  # MSR Action3D is not prepared here
    folder = _summary(tmp_path, "msr_masking", [("done", 200, 40.0, 900)])
    summary = json.loads((folder / "summary" / "summary.json").read_text())
    summary["trials"][0]["params"] = {f"{A}.ratio": 0.3}
    (folder / "summary" / "summary.json").write_text(json.dumps(summary))
    (folder / "space.json").write_text(json.dumps(space.to_dict()))
    out = tmp_path / "confirm.yaml"
    out.write_text(confirmation_yaml(confirmation_study(folder, top=1, seeds=5), folder))
    confirm = run_specs(load_study(out, check_data=False), tmp_path / "a")
    converged = run_specs(load_study(SPACES.parent / "ablations" / "real_converged.yaml", check_data=False), tmp_path / "b")
    shared = [r for r in confirm if not r.startswith("found_") and r in converged]
    assert len(shared) == 12  # seeds 1-4 of the three references; seed 5 is beyond real_converged's 0-4
    assert not any(r.endswith("seed0") for r in confirm)  # the search's own seed
    for run_id in shared:
        assert changed_config_keys(converged[run_id]["config"], confirm[run_id]) == [], run_id


def test_a_finite_space_lists_its_points_with_conditional_params_only_where_they_exist(tmp_path):
    from asma.search.repeats import RepeatGuard, finite_points, point_key

    space = load_space(write_space(tmp_path, params={
        f"{A}.mode": {"type": "categorical", "choices": ["degree", "threshold"]},
        f"{A}.degree_threshold": {"type": "int", "low": 2, "high": 4, "when": {f"{A}.mode": "threshold"}},
        f"{A}.ratio": {"type": "float", "low": 0.2, "high": 0.4, "step": 0.1}}))
    points = finite_points(space.params)
    assert len(points) == (1 + 3) * 3  # degree (no threshold) or one of 3 thresholds, times 3 ratios
    assert {p.get(f"{A}.degree_threshold") for p in points} == {None, 2, 3, 4}
    assert point_key({f"{A}.ratio": 0.1 + 0.2}) == point_key({f"{A}.ratio": 0.3})  # however the float was made
    assert finite_points(load_space(write_space(tmp_path)).params) is None  # a continuous ratio: infinite
    guard = RepeatGuard(points, seed=3)
    tried = {point_key(p) for p in points[:-1]}
    assert guard.draw(tried) == points[-1] and guard.draw(tried | {point_key(points[-1])}) is None
    a, b = RepeatGuard(points, seed=3), RepeatGuard(points, seed=3)
    assert [a.draw(set()) for _ in range(5)] == [b.draw(set()) for _ in range(5)]  # seeded


class _AlwaysFirst(optuna.samplers.RandomSampler):
    """A sampler that proposes every categorical's first choice, every time: a repeat after trial 0."""

    def sample_independent(self, study, trial, name, distribution):
        return distribution.choices[0]


def test_the_searcher_runs_an_untried_point_instead_of_a_repeat_and_ends_when_none_is_left(tmp_path):
    from ray.tune.search import Searcher

    from asma.search.optuna_searcher import FinalMetricOptunaSearch
    from asma.search.repeats import RepeatGuard, finite_points

    params = {"masking.streams": {"type": "categorical", "choices": ["separate", "combined"]},
              f"{A}.ratio": {"type": "categorical", "choices": [0.2, 0.4]}}
    space = load_space(write_space(tmp_path, params=params))
    searcher = FinalMetricOptunaSearch(space=DefineByRun(space.params), metric="knn_top1", mode="max",
                                       sampler=_AlwaysFirst(seed=0))
    searcher.skip_repeats(RepeatGuard(finite_points(space.params), seed=0))
    seen = []
    for i in range(4):
        config = searcher.suggest(f"t{i}")
        seen.append((config["masking.streams"], config[f"{A}.ratio"]))
        searcher.on_trial_complete(f"t{i}", {"knn_top1": 50.0 + i, "training_iteration": 1})
    assert seen[0] == ("separate", 0.2) and len(set(seen)) == 4  # the sampler repeated itself; no trial did
    assert searcher.suggest("t4") == Searcher.FINISHED  # all four points have run
    study = searcher._ot_study
    repeats = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
    assert len(repeats) == 4 and all(t.user_attrs["repeat_of"] == 0 for t in repeats)
    assert sorted(t.value for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE) == [50, 51, 52, 53]
    allowed = FinalMetricOptunaSearch(space=DefineByRun(space.params), metric="knn_top1", mode="max",
                                      sampler=_AlwaysFirst(seed=0))  # no guard: `repeats: allow`
    first, second = allowed.suggest("a"), allowed.suggest("b")
    assert first == second


def test_the_repeat_guard_survives_the_searchers_checkpoint(tmp_path):
    """Tune pickles the searcher into its experiment for --resume: the restored one keeps skipping
    repeats and draws from the same generator."""
    from ray.tune.search import Searcher

    from asma.search.optuna_searcher import FinalMetricOptunaSearch
    from asma.search.repeats import RepeatGuard, finite_points

    space = load_space(write_space(tmp_path, params={f"{A}.ratio": {"type": "categorical", "choices": [0.2, 0.4, 0.6]}}))

    def searcher():
        return FinalMetricOptunaSearch(space=DefineByRun(space.params), metric="knn_top1", mode="max",
                                       sampler=_AlwaysFirst(seed=0))

    first = searcher()
    first.skip_repeats(RepeatGuard(finite_points(space.params), seed=0))
    ratios = []
    for i in range(2):
        ratios.append(first.suggest(f"t{i}")[f"{A}.ratio"])
        first.on_trial_complete(f"t{i}", {"knn_top1": 50.0, "training_iteration": 1})
    first.save(str(tmp_path / "searcher.pkl"))
    restored = searcher()
    restored.restore(str(tmp_path / "searcher.pkl"))
    ratios.append(restored.suggest("t2")[f"{A}.ratio"])
    restored.on_trial_complete("t2", {"knn_top1": 50.0, "training_iteration": 1})
    assert sorted(ratios) == [0.2, 0.4, 0.6] and restored.suggest("t3") == Searcher.FINISHED


@pytest.mark.parametrize("sampler", ["tpe", "random", "grid", "nsga2"])
def test_every_sampler_survives_the_pickling_tune_does(tmp_path, sampler):
    """Tune pickles the searcher, sampler and all, when the Tuner starts and in each snapshot; Optuna's
    NSGA-II holds a lock that pickle refuses, which failed every multi-objective search at its start.
    The sampler read back still proposes, and NSGA-II with a lock of its own."""
    import pickle

    from ray import cloudpickle

    from asma.search.factories import make_sampler

    changes = {"metric": ["knn_top1", "encoder_params"], "mode": ["max", "min"]} if sampler == "nsga2" else {}
    if sampler == "grid":
        changes["params"] = {f"{A}.ratio": {"type": "float", "low": 0.1, "high": 0.5, "step": 0.2}}
    space = load_space(write_space(tmp_path, sampler=sampler, **changes))
    original = make_sampler(space)
    for dumps, loads in ((pickle.dumps, pickle.loads), (cloudpickle.dumps, cloudpickle.loads)):
        loaded = loads(dumps(original))
        assert type(loaded) is type(original)
        if sampler == "nsga2":
            assert loaded._thread_lock is not original._thread_lock and not loaded._thread_lock.locked()
        study = optuna.create_study(directions=["maximize", "minimize"] if sampler == "nsga2" else ["maximize"],
                                    sampler=loaded)
        trial = study.ask()
        assert 0.1 <= trial.suggest_float(f"{A}.ratio", 0.1, 0.5, step=0.2 if sampler == "grid" else None) <= 0.5


def test_every_problem_of_a_space_in_one_error(tmp_path):
    """A literal reads as the user wrote it; schema, metric, param and data problems come together."""
    params = {f"{A}.ratoi": {"type": "float", "low": 0.1, "high": 0.5},
              "encoder.depth": {"type": "int", "low": 2, "high": 40}}
    path = write_space(tmp_path, params=params, mode="maximum", metric="knn_top2",
                       overrides={"out_dir": str(tmp_path / "runs"), "data.split": "xsub_val", "data.path": str(tmp_path / "gone")})
    with pytest.raises(ConfigError) as err:
        load_space(path)
    problems = dict(err.value.problems)
    assert set(problems) == {"mode", "metric", f"params.{A}.ratoi", "params.encoder.depth", "data.path"}
    assert problems["mode"] == "'maximum' is not one of min, max"  # not pydantic's mode.literal['min','max']
    assert f"\n  {path}: mode: 'maximum' is not one of min, max" in str(err.value)
    assert "no such data set folder" in problems["data.path"]


def test_a_spaces_split_is_looked_up_in_its_data(tmp_path):
    from tests.test_ablation_study import prepared_stub

    data = prepared_stub(tmp_path / "msr", {"xsub_val": {"train": [0], "eval": [1]}})
    with pytest.raises(ConfigError) as err:
        load_space(write_space(tmp_path), data=str(data))
    assert err.value.key == "data.path" and "split 'xsub_val' has no part 'test'; its parts: train, eval" in str(err.value)
    assert load_space(write_space(tmp_path), ["data.test_part=eval"], data=str(data)).base.data.test_part == "eval"


def test_a_search_ranks_trials_on_a_validation_split_and_its_confirmation_on_the_test_clips(tmp_path):
    path = write_space(tmp_path, overrides={"out_dir": str(tmp_path / "runs"), "data.split": "xsub"})
    with pytest.raises(ConfigError) as err:
        load_space(path)
    assert err.value.key == "data.split" and "data.split: xsub_val" in str(err.value)
    from asma.data.format import SkeletonSet
    from asma.data.synthetic import make_synthetic

    s = SkeletonSet.open(make_synthetic(tmp_path / "syn", num_classes=2, samples_per_class=10))
    subject = [int(n[9:12]) for n in s.names]  # SsssCcccPppp...
    train = {subject[i] for i in s.splits["xsub"]["train"]}
    val_train, val = ({subject[i] for i in s.splits["xsub_val"][p]} for p in ("train", "test"))
    assert val and val_train and val | val_train == train and not val & val_train  # held-out training subjects
