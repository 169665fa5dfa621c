"""End to end through a real Ray head: `ray job submit` of an ablation, with token auth on.

The head runs on this machine (127.0.0.1, its own free ports and --temp-dir) as a child process of
the test and is stopped by its PID. The job's code is a clean copy of the project uploaded with
--working-dir; the head's Python (this venv, on PATH) provides the dependencies, as a cluster's node
image does. Ray puts the uploaded folder first on PYTHONPATH, so `asma` runs the submitted code.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from local_head import BIN, LocalHead, free_ports, processes_using  # tests/ is on sys.path under pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PROJECT_FILES = ("asma", "ablations", "pyproject.toml")


@pytest.fixture(scope="module")
def head():
    head = LocalHead(num_cpus=2).start()
    try:
        yield head
    finally:
        left = head.stop()
    assert not left, f"processes of the stopped head still run: {left}"


@pytest.fixture(scope="module")
def project_copy(tmp_path_factory) -> Path:
    """What a user uploads: the package, the studies, pyproject; no venv, runs, caches or .git."""
    out = tmp_path_factory.mktemp("src")
    for name in PROJECT_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, out / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, out / name)
    return out


def runtime_env_json() -> str:
    """cluster/runtime_env.yaml without `pip`: this head's Python already has the dependencies."""
    env = yaml.safe_load((ROOT / "cluster" / "runtime_env.yaml").read_text())
    env.pop("pip")
    return json.dumps(env)


def submit(head: LocalHead, project: Path, job_id: str, *entrypoint: str, timeout: float = 600):
    return head.ray("job", "submit", "--address", head.dashboard, "--submission-id", job_id,
                    "--working-dir", str(project), "--runtime-env-json", runtime_env_json(),
                    "--", *entrypoint, timeout=timeout)


def test_a_client_without_the_cluster_token_is_refused(head):
    wrong = {**head.env, "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    refused = head.ray("job", "list", "--address", head.dashboard, env=wrong, timeout=60)
    assert refused.returncode != 0
    assert "token" in (refused.stdout + refused.stderr).lower()


def test_the_job_runs_the_uploaded_code(head, project_copy):
    done = submit(head, project_copy, "asma-where", "python", "-c", "import asma; print('ASMA_AT', asma.__file__)",
                  timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    line = next(l for l in done.stdout.splitlines() if l.startswith("ASMA_AT"))
    where = Path(line.split()[1])
    assert "working_dir_files" in where.parts, where
    assert not where.is_relative_to(ROOT), "the job imported the checkout on disk, not the upload"


def test_submitted_ablation_succeeds_and_writes_its_report(head, project_copy, tmp_path):
    out = tmp_path / "runs"  # on a real cluster: the shared file system every node mounts
    started = time.monotonic()
    done = submit(head, project_copy, "asma-quick", "asma", "ablate", "ablations/quick.yaml", "--seeds", "1",
                  "--address", "auto", "--out", str(out))
    seconds = time.monotonic() - started
    log = done.stdout[-4000:] + done.stderr[-4000:]
    assert done.returncode == 0, log
    assert head.job_status("asma-quick") == "SUCCEEDED"
    study = out / "ablations" / "quick"
    report = (study / "report.md").read_text()
    variants = yaml.safe_load((ROOT / "ablations" / "quick.yaml").read_text())["variants"]
    rows = (study / "results.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + len(variants), rows  # header + one run per variant at one seed
    for variant in variants:
        assert variant in report or str(variants[variant].get("label", "")) in report
    logs = head.ray("job", "logs", "--address", head.dashboard, "asma-quick", timeout=60)
    assert "report" in logs.stdout
    print(f"submitted quick ablation (1 seed): {seconds:.0f} s from submit to SUCCEEDED")


def test_cluster_check_joins_the_cluster_and_judges_requests(head, tmp_path):
    env = head.env
    ok = subprocess.run([str(BIN / "asma"), "cluster", "check", "--address", head.gcs,
                         str(ROOT / "ablations" / "quick.yaml")], env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "ok" in ok.stdout and "2 at once" in ok.stdout  # {CPU: 1} per trial on a 2-CPU head
    greedy = subprocess.run([str(BIN / "asma"), "cluster", "check", "--address", head.gcs, "smoke",
                             "--set", "ray.workers=2", "--set", "ray.gpus_per_worker=1"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert greedy.returncode == 2, greedy.stdout + greedy.stderr
    assert "GPU" in greedy.stderr and "no node has" in greedy.stderr


FANOUT_STUDY = """
name: gpu_fanout
base: smoke
variants:
  asma: {masking.views: [a, b], default: true}
  pstl: {masking.views: [pstl]}
factors:
  - {name: masking strategy, variants: [pstl, asma]}
seeds: 1
datasets:
  - {name: synthetic, path: synthetic, split: xsub}
protocols: [knn]
budget: {epochs: 1}
resources: {cpus: 1, gpus: 1}
"""


def test_local_multi_gpu_recipe_fans_trials_over_gpus_and_stops_its_head(tmp_path):
    """cluster/local_multi_gpu.sh with two logical GPUs (Ray schedules GPU requests on them; with no
    CUDA the trials fall back to the CPU): one trial per GPU, both at once, then the head is gone."""
    study = tmp_path / "gpu_fanout.yaml"
    study.write_text(FANOUT_STUDY)
    port, dashboard = free_ports(2)
    ray_tmp = tempfile.mkdtemp(prefix="asma", dir="/tmp")
    shutil.rmtree(ray_tmp)  # the script names it; Ray creates it
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(NUM_GPUS="2", NUM_CPUS="2", RAY_PORT=str(port), DASHBOARD_PORT=str(dashboard), RAY_TMP=ray_tmp,
               ASMA=str(BIN / "asma"), RAY_AUTH_TOKEN=secrets.token_hex(32),
               PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    try:
        done = subprocess.run(["bash", str(ROOT / "cluster" / "local_multi_gpu.sh"), str(study),
                               "--out", str(tmp_path / "runs")], env=env, capture_output=True, text=True,
                              timeout=400)
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
        assert "2 GPUs" in done.stdout and "{CPU: 1, GPU: 1} per trial; 2 at once" in done.stdout
        rows = (tmp_path / "runs" / "ablations" / "gpu_fanout" / "results.csv").read_text().strip().splitlines()
        assert len(rows) == 3, rows
        assert not processes_using(ray_tmp), "the script's head outlived it"
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
        Path(ray_tmp + ".head.log").unlink(missing_ok=True)
