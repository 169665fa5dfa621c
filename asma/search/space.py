"""A search space as data: which config keys a search varies, how, what it optimises, on what budget.

A search-space YAML reads::

    name: masking                      # optional; default: the file's stem
    base: smoke                        # a preset or a config file (relative to this file)
    overrides: {train.batch_size: 32}  # dotted keys, applied to every trial
    params:                            # dotted keys of the training Config
      masking.specs.a.joints.ratio: {type: float, low: 0.1, high: 0.6}
      masking.specs.a.joints.mode: {type: categorical, choices: [degree, threshold]}
      masking.specs.a.joints.degree_power:          # only exists when the mode is `degree`
        {type: float, low: 0.5, high: 4, log: true, when: {masking.specs.a.joints.mode: degree}}
    metric: knn_top1                   # or a list for multi-objective: [knn_top1, encoder_params]
    task: pretrain                     # or distill: trials train students of a fixed distill.teacher
    mode: max                          # or a list: [max, min]
    evaluate: []                       # protocols run after pretraining -> metrics eval/<protocol>
    budget: {trials: 12, epochs: 10, grace_period: 2, reduction_factor: 2}
    resources: {cpus: 1, gpus: 0, workers: 1}
    sampler: tpe                       # tpe | random | grid | nsga2
    seed: 0

A `task: distill` search trains students, not encoders: each trial linear-probes the fixed teacher
(`distill.teacher`: a run folder, a checkpoint, or an ablation run's record
`runs/ablations/<study>/runs/<run>.json`) and distils it into the student its params describe
(student.*, distill.*). Its metrics: student_top1 every epoch (the student's head on the test
clips), and student_params, student_mflops, student_latency_ms (batch 1, CPU, this trial's threads),
teacher_top1 and teacher_params, constant per trial.

Everything is checked when the file is loaded, before Ray starts: each param is applied with
sample values to the base config, so a key that is not a Config field, or a range the Config
rejects, fails here with the file and the key in the message; the data set's folder and split are
looked up. Every problem of the file comes in one error, a line each.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from asma.config.loading import (
    apply_overrides,
    config_from_dict,
    config_to_dict,
    read_yaml_mapping,
    resolve_base,
    with_absolute_paths,
)
from asma.config.problems import Problems, apply_leniently, validate_leniently
from asma.config.schema import Config
from asma.data.format import prepared_set_problems
from asma.errors import AsmaError, ConfigError
from asma.experiments.spec import EVAL_PROTOCOLS, NAME_PATTERN, Resources, Strict, TrainingBudget

# Metrics the training loop reports every epoch (knn_* measured at the rungs and carried between them:
# proxy_schedule).
EPOCH_METRICS = ("loss", "knn_top1", "knn_top5")
# Constant per trial, computed from the model built from the trial's config.
COST_METRICS = ("encoder_params",)
# A distillation search's metrics (asma.search.distill_trial): per epoch, and constant per trial.
DISTILL_EPOCH_METRICS = ("loss", "student_top1")
DISTILL_COST_METRICS = ("student_params", "student_mflops", "student_latency_ms", "teacher_top1", "teacher_params")
# Config sections a distillation trial may vary: the teacher's own config is fixed by its checkpoint.
DISTILL_PARAM_SECTIONS = ("student.", "distill.")
Scalar = str | int | float | bool | None


class ParamSpec(Strict):
    """One searched config key; `when` makes it conditional on other params' values."""

    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = Field(None, gt=0)
    choices: list[Scalar] | None = None
    when: dict[str, Scalar | list[Scalar]] = {}

    @model_validator(mode="after")
    def _shape(self) -> "ParamSpec":
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("categorical needs a non-empty `choices` list")
            if len(set(map(repr, self.choices))) != len(self.choices):
                raise ValueError(f"choices repeat a value: {self.choices}")
            if self.low is not None or self.high is not None:
                raise ValueError("categorical takes `choices`, not low/high")
            return self
        if self.choices is not None:
            raise ValueError(f"{self.type} takes low/high, not `choices` (use type: categorical)")
        if self.low is None or self.high is None:
            raise ValueError(f"{self.type} needs both `low` and `high`")
        if self.low > self.high:
            raise ValueError(f"low ({self.low:g}) > high ({self.high:g})")
        if self.log and self.low <= 0:
            raise ValueError(f"log: true needs low > 0, got {self.low:g}")
        if self.log and self.step is not None:
            raise ValueError("log and step cannot be combined (Optuna does not support it)")
        if self.type == "int" and (self.low != int(self.low) or self.high != int(self.high)
                                   or (self.step is not None and self.step != int(self.step))):
            raise ValueError(f"int needs whole low/high/step, got {self.low:g}..{self.high:g}")
        return self

    def samples(self) -> list[Any]:
        """Values that probe the Config's limits: both ends, or every choice."""
        if self.type == "categorical":
            return list(self.choices)
        if self.type == "int":
            return [int(self.low), int(self.high)]
        return [float(self.low), float(self.high)]

    def grid(self, key: str, source: str) -> list[Any]:
        if self.type == "categorical":
            return list(self.choices)
        if self.type == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.step is None:
            raise ConfigError(source, f"params.{key}", "sampler: grid needs a `step` for float params "
                              "(or make it categorical with the values to try)")
        count = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
        return [round(self.low + i * self.step, 12) for i in range(count)]

    def active(self, chosen: dict[str, Any]) -> bool:
        """Whether this param exists given the values already chosen for the others."""
        for other, wanted in self.when.items():
            allowed = wanted if isinstance(wanted, list) else [wanted]
            if other not in chosen or chosen[other] not in allowed:
                return False
        return True


class SearchBudget(TrainingBudget):
    """A search's budget: the training part each trial shares, its trials, and ASHA's rungs."""

    trials: int | None = Field(None, ge=1, description="trials in all; default 10 (grid: the grid's size)")
    grace_period: int = Field(1, ge=1, description="epochs every trial runs before ASHA may stop it")
    reduction_factor: float = Field(2.0, gt=1, description="ASHA keeps 1/reduction_factor at each rung")
    proxy: Literal["rungs", "every_epoch"] = Field(
        "rungs", description="when a pretraining trial measures its kNN proxy: rungs = at ASHA's rungs and the "
        "last epoch only (each epoch reports the latest measurement); every_epoch = after every epoch, "
        "for full per-epoch curves (on MSR Action3D a measurement costs about a third of an epoch)")


class SearchResources(Resources):
    """A trial's resources; with `workers` > 1, each worker's."""

    cpus: float = Field(1.0, gt=0, description="CPUs per trial (per worker when workers > 1)")
    gpus: float = Field(0.0, ge=0, description="GPUs per trial (per worker when workers > 1)")
    workers: int = Field(1, ge=1, description="> 1: the trial launches a TorchTrainer with this many workers")


class SpaceFile(Strict):
    """The YAML as written: checked for shape here, for config keys in `load_space`."""

    name: str | None = Field(None, pattern=NAME_PATTERN)
    description: str = ""
    base: str = "smoke"
    task: Literal["pretrain", "distill"] = Field("pretrain", description="pretrain: trials pretrain encoders; "
                                                 "distill: trials distil distill.teacher into students")
    overrides: dict[str, Any] = {}
    params: dict[str, ParamSpec] = Field(min_length=1)
    metric: str | list[str] = "knn_top1"
    mode: Literal["min", "max"] | list[Literal["min", "max"]] = "max"
    schedule_metric: str | None = Field(None, description="per-epoch metric ASHA stops on; default: `metric` "
                                        "when it is reported every epoch, else knn_top1")
    evaluate: list[Literal[EVAL_PROTOCOLS]] = []
    budget: SearchBudget = SearchBudget()
    resources: SearchResources = SearchResources()
    sampler: Literal["tpe", "random", "grid", "nsga2"] = "tpe"
    scheduler: Literal["asha", "fifo"] = Field("asha", description="fifo: no early stopping (always so "
                                               "for multi-objective searches)")
    seed: int = 0
    repeats: Literal["skip", "allow"] = Field(
        "skip", description="skip: in a space of finitely many points, a point the sampler proposes again is not "
        "run (every trial has the same seed, so it would score the same); an untried point runs instead, and "
        "the search ends when every point has run (asma.search.repeats). allow: run what the sampler proposes")


@dataclass
class SearchSpace:
    """A validated search: the resolved base config and everything the tuner needs."""

    name: str
    source: str
    spec: SpaceFile
    base: Config

    @property
    def params(self) -> dict[str, ParamSpec]:
        return self.spec.params

    @property
    def metrics(self) -> list[str]:
        return self.spec.metric if isinstance(self.spec.metric, list) else [self.spec.metric]

    @property
    def modes(self) -> list[str]:
        return self.spec.mode if isinstance(self.spec.mode, list) else [self.spec.mode]

    @property
    def multi_objective(self) -> bool:
        return len(self.metrics) > 1

    @property
    def early_stopping(self) -> bool:
        return self.spec.scheduler == "asha" and not self.multi_objective

    @property
    def distills(self) -> bool:
        return self.spec.task == "distill"

    @property
    def schedule_metric(self) -> str:
        if self.spec.schedule_metric:
            return self.spec.schedule_metric
        per_epoch, default = (DISTILL_EPOCH_METRICS, "student_top1") if self.distills else (EPOCH_METRICS, "knn_top1")
        return self.metrics[0] if self.metrics[0] in per_epoch else default

    @property
    def schedule_mode(self) -> str:
        if self.schedule_metric == self.metrics[0]:
            return self.modes[0]
        return "min" if self.schedule_metric == "loss" else "max"

    @property
    def epochs(self) -> int:
        return self.base.distill.epochs if self.distills else self.base.train.epochs

    @property
    def trials(self) -> int:
        if self.spec.budget.trials:
            return self.spec.budget.trials
        return self.grid_size() if self.spec.sampler == "grid" else 10

    def grid(self) -> dict[str, list[Any]]:
        return {key: p.grid(key, self.source) for key, p in self.params.items()}

    def grid_size(self) -> int:
        return len(list(itertools.product(*self.grid().values())))

    def trial_config(self, params: dict[str, Any]) -> Config:
        """The base config with a trial's params applied (params absent by `when` are skipped)."""
        return apply_overrides(self.base, dict(params))

    def to_dict(self) -> dict:
        return {"name": self.name, "source": self.source, "space": self.spec.model_dump(mode="json"),
                "base": config_to_dict(self.base)}


def distribution(p: ParamSpec):
    """The Optuna distribution of a param."""
    import optuna

    if p.type == "categorical":
        return optuna.distributions.CategoricalDistribution(p.choices)
    if p.type == "int":
        return optuna.distributions.IntDistribution(int(p.low), int(p.high), log=p.log, step=int(p.step or 1))
    return optuna.distributions.FloatDistribution(p.low, p.high, log=p.log, step=p.step)


class DefineByRun:
    """OptunaSearch's `space` callable: suggests each param whose `when` holds, in file order.

    A plain object (not a closure) so Tune can pickle it into the experiment for --resume.
    """

    def __init__(self, params: dict[str, ParamSpec]):
        self.params = params

    def __call__(self, trial) -> None:
        chosen: dict[str, Any] = {}
        for key, p in self.params.items():
            if p.active(chosen):
                chosen[key] = _suggest(trial, key, p)


def _suggest(trial, key: str, p: ParamSpec) -> Any:
    if p.type == "categorical":
        return trial.suggest_categorical(key, p.choices)
    if p.type == "int":
        return trial.suggest_int(key, int(p.low), int(p.high), step=int(p.step or 1), log=p.log)
    return trial.suggest_float(key, p.low, p.high, step=p.step, log=p.log)


def _unknown_key(loc: tuple) -> str:
    return "unknown key (allowed: " + ", ".join(_allowed_keys(loc)) + ")"


def _allowed_keys(loc: tuple) -> list[str]:
    model = SpaceFile
    if loc and loc[0] == "params":
        model = ParamSpec
    elif loc and loc[0] in ("budget", "resources"):
        model = SearchBudget if loc[0] == "budget" else SearchResources
    return list(model.model_fields)


def _check_objectives(spec: SpaceFile, problems: Problems) -> None:
    metrics = spec.metric if isinstance(spec.metric, list) else [spec.metric]
    modes = spec.mode if isinstance(spec.mode, list) else [spec.mode]
    if len(metrics) != len(modes):
        problems.add("mode", f"{len(metrics)} metrics but {len(modes)} modes; give one mode per metric")
    if not metrics or len(set(metrics)) != len(metrics):
        problems.add("metric", f"give one metric or a list of distinct metrics, got {metrics}")
    per_epoch = DISTILL_EPOCH_METRICS if spec.task == "distill" else EPOCH_METRICS
    if spec.task == "distill":
        known = set(DISTILL_EPOCH_METRICS) | set(DISTILL_COST_METRICS)
        if spec.evaluate:
            problems.add("evaluate", "a distillation search (task: distill) scores the student's own "
                         "head (student_top1); remove `evaluate:`")
    else:
        known = set(EPOCH_METRICS) | set(COST_METRICS) | {f"eval/{p}" for p in spec.evaluate}
    for metric in metrics + ([spec.schedule_metric] if spec.schedule_metric else []):
        if metric in known or (metric.startswith("eval/semi_") and "semi" in spec.evaluate):
            continue
        hint = " (add the protocol to `evaluate:`)" if metric.startswith("eval/") else ""
        problems.add("metric", f"unknown metric {metric!r}{hint}; known: {', '.join(sorted(known))}")
    if spec.schedule_metric and spec.schedule_metric not in per_epoch:
        problems.add("schedule_metric", f"{spec.schedule_metric!r} is not reported every epoch; "
                     f"choose one of {', '.join(per_epoch)}")
    if spec.sampler == "grid" and any(p.when for p in spec.params.values()):
        problems.add("sampler", "grid does not combine with conditional (`when:`) params; use tpe or random")


def _check_conditions(spec: SpaceFile, problems: Problems) -> None:
    order = list(spec.params)
    for key, p in spec.params.items():
        for other, wanted in p.when.items():
            if other not in spec.params:
                problems.add(f"params.{key}.when", f"{other!r} is not a searched param")
                continue
            if order.index(other) > order.index(key):
                problems.add(f"params.{key}.when", f"{other!r} must be listed before {key!r}")
            target = spec.params[other]
            allowed = wanted if isinstance(wanted, list) else [wanted]
            if target.type == "categorical":
                missing = [v for v in allowed if v not in target.choices]
                if missing:
                    problems.add(f"params.{key}.when.{other}", f"{missing} not among its choices {target.choices}")


def _check_keys(spec: SpaceFile, base: Config, problems: Problems) -> None:
    """Apply each param's sample values (with its conditions met) to the base config."""
    for key, p in spec.params.items():
        condition = {other: (v[0] if isinstance(v, list) else v) for other, v in p.when.items()}
        for value in p.samples():
            try:
                apply_overrides(base, {**condition, key: value})
            except ConfigError as e:
                problems.add(f"params.{key}", f"value {value!r} is rejected by the config: {e.key}: {e.problem}")
                break


def _base_config(spec: SpaceFile, base_raw: dict, cli: list[str], problems: Problems) -> Config | None:
    """The base config with the file's overrides and budget, then the command line's (`cli`)."""
    fixed = {k: v for k, v in spec.overrides.items()}
    if spec.task == "distill":
        fixed["distill.epochs"] = spec.budget.epochs
    else:
        fixed |= spec.budget.training_overrides()
    fixed = {k: v for k, v in fixed.items() if v is not None}
    with problems.collect(prefix=f"base ({spec.base}): "):
        base = config_from_dict(base_raw, source=problems.source)
        base = apply_leniently(base, fixed, problems, "overrides: ")
        base = apply_leniently(base, cli, problems, "--set: ") if cli else base
        if spec.task == "pretrain":  # the proxy's epochs follow from the trial's epochs, known now
            base = apply_leniently(base, proxy_schedule(spec, base.train.epochs) + cli, problems, "--set: ")
        return base
    return None


def _check_data(base: Config, problems: Problems) -> None:
    if base.data.path == "synthetic":
        return
    for problem in prepared_set_problems(base.data.path, base.data.split, (base.data.train_part, base.data.test_part)):
        problems.add("data.path", problem)


VALIDATION_SUFFIX = "_val"


def _check_selection_split(base: Config, problems: Problems) -> None:
    """A search ranks its trials, and ASHA stops them, on the test part of data.split: that must be a
    validation split carved from the training subjects, so that no choice reads a test clip."""
    split = base.data.split
    if not split.endswith(VALIDATION_SUFFIX):
        problems.add("data.split", f"{split!r}: a search ranks and stops trials on this split's test clips; "
                     f"choose its validation split, data.split: {split}{VALIDATION_SUFFIX} (training subjects "
                     f"held out; `asma tune-confirm` then reports {split}'s test clips)")


def _check_budget(spec: SpaceFile, base: Config, problems: Problems) -> None:
    if spec.sampler == "grid":  # steps present
        for key, p in spec.params.items():
            with problems.collect():
                p.grid(key, problems.source)
    epochs = base.distill.epochs if spec.task == "distill" else base.train.epochs
    if spec.scheduler == "asha" and spec.budget.grace_period > epochs:
        problems.add("budget.grace_period",
                     f"{spec.budget.grace_period} > epochs per trial ({epochs}); ASHA would never stop a trial")


def load_space(path: str | Path, overrides: list[str] = (), data: str | None = None,
               trials: int | None = None, check_data: bool = True) -> SearchSpace:
    """Read and validate a search-space file; `overrides`/`data`/`trials` come from the command line.

    Every problem found, in every layer (the file's shape, its metrics and conditions, each param
    applied to the base config, the data set it reads), is raised in one ConfigError."""
    path = Path(path)
    source = str(path)
    raw = read_yaml_mapping(path, "search space file", "a search space is a mapping (params:, metric:, budget:, ...)",
                            fix="see search_spaces/*.yaml for examples")
    problems = Problems(source)
    spec = validate_leniently(SpaceFile, raw, problems, _unknown_key)
    if spec is None:  # no params left to check
        problems.raise_if_any()
        raise AssertionError("a search space that does not validate reports a problem")
    if trials is not None:
        spec.budget.trials = trials
    _check_objectives(spec, problems)
    _check_conditions(spec, problems)
    base = None
    with problems.collect(key="base"):
        base_raw = resolve_base(spec.base, path.resolve().parent)
        base = _base_config(spec, base_raw, [*overrides, *([f"data.path={data}"] if data else [])], problems)
    if base is not None:
        _check_keys(spec, base, problems)
        if spec.task == "distill":
            _check_distillation(spec, base, problems)
        _check_budget(spec, base, problems)
        _check_selection_split(base, problems)
        if check_data:
            _check_data(base, problems)
    problems.raise_if_any()
    return SearchSpace(spec.name or path.stem, source, spec, with_absolute_paths(base))


def asha_rungs(grace_period: int, max_t: int, reduction_factor: float) -> list[int]:
    """The epochs at which Ray's ASHAScheduler (one bracket) compares trials: its _Bracket's formula."""
    count = int(math.log(max_t / grace_period) / math.log(reduction_factor) + 1)
    return sorted({int(grace_period * reduction_factor ** k) for k in range(max(count, 0))})


def proxy_schedule(spec: SpaceFile, epochs: int) -> list[str]:
    """The training overrides that make a pretraining trial of `epochs` measure its kNN proxy when the
    search reads it (ASHA's rungs, the end). Tune wants the metric in every result, so each epoch
    reports the latest measurement."""
    if spec.budget.proxy == "every_epoch":
        return ["train.eval_every=1"]
    single = isinstance(spec.metric, str) or len(spec.metric) == 1  # multi-objective searches run FIFO
    b = spec.budget
    rungs = asha_rungs(b.grace_period, epochs, b.reduction_factor) if spec.scheduler == "asha" and single else []
    return ["train.eval_every=0", "train.eval_report=latest", f"train.eval_epochs=[{', '.join(map(str, rungs))}]"]


def _check_distillation(spec: SpaceFile, base: Config, problems: Problems) -> None:
    """A distillation search: students of one teacher that exists, one process per trial."""
    from asma.evaluation.protocols import find_checkpoint  # lazy: imports torch, which reading a space needs not

    for key in spec.params:
        if not key.startswith(DISTILL_PARAM_SECTIONS):
            problems.add(f"params.{key}", "a distillation search (task: distill) varies the student and "
                         "its loss (student.*, distill.*); the teacher's encoders are fixed by distill.teacher")
    if spec.resources.workers > 1:
        problems.add("resources.workers", "a distillation trial runs in one process; set workers: 1")
    if not base.distill.teacher:
        problems.add("overrides.distill.teacher", "a distillation search needs its teacher: a run folder, "
                     "a checkpoint, or an ablation run's record runs/ablations/<study>/runs/<run>.json "
                     "(or --set distill.teacher=...)")
        return
    try:
        find_checkpoint(base.distill.teacher)
    except AsmaError as e:
        problems.add("distill.teacher", f"{base.distill.teacher}: {e}")
