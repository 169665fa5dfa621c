"""Points a sampler proposes again, in a search space with finitely many points.

Every trial of a search runs with the same seed, so a config that ran once gives the same score
when it runs again: a repeat spends a trial's budget and learns nothing. TPE repeats in small
categorical spaces (it proposes the point of highest expected improvement, which is often one it
already tried: on MSR Action3D's 18-point joint-share sub-space, 5 of 18 TPE trials were one point).

With `repeats: skip` (a space's default) the searcher does not run a repeat: the repeated Optuna
trial is told as failed, with user attribute `repeat_of` (the number of the trial it repeats), and
a point no trial has tried yet, drawn at random with the search's seed, is enqueued and run in its
place. When every point of the space has been tried, the search ends. A continuous param makes the
space infinite, where an exact repeat does not happen, and nothing is done.
"""
from __future__ import annotations

import random
from typing import Any

from asma.search.space import ParamSpec

PointKey = tuple[tuple[str, Any], ...]


def point_key(params: dict[str, Any]) -> PointKey:
    """A point's identity; floats rounded, so a stepped value reads the same however it was computed."""
    return tuple(sorted((k, round(v, 9) if isinstance(v, float) else v) for k, v in params.items()))


def finite_points(params: dict[str, ParamSpec], source: str = "") -> list[dict[str, Any]] | None:
    """Every point of the space (only the params each point's `when` conditions activate), or None
    when a param is continuous (a float without `step`)."""
    if any(p.type == "float" and p.step is None for p in params.values()):
        return None
    points: list[dict[str, Any]] = [{}]
    for key, p in params.items():  # file order: a `when` refers to params before it
        grown = []
        for chosen in points:
            if p.active(chosen):
                grown += [{**chosen, key: value} for value in p.grid(key, source)]
            else:
                grown.append(chosen)
        points = grown
    unique = {point_key(p): p for p in points}
    return list(unique.values())


class RepeatGuard:
    """What the searcher keeps to replace repeats: the space's points and a seeded generator.

    Plain data, pickled with the searcher into Tune's experiment, so a resumed search goes on drawing
    from the same generator."""

    def __init__(self, points: list[dict[str, Any]], seed: int):
        self.points = points
        self.rng = random.Random(seed)

    def untried(self, tried: set[PointKey]) -> list[dict[str, Any]]:
        return [p for p in self.points if point_key(p) not in tried]

    def draw(self, tried: set[PointKey]) -> dict[str, Any] | None:
        """A random point no trial has tried, or None when every point has been."""
        left = self.untried(tried)
        return left[self.rng.randrange(len(left))] if left else None
