"""What a Ray cluster holds, and what a study or config asks of it.

A request is one bundle of resources ({'CPU': 1, 'GPU': 0.5}) that is needed `count` times: once
per trial of an ablation study (trials run side by side, so `count` is how many could), or once per
Ray Train worker of a pretraining config (all of them at the same time).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import yaml

from asma.errors import InputFileError
from asma.ray_session import UnschedulableError, check_schedulable


@dataclass(frozen=True)
class Request:
    source: str
    what: str  # "trial" or "worker"
    bundle: dict[str, float]
    count: int  # workers that must run at once; 1 for trials
    together: bool  # True when all `count` bundles must be placed at the same time

    def describe(self) -> str:
        shown = ", ".join(f"{k}: {v:g}" for k, v in self.bundle.items() if v > 0)
        many = f"{self.count} x " if self.count > 1 else ""
        return f"{many}{{{shown}}} per {self.what}"


def live_nodes() -> list[dict[str, float]]:
    """Resources of the connected cluster's live nodes (Ray must be initialised)."""
    import ray

    return [dict(n["Resources"]) for n in ray.nodes() if n.get("Alive")]


def bundles_that_fit(nodes: list[dict[str, float]], bundle: dict[str, float]) -> int:
    """How many copies of `bundle` the nodes hold at once (a bundle never spans nodes)."""
    wanted = {k: v for k, v in bundle.items() if v > 0}
    if not wanted:
        return 0
    # 1e-9: fractional GPUs (0.1 x 10) must not lose a copy to rounding
    return sum(min(math.floor(node.get(k, 0) / v + 1e-9) for k, v in wanted.items()) for node in nodes)


def request_of(path: str, overrides: list[str] = ()) -> Request:
    """The request of a study YAML (has `variants:`) or of a config / preset name."""
    from asma.config import load_config

    file = Path(path)
    if file.suffix in (".yaml", ".yml") and file.is_file():
        try:
            raw = yaml.safe_load(file.read_text()) or {}
        except yaml.YAMLError as e:
            raise InputFileError(file, f"not valid YAML: {e}", fix="fix the syntax the parser names") from e
        if isinstance(raw, dict) and "variants" in raw:
            from asma.ablation.study import load_study

            if overrides:
                raise InputFileError(file, "--set applies to configs, not to ablation studies",
                                     fix="put overrides in the study's `overrides:`")
            study = load_study(file, check_data=False)  # the data may be on the cluster only
            bundle = {"CPU": study.resources.cpus, "GPU": study.resources.gpus}
            return Request(str(file), "trial", bundle, 1, together=False)
    cfg = load_config(path, list(overrides))
    bundle = {"CPU": cfg.ray.cpus_per_worker, "GPU": cfg.ray.gpus_per_worker}
    return Request(str(path), "worker", bundle, cfg.ray.workers, together=True)


@dataclass(frozen=True)
class Verdict:
    request: Request
    fit_now: int
    problem: str  # "" when the request can run now as asked
    fatal: bool  # no node could ever hold one bundle


def judge(request: Request, nodes: list[dict[str, float]]) -> Verdict:
    """Check `request` against the live nodes; uses check_schedulable for the per-node rule."""
    fit = bundles_that_fit(nodes, request.bundle)
    try:
        check_schedulable(request.bundle, f"{request.source}: one {request.what}")
    except UnschedulableError as e:
        return Verdict(request, fit, str(e), fatal=True)
    if request.together and fit < request.count:
        return Verdict(request, fit, (
            f"{request.source}: {request.count} workers must run at once but the live nodes hold {fit}; "
            "an autoscaling cluster adds nodes while the run waits, a fixed one never will "
            "(lower ray.workers or the per-worker request)"), fatal=False)
    return Verdict(request, fit, "", fatal=False)
