"""docs/your-own-data.md as a newcomer follows it: its fake raw files, its layout and class names,
then each command of its `<!-- run -->` blocks, as written, in a fresh folder.

A page that promises "every command runs as written" is only true while something runs them."""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from asma.cli.main import main
from asma.data.format import SkeletonSet

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "your-own-data.md"
BLOCK = re.compile(r"<!-- (fake-data|run|file: [\w.]+) -->\n```\w*\n(.*?)```", re.DOTALL)


def page_blocks() -> list[tuple[str, str]]:
    """(marker, content) of each marked code block, in page order."""
    return BLOCK.findall(PAGE.read_text())


def commands(blocks: list[tuple[str, str]]) -> list[list[str]]:
    """Each `asma ...` command of the run blocks as argv, continuation lines joined."""
    text = "\n".join(body for marker, body in blocks if marker == "run").replace("\\\n", " ")
    return [shlex.split(line) for line in text.splitlines() if line.strip()]


def lay_out_files(blocks: list[tuple[str, str]], folder: Path) -> None:
    """The page's fake raw files and its files (layout YAML, class names, study), written in `folder`."""
    for marker, body in blocks:
        if marker == "fake-data":
            exec(compile(body, str(PAGE), "exec"), {})
        elif marker.startswith("file: "):
            (folder / marker.removeprefix("file: ")).write_text(body)


def test_every_command_block_of_the_page_is_run_here():
    fenced = re.findall(r"(<!-- [^>]+ -->\n)?```(bash|python|yaml)", PAGE.read_text())
    assert fenced and all(marker for marker, _ in fenced), "a bash, python or yaml block no test runs"
    assert all(argv[0] == "asma" for argv in commands(page_blocks()))


def test_the_page_from_raw_files_to_a_checked_set(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    blocks = page_blocks()
    lay_out_files(blocks, tmp_path)
    data_commands = [argv for argv in commands(blocks) if argv[1] in ("data", "show")]
    assert [argv[1:3] for argv in data_commands] == [["data", "import"], ["data", "info"], ["show", "data/mine"]]
    for argv in data_commands:
        assert main(argv[1:]) == 0, argv
    s = SkeletonSet.open("data/mine")
    assert len(s) == 160 and s.class_names == ["wave", "clap", "bow", "kick"] and s.layout.name == "openni15"
    assert {len(s.splits["xsub"]["train"]), len(s.splits["xsub"]["test"])} == {80}
    assert (tmp_path / "sample.png").stat().st_size > 0
    assert json.loads((tmp_path / "data/mine/meta.json").read_text())["layout"] == "layout.yaml"
    monkeypatch.chdir(tmp_path / "data")  # the set opens from anywhere: its layout travels with it
    assert main(["data", "info", "mine"]) == 0


@pytest.mark.slow
def test_the_whole_page_runs_as_written(tmp_path):
    """Every command, pretraining, evaluation, the ablation on Ray and its report included, as a
    newcomer's shell runs them (a process each)."""
    blocks = page_blocks()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    cwd = Path.cwd()
    try:
        os.chdir(tmp_path)
        lay_out_files(blocks, tmp_path)
    finally:
        os.chdir(cwd)
    for argv in commands(blocks):
        done = subprocess.run([sys.executable, "-m", "asma.cli.main", *argv[1:]], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"{shlex.join(argv)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert (tmp_path / "runs/mine_smoke/asma/eval.json").exists()
    assert (tmp_path / "runs/ablations/mine/report.md").exists()
