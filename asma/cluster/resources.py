"""What a Ray cluster holds, and what a study or config asks of it.

A request is one bundle of resources ({'CPU': 1, 'GPU': 0.5}) that is needed `count` times: once
per trial of an ablation study (trials run side by side, so `count` is how many could), or once per
Ray Train worker of a pretraining config (all of them at the same time).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from asma.cluster.ray_session import UnschedulableError, check_schedulable


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
