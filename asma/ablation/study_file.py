"""An ablation study: a base config, named variants of it, seeds, data sets and protocols.

A study YAML reads::

    name: masking_strategy            # optional; default: the file's stem
    base: laptop                      # a preset or a config file (relative to the study file)
    overrides: {train.epochs: 20}     # dotted keys, applied to every run
    variants:
      asma: {masking.views: [a, b], default: true, label: "ASMa (A + B)"}
      pstl: {masking.views: [pstl]}
    factors:                          # one table each; `variants:` a list, or {variant: value} for plots
      - {name: masking strategy, variants: [pstl, asma]}
    seeds: 3                          # or a list [0, 1, 2]
    datasets: [{name: synthetic, path: synthetic, split: xsub}]
    protocols: [knn, linear]
    budget: {epochs: 20}
    resources: {cpus: 1, gpus: 0}

A variant is a mapping of dotted config overrides plus the reserved keys `default`, `label` and
`reference`: `reference: floor` (randomly initialised frozen encoders, no pretraining),
`reference: raw` (the clips themselves, no encoder: asma.evaluation.raw_input) or
`reference: ceiling` (the same encoders trained with labels from scratch) makes the variant a
reference row: evaluated without pretraining, shown in its tables, never marked best nor tested.
`fuse: [asma, asma_bone, asma_motion]` makes a variant that runs nothing: its row, seed by seed, is
the linear probe of its members' runs fused as the multi-stream literature fuses streams (the sum
of their per-clip class probabilities, kept in evals/<run>.scores.npz), e.g. one pretraining per
input stream (`data.stream`) read as one three-stream model.
Every run's config is built and validated when the study is loaded, and its data set's folder and
split are looked up, so a typo in the last variant fails before the first run starts. Every
problem of the file, in every layer, comes in one error: a line each, naming the file, the key
(the variant, the data set) and what to do.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from asma.config.loading import (apply_overrides, config_from_dict, config_to_dict, read_yaml_mapping, resolve_base,
                                 with_absolute_paths)
from asma.config.problems import Problems, apply_leniently, validate_leniently
from asma.config.schema import Config
from asma.data.format import prepared_set_problems
from asma.errors import ConfigError
from asma.experiments.spec import NAME_PATTERN, STUDY_PROTOCOLS, Resources, Strict, TrainingBudget

RESERVED_VARIANT_KEYS = ("default", "label", "reference", "fuse")
REFERENCES = ("floor", "raw", "ceiling")


class DatasetSpec(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    path: str = Field("synthetic", description="'synthetic' or a prepared data set folder")
    split: str | None = Field(None, description="evaluation split (xsub, xview, ...); default: the base config's")


class Factor(Strict):
    name: str
    variants: list[str] | dict[str, float] = Field(min_length=1)
    axis: str | None = Field(None, description="x-axis label of the plot when variants carry values")

    @property
    def names(self) -> list[str]:
        return list(self.variants)


class StudyBudget(TrainingBudget):
    """A study's budget: the training part every run shares, and its batch and probes' epochs."""

    batch_size: int | None = Field(None, ge=2)
    eval_epochs: int | None = Field(None, ge=1, description="eval.epochs of the probes")

    def overrides(self) -> dict[str, Any]:
        more = {"train.batch_size": self.batch_size, "eval.epochs": self.eval_epochs}
        return {**self.training_overrides(), **{k: v for k, v in more.items() if v is not None}}


class StudyFile(Strict):
    """The YAML as written: checked for shape here, for config keys in `load_study`."""

    name: str | None = Field(None, pattern=NAME_PATTERN)
    description: str = ""
    base: str = "laptop"
    overrides: dict[str, Any] = {}
    variants: dict[str, dict[str, Any]] = Field(min_length=1)
    factors: list[Factor] = []
    seeds: int | list[int] = Field(3)
    datasets: list[DatasetSpec] = [DatasetSpec(name="synthetic")]
    protocols: list[str] = ["knn"]
    budget: StudyBudget = StudyBudget()
    resources: Resources = Resources()

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v):
        if isinstance(v, int):
            if v < 1:
                raise ValueError("seeds: a count >= 1 or a list of seeds")
            return list(range(v))
        if not v or len(set(v)) != len(v):
            raise ValueError(f"seeds must be a non-empty list without repeats, got {v}")
        return v

    @field_validator("protocols")
    @classmethod
    def _protocols(cls, v):
        unknown = [p for p in v if p not in STUDY_PROTOCOLS]
        if unknown or not v:
            raise ValueError(f"unknown protocols {unknown}; choose from {', '.join(STUDY_PROTOCOLS)}")
        return v


@dataclass(frozen=True)
class Variant:
    name: str
    overrides: dict[str, Any]
    label: str
    default: bool
    reference: str | None = None
    fuse: tuple[str, ...] = ()  # a fused row of these variants' linear probes: runs nothing


@dataclass(frozen=True)
class RunSpec:
    """One run of a study: a variant on a data set with a seed."""

    variant: str
    dataset: str
    seed: int

    @property
    def run_id(self) -> str:
        return f"{self.variant}__{self.dataset}__seed{self.seed}"


@dataclass
class Study:
    name: str
    source: str
    description: str
    base: dict            # the base config (with the study's overrides), validated, as a dict
    variants: dict[str, Variant]
    factors: list[Factor]
    seeds: list[int]
    datasets: list[DatasetSpec]
    protocols: list[str]
    resources: Resources

    @property
    def default(self) -> str:
        return next(v.name for v in self.variants.values() if v.default)

    def runs(self) -> list[RunSpec]:
        return [RunSpec(v, d.name, s) for d in self.datasets for v, spec in self.variants.items() if not spec.fuse
                for s in self.seeds]

    def config_for(self, run: RunSpec) -> Config:
        """The validated config of one run, with absolute paths (trials run in other folders)."""
        dataset = next(d for d in self.datasets if d.name == run.dataset)
        cfg = apply_overrides(config_from_dict(self.base, source=self.source),
                              {**self.variants[run.variant].overrides, "data.path": dataset.path,
                               **({"data.split": dataset.split} if dataset.split else {}),
                               "train.seed": run.seed, "eval.seed": run.seed, "distill.seed": run.seed,
                               "train.threads": max(1, int(self.resources.cpus)),
                               # a trial given no GPU must not pick one up on a GPU node
                               **({"train.device": "cpu"} if not self.resources.gpus else {}),
                               "name": f"{self.name}.{run.run_id}"})
        return with_absolute_paths(cfg)

    def to_dict(self) -> dict:
        """What the report needs, saved as study.json in the run folder."""
        return {
            "name": self.name, "source": self.source, "description": self.description,
            "default": self.default, "seeds": self.seeds, "protocols": self.protocols,
            "variants": {n: {"label": v.label, "default": v.default, "reference": v.reference,
                             "overrides": v.overrides, **({"fuse": list(v.fuse)} if v.fuse else {})}
                         for n, v in self.variants.items()},
            "factors": [f.model_dump() for f in self.factors],
            "datasets": [d.model_dump() for d in self.datasets],
            "resources": self.resources.model_dump(),
        }


def _unknown_key(loc: tuple) -> str:
    sections = {"budget": StudyBudget, "resources": Resources, "datasets": DatasetSpec, "factors": Factor}
    model = sections.get(loc[0], StudyFile) if len(loc) > 1 else StudyFile
    return "unknown key (allowed: " + ", ".join(model.model_fields) + ")"


def _check_name(source: str, what: str, name: str) -> None:
    if not re.match(NAME_PATTERN, name) or "__" in name:
        raise ConfigError(source, what, f"{name!r} must be letters, digits, '_.+=-', without '__' "
                          "(it names the run's result file)")


def _parse_variant(name: str, raw: dict[str, Any], problems: Problems) -> Variant | None:
    """The variant, or None (its problems added) when it is not one."""
    before = len(problems.found)
    with problems.collect():
        _check_name(problems.source, "variants", name)
    for key in raw:
        if key not in RESERVED_VARIANT_KEYS and "." not in key:
            problems.add(f"variants.{name}.{key}",
                         "not a dotted config key (e.g. masking.views) nor one of default, label, reference, fuse")
    reference = raw.get("reference")
    if reference is not None and reference not in REFERENCES:
        problems.add(f"variants.{name}.reference", f"{reference!r}: choose floor, raw or ceiling")
    if reference and raw.get("default"):
        problems.add(f"variants.{name}", "a reference row (floor/raw/ceiling) cannot be the default")
    overrides = {k: v for k, v in raw.items() if k not in RESERVED_VARIANT_KEYS}
    fuse = raw.get("fuse") or []
    if fuse:
        if not isinstance(fuse, list) or len(fuse) < 2 or not all(isinstance(m, str) for m in fuse) \
                or len(set(fuse)) != len(fuse):
            problems.add(f"variants.{name}.fuse", f"{fuse!r}: a list of two or more variant names")
        if overrides or reference or raw.get("default"):
            problems.add(f"variants.{name}", "a fused row runs nothing: it takes `fuse` and `label` "
                         "alone (no config keys, reference or default)")
    if len(problems.found) > before:
        return None
    return Variant(name, overrides, str(raw.get("label", name)), bool(raw.get("default", False)), reference,
                   tuple(fuse))


def _check_fusions(variants: dict[str, Variant], protocols: list[str], problems: Problems) -> None:
    for variant in variants.values():
        if not variant.fuse:
            continue
        for member in variant.fuse:
            if member not in variants:
                problems.add(f"variants.{variant.name}.fuse",
                             f"unknown variant {member!r}; variants: {', '.join(variants)}")
            elif variants[member].fuse or variants[member].reference:
                problems.add(f"variants.{variant.name}.fuse",
                             f"{member!r} is a reference or fused row; fuse pretrained variants")
        if "linear" not in protocols:
            problems.add(f"variants.{variant.name}.fuse",
                         "fuses the members' linear probes: add linear to the study's protocols")


def _check_factors(factors: list[Factor], variants: list[str], problems: Problems) -> None:
    for factor in factors:
        unknown = [n for n in factor.names if n not in variants]
        if unknown:
            problems.add(f"factors[{factor.name}]", f"unknown variants {unknown}; variants: {', '.join(variants)}")


def _check_study_file(spec: StudyFile, variants: dict[str, Variant], problems: Problems) -> None:
    """What the file says about itself: names, the default, factors and fused rows."""
    with problems.collect():
        _check_name(problems.source, "name", spec.name or Path(problems.source).stem)
    for d in spec.datasets:
        with problems.collect():
            _check_name(problems.source, "datasets.name", d.name)
    if len({d.name for d in spec.datasets}) != len(spec.datasets):
        problems.add("datasets", "two data sets share a name")
    defaults = [v.name for v in variants.values() if v.default]
    if len(defaults) != 1 and len(variants) == len(spec.variants):
        problems.add("variants", f"exactly one variant needs `default: true`, found {defaults or 'none'}")
    _check_factors(spec.factors, list(spec.variants), problems)
    _check_fusions(variants, spec.protocols, problems)


def _base_config(spec: StudyFile, relative_to: Path | None, overrides: list[str], problems: Problems) -> Config | None:
    """The study's base config with its overrides, budget and the command line's --set."""
    with problems.collect(key="base"):
        base_raw = resolve_base(spec.base, relative_to)
        with problems.collect(prefix=f"base ({spec.base}): "):
            base = config_from_dict(base_raw, source=f"{problems.source}: base {spec.base}")
            base = apply_leniently(base, {**spec.overrides, **spec.budget.overrides()}, problems, "overrides: ")
            return apply_leniently(base, list(overrides), problems, "--set: ") if overrides else base
    return None


def _check_runs(study: Study, base: Config, problems: Problems, check_data: bool) -> None:
    """Every run's config (variant x data set), and the data each run reads."""
    checked: set[tuple[str, str]] = set()
    for variant in (v for v in study.variants.values() if not v.fuse):
        where = f"variant {variant.name!r}: "
        cfg = apply_leniently(base, variant.overrides, problems, where)
        for d in study.datasets:
            with problems.collect(prefix=f"dataset {d.name!r}: "):
                run = apply_overrides(cfg, {"data.path": d.path, **({"data.split": d.split} if d.split else {})})
                if check_data and d.path != "synthetic" and (d.path, run.data.split) not in checked:
                    checked.add((d.path, run.data.split))
                    key = f"datasets[{d.name}]"
                    for problem in prepared_set_problems(d.path, run.data.split,
                                                         (run.data.train_part, run.data.test_part)):
                        problems.add(key, problem)
        if "transfer" in study.protocols:
            _check_transfer(where, cfg, problems)
        if cfg.distill.teacher:
            # lazy: the evaluation imports torch; loading a study (asma status, asma cluster check) needs none
            from asma.experiments.evaluate import check_fixed_teacher

            with problems.collect():  # the same for every variant: said once
                check_fixed_teacher(cfg, study.protocols, f"{problems.source}: {where}")


def parse_study(raw: dict, source: str, relative_to: Path | None = None, seeds: int | None = None,
                data: str | None = None, overrides: list[str] = (), check_data: bool = True) -> Study:
    """A validated study from its YAML mapping; `seeds`/`data` replace the file's and `overrides`
    (['key=value']) apply to every run after the study's own (CLI options). Every problem found, in
    every layer (the file's shape, its names, each run's config keys, its data), is raised in one
    ConfigError. `check_data=False` leaves the data sets unread (they may live on a cluster only)."""
    problems = Problems(source)
    spec = validate_leniently(StudyFile, raw, problems, _unknown_key)
    if spec is None:  # no variants to check further
        problems.raise_if_any()
        raise AssertionError("a study that does not validate reports a problem")
    variants = {n: v for n, v in ((n, _parse_variant(n, v or {}, problems)) for n, v in spec.variants.items())
                if v is not None}
    _check_study_file(spec, variants, problems)
    base = _base_config(spec, relative_to, list(overrides), problems)
    datasets = spec.datasets
    if data is not None:
        datasets = [DatasetSpec(name="synthetic" if data == "synthetic" else Path(data).name.replace("__", "_") or "data",
                                path=data if data == "synthetic" else str(Path(data).expanduser().resolve()))]
    study = Study(name=spec.name or Path(source).stem, source=source, description=spec.description,
                  base=config_to_dict(base) if base else {}, variants=variants, factors=spec.factors,
                  seeds=list(range(seeds)) if seeds else spec.seeds, datasets=datasets, protocols=spec.protocols,
                  resources=spec.resources)
    if base is not None:
        _check_runs(study, base, problems, check_data)
    problems.raise_if_any()
    return study


def _check_transfer(where: str, cfg: Config, problems: Problems) -> None:
    target = cfg.eval.transfer_data
    if not target or not Path(target).expanduser().exists():
        problems.add(f"{where}eval.transfer_data",
                     f"the transfer protocol needs a prepared target set; {target!r} does not exist "
                     "(prepare it with `asma data prepare`, pass --set eval.transfer_data=PATH, "
                     "or leave transfer out with --protocols)")


def load_study(path: str | Path, seeds: int | None = None, data: str | None = None,
               overrides: list[str] = (), base: str | None = None, protocols: list[str] | None = None,
               cpus: float | None = None, gpus: float | None = None, check_data: bool = True) -> Study:
    """Read and validate a study YAML (see the module docstring); the keyword arguments replace
    the file's seeds (0..N-1), data sets, base, protocols and trial resources (CLI options)."""
    path = Path(path)
    raw = read_yaml_mapping(path, "study file", "a study is a mapping (base:, variants:, factors:, seeds:, ...)",
                            fix="see ablations/ for examples")
    if seeds is not None and seeds < 1:
        raise ConfigError("--seeds", "seeds", f"needs at least 1, got {seeds}")
    if base is not None:  # relative to where the command runs, not to the study file
        raw["base"] = str(Path(base).resolve()) if Path(base).suffix in (".yaml", ".yml") else base
    if protocols is not None:
        raw["protocols"] = protocols
    resources = {k: v for k, v in {"cpus": cpus, "gpus": gpus}.items() if v is not None}
    if resources:
        raw["resources"] = {**(raw.get("resources") or {}), **resources}
    return parse_study(raw, str(path), path.resolve().parent, seeds, data, overrides, check_data)
