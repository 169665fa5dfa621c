"""Skeleton layouts as data.

A layout is a YAML file: joint names, bones, graph centre, centring joint, left/right pairs and body
parts, with joints numbered from 1 as data set documentation counts them. The built-in layouts
(`ntu25`, `kinect_v1`, `msr_action3d`, `coco17`) live in `asma/skeleton/layouts/`; a user adds one by
passing the path of a YAML file of the same shape wherever a layout name is accepted.
Everything graph-dependent (degrees, mask joint classes, adjacency, bones, flip) derives from here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from asma.errors import ConfigError, InputFileError, validation_problems

BUILTIN_DIR = Path(__file__).parent / "layouts"


class LayoutSpec(BaseModel):
    """The YAML schema of a layout; joint numbers are 1-based."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    coord_dims: int = Field(3, ge=2, le=3)
    joints: list[str] = Field(min_length=2)
    bones: list[tuple[int, int]] = Field(min_length=1)
    center: int
    origin: int | None = None
    flip_pairs: list[tuple[int, int]] = []
    parts: dict[str, list[int]] = {}

    @model_validator(mode="after")
    def _joint_numbers_in_range(self) -> "LayoutSpec":
        n = len(self.joints)
        numbers = [("center", self.center)] + ([("origin", self.origin)] if self.origin else [])
        numbers += [(f"bones[{i}]", j) for i, b in enumerate(self.bones) for j in b]
        numbers += [(f"flip_pairs[{i}]", j) for i, p in enumerate(self.flip_pairs) for j in p]
        numbers += [(f"parts.{k}", j) for k, js in self.parts.items() for j in js]
        for where, j in numbers:
            if not 1 <= j <= n:
                raise ValueError(f"{where}: joint {j} is not in 1..{n} (joints are numbered from 1)")
        for i, (a, b) in enumerate(self.bones):
            if a == b:
                raise ValueError(f"bones[{i}]: a bone joins two different joints, got {a}-{b}")
        flipped = [j for p in self.flip_pairs for j in p]
        if len(flipped) != len(set(flipped)):
            raise ValueError("flip_pairs: a joint appears in more than one pair")
        unreached = [j for j in range(1, n + 1) if j not in _reachable(self.center, self.bones)]
        if unreached:
            # such a joint would have no bone (a zero bone stream) and no path to the graph centre
            names = ", ".join(f"{j} {self.joints[j - 1]}" for j in unreached)
            raise ValueError(f"bones: joints {names} are not connected to the centre (joint {self.center}); "
                             "every joint needs a chain of bones to it")
        return self


def _reachable(start: int, bones: list[tuple[int, int]]) -> set[int]:
    """Joints joined to `start` by a chain of bones (numbers as in `bones`)."""
    seen, frontier = {start}, [start]
    while frontier:
        joint = frontier.pop()
        for a, b in bones:
            for here, there in ((a, b), (b, a)):
                if here == joint and there not in seen:
                    seen.add(there)
                    frontier.append(there)
    return seen


@dataclass(frozen=True)
class Layout:
    """A skeleton layout with 0-based joint indices and derived graph quantities."""

    name: str
    joints: tuple[str, ...]
    bones: tuple[tuple[int, int], ...]  # 0-based, undirected
    center: int
    origin: int
    coord_dims: int = 3
    flip_pairs: tuple[tuple[int, int], ...] = ()
    parts: dict[str, tuple[int, ...]] = field(default_factory=dict)
    description: str = ""

    @classmethod
    def from_spec(cls, spec: LayoutSpec) -> "Layout":
        return cls(
            name=spec.name,
            description=spec.description,
            joints=tuple(spec.joints),
            bones=tuple((a - 1, b - 1) for a, b in spec.bones),
            center=spec.center - 1,
            origin=(spec.origin or spec.center) - 1,
            coord_dims=spec.coord_dims,
            flip_pairs=tuple((a - 1, b - 1) for a, b in spec.flip_pairs),
            parts={k: tuple(j - 1 for j in v) for k, v in spec.parts.items()},
        )

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    @cached_property
    def adjacency(self) -> np.ndarray:
        """(V, V) symmetric 0/1 matrix of the bones, no self loops."""
        a = np.zeros((self.num_joints, self.num_joints), dtype=np.float32)
        for i, j in self.bones:
            a[i, j] = a[j, i] = 1.0
        return a

    @cached_property
    def degrees(self) -> np.ndarray:
        """(V,) number of bones at each joint."""
        return self.adjacency.sum(axis=1).astype(np.int64)

    @cached_property
    def flip_permutation(self) -> np.ndarray:
        """(V,) index array that swaps left and right joints (an involution)."""
        perm = np.arange(self.num_joints)
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm

    @cached_property
    def bone_parents(self) -> np.ndarray:
        """(V,) parent of each joint on the tree rooted at `center` (the centre is its own parent).

        The bone stream is x[v] - x[parent[v]], as in the two-stream GCN literature.
        """
        parent = np.full(self.num_joints, -1)
        parent[self.center] = self.center
        frontier = [self.center]
        while frontier:
            nxt = []
            for u in frontier:
                for v in np.flatnonzero(self.adjacency[u]):
                    if parent[v] < 0:
                        parent[v] = u
                        nxt.append(int(v))
            frontier = nxt
        unreachable = np.flatnonzero(parent < 0)  # none in a layout loaded from YAML (LayoutSpec refuses it)
        parent[unreachable] = unreachable  # a joint off the tree gets a zero bone
        return parent

    def joint_index(self, name: str) -> int:
        try:
            return self.joints.index(name)
        except ValueError:
            raise ConfigError(f"layout {self.name}", "joint", f"unknown joint {name!r}") from None


def available_layouts() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml"))


def squashed_name(name: str) -> str:
    """`name` without case, dashes, underscores or spaces: msr-action3d and MSR_Action3D are one name."""
    return re.sub(r"[-_\s]", "", name.lower())


@lru_cache(maxsize=None)
def load_layout(name_or_path: str) -> Layout:
    """A built-in layout by name (dashes or underscores and case aside), or a user's layout YAML by path."""
    path = Path(name_or_path)
    if not path.suffix:
        key = squashed_name(name_or_path)
        name = next((n for n in available_layouts() if squashed_name(n) == key), name_or_path)
        path = BUILTIN_DIR / f"{name}.yaml"
        if not path.exists():
            raise ConfigError(
                "layout", name_or_path,
                f"unknown layout; built in: {', '.join(available_layouts())}, or give a YAML path",
            )
    if not path.exists():
        raise InputFileError(path, "layout file not found")
    try:
        raw = yaml.safe_load(path.read_text())
        spec = LayoutSpec.model_validate(raw)
    except yaml.YAMLError as e:
        raise InputFileError(path, f"not valid YAML: {e}") from None
    except ValidationError as e:
        problems = "; ".join(f"{key}: {problem}" for key, problem in validation_problems(e))
        raise InputFileError(path, problems, fix="see asma/skeleton/layouts/ntu25.yaml") from None
    return Layout.from_spec(spec)
