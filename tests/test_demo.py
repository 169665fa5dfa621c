"""`asma demo`'s study, and every other file the package reads at run time, ship inside the package
(an installed asma has no ablations/ folder, and no data file setuptools was not told of)."""
from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest

import asma
from asma.ablation.study_file import load_study
from asma.cli.ablate import DEMO_STUDY
from asma.config.schema import BUILT_IN_VIEWS_FILE

ROOT = Path(__file__).resolve().parents[1]


def _is_package_data(path: Path) -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    package = Path(asma.__file__).resolve().parent
    relative = path.relative_to(package).as_posix()  # raises if it lies outside the package
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["asma"]
    assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), f"{relative} is not in {patterns}"


def test_the_demo_study_is_package_data():
    _is_package_data(DEMO_STUDY)
    assert load_study(DEMO_STUDY).name == "quick"


def test_the_built_in_masking_views_are_package_data():
    _is_package_data(BUILT_IN_VIEWS_FILE)


def test_the_checkout_s_quick_study_is_the_demo_s():
    assert (ROOT / "ablations" / "quick.yaml").read_text() == DEMO_STUDY.read_text()
