"""`asma demo`'s study ships inside the package (an installed asma has no ablations/ folder)."""
from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest

import asma
from asma.ablation.study_file import load_study
from asma.cli.ablate import DEMO_STUDY

ROOT = Path(__file__).resolve().parents[1]


def test_the_demo_study_is_package_data():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    package = Path(asma.__file__).resolve().parent
    relative = DEMO_STUDY.relative_to(package).as_posix()  # raises if it lies outside the package
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["asma"]
    assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), f"{relative} is not in {patterns}"
    assert load_study(DEMO_STUDY).name == "quick"


def test_the_checkout_s_quick_study_is_the_demo_s():
    assert (ROOT / "ablations" / "quick.yaml").read_text() == DEMO_STUDY.read_text()
