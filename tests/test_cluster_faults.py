"""Faults on a real two-node Ray: a lost worker node during a study and during Ray Train, a killed driver.

The cluster is a head and a second node on this machine (`ray start --head --block` and
`ray start --address --block`, loopback, free ports, each its own temp dir), stopped by PID. Each
node has 1 logical CPU, so two 1-CPU trials or Ray Train workers can only run one per node. Every
driver is an `asma` process joined with --address (this test process may hold the suite's own
Ray). A killed node is SIGKILLed with all its processes, as a lost machine is; where work needs two
nodes again, a fresh node joins, as an autoscaler's replacement would.
"""
from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from asma.ablation.pool import plan, run
from local_head import BIN, LocalHead, LocalNode  # tests/local_head.py
from test_ablate_end_to_end import tiny_study  # tests/ is on sys.path under pytest

pytestmark = pytest.mark.slow

RUNS = ("asma__synthetic__seed0", "pstl__synthetic__seed0")  # --seeds 1
ALL_RUNS = (*RUNS, "asma__synthetic__seed1", "pstl__synthetic__seed1")  # the study's 2 seeds


class TwoNodes:
    def __init__(self, head: LocalHead):
        self.head = head
        self.nodes: list[LocalNode] = []

    def node(self) -> LocalNode:
        """The live second node, starting a fresh one if the last was killed."""
        if not self.nodes or self.nodes[-1].process is None:
            self.nodes.append(LocalNode(self.head, num_cpus=1).start())
            time.sleep(2)  # let the head's scheduler see the node's resources
        return self.nodes[-1]

    def asma(self, log: Path, *args: str) -> "Driver":
        return Driver(log, [str(BIN / "asma"), *args, "--address", self.head.gcs], self.head.env)


class Driver:
    """An `asma` command joined to the head, its output (stdout and stderr) in a file."""

    def __init__(self, log: Path, command: list[str], env: dict):
        self.log = log
        with log.open("w") as out:
            self.process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text()

    def finish(self, timeout: float = 300) -> str:
        """Wait for the command to succeed; its output."""
        self.process.wait(timeout=timeout)
        assert self.process.returncode == 0, self.output()[-4000:]
        return self.output()

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def wait_for(self, condition, timeout: float = 600) -> None:
        """Poll `condition` while the command runs (the moment to inject a fault). The timeout only
        guards against a hang: beside a running study, a Ray Train run took over 180 s to reach its
        second epoch."""
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.process.poll() is None, f"the command ended before the fault:\n{self.output()[-3000:]}"
            assert time.monotonic() < deadline, "the fault's moment never came"
            time.sleep(0.1)


@pytest.fixture(scope="module")
def cluster():
    two = TwoNodes(LocalHead(num_cpus=1).start())
    try:
        two.node()
        yield two
    finally:
        left = [pid for node in two.nodes for pid in node.stop()] + two.head.stop()
    assert not left, f"processes of the stopped cluster still run: {left}"


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """PSTL and ASMa, seeds 0 and 1, 4 tiny epochs each (about 0.3-0.8 s an epoch here: time to
    inject a fault after epoch 2); one synthetic cache for every study here."""
    return tiny_study(tmp_path_factory.mktemp("faults"), epochs=4)


def results(out: Path) -> dict[str, dict]:
    runs = out / "ablations" / "tiny" / "runs"
    return {p.stem: json.loads(p.read_text()) for p in sorted(runs.glob("*.json"))}


def scores(result: dict) -> tuple:
    return result["metrics"], result["pretrain"]["epochs"], round(result["pretrain"]["final_loss"], 3)


@pytest.fixture(scope="module")
def undisturbed(study, tmp_path_factory) -> dict[str, dict]:
    """The study's 4 runs without Ray (`asma pool`, 2 at a time), what every fault here must
    end with: so these tests also hold a Tune trial's figures to the pool's, which records/ mixes
    (the confirmation study's seed-5 runs)."""
    out = tmp_path_factory.mktemp("undisturbed")
    plan([str(study)], str(out), out / "plan.json", None)
    assert run(out / "plan.json", str(out), str(out / "work"), 2, float("inf")) == {
        "finished": 4, "failed": {}, "not_started": 0}
    found = results(out)
    assert sorted(found) == sorted(ALL_RUNS)
    return found


def reports(trial: Path) -> list[dict]:
    """What the Tune driver recorded of a trial's reports since its last start (its result.json)."""
    results = trial / "result.json"
    return [json.loads(line) for line in results.read_text().splitlines()] if results.exists() else []


def test_a_worker_node_lost_mid_study(cluster, study, undisturbed, tmp_path):
    """Both trials start, one per node; the node dies once the driver has its trial's second epoch
    (so the first epoch's checkpoint is registered). That trial runs again on the head from a
    checkpoint: every run finishes, its result written once, with the undisturbed figures."""
    node = cluster.node()
    out = tmp_path / "out"
    tune, runs = out / "ablations" / "tiny" / "tune", out / "ablations" / "tiny" / "runs"
    driver = cluster.asma(tmp_path / "driver.log", "ablate", str(study), "--seeds", "1", "--out", str(out))

    def node_trial_at_epoch_2() -> bool:
        on_node = set(node.pids())
        return any(len(rows) >= 2 and rows[0]["pid"] in on_node for rows in map(reports, tune.glob("*_*/")))

    driver.wait_for(node_trial_at_epoch_2)
    node.kill()
    written: dict[str, int] = {}
    while driver.process.poll() is None:  # each result file's first write, to see that none is written twice
        for path in runs.glob("*.json"):
            written.setdefault(path.stem, path.stat().st_mtime_ns)
        time.sleep(0.1)
    output = driver.finish()
    found = results(out)
    assert sorted(found) == sorted(RUNS), output[-3000:]
    assert {p.stem: p.stat().st_mtime_ns for p in runs.glob("*.json")} == {r: written.get(r) for r in RUNS}
    assert {r: scores(found[r]) for r in RUNS} == {r: scores(undisturbed[r]) for r in RUNS}
    failed = [trial for trial in tune.glob("*_*/") if (trial / "error.txt").exists()]
    assert len(failed) == 1, "the lost node should have held one running trial"
    restarts = [r["training_iteration"] for r in reports(failed[0]) if r["iterations_since_restore"] == 1]
    assert restarts[-1] >= 2, f"the restarted trial should continue from a checkpoint, not from epoch 1: {restarts}"


def settled_results(runs: Path, quiet_s: float = 5.0, timeout: float = 120) -> dict[str, int]:
    """The result files and their mtimes once none has been written for `quiet_s` seconds."""
    deadline = time.monotonic() + timeout
    seen, since = None, time.monotonic()
    while time.monotonic() < deadline:
        now = {p.stem: p.stat().st_mtime_ns for p in runs.glob("*.json")}
        if now != seen:
            seen, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return seen
        time.sleep(0.2)
    raise AssertionError(f"result files still changing after {timeout} s: {seen}")


def test_a_killed_driver_resumes_cleanly(cluster, study, undisturbed, tmp_path):
    """Four runs, two at a time: SIGKILL the driver once its first run has finished. Two runs were
    then pending, so Tune's saved experiment holds trials that never reported. `--resume` keeps the
    finished run, runs the rest, prints no traceback or error, and ends with the undisturbed figures."""
    cluster.node()
    out = tmp_path / "out"
    runs, tune = out / "ablations" / "tiny" / "runs", out / "ablations" / "tiny" / "tune"
    args = ("ablate", str(study), "--out", str(out))
    driver = cluster.asma(tmp_path / "driver.log", *args)
    # a finished run, and Tune's first snapshot of the experiment (under load it can come after the first run)
    driver.wait_for(lambda: any(runs.glob("*.json")) and any(tune.glob("experiment_state-*.json")))
    driver.kill()
    # the dead driver's trial processes stop when Ray sees it gone; one may finish its run first (seen
    # on a loaded machine): the runs done before the resume are those written by then
    before = settled_results(runs)
    assert 1 <= len(before) < 4, "the driver should be killed mid-study"
    output = cluster.asma(tmp_path / "resume.log", *args, "--resume").finish()
    assert "resuming interrupted trials" in output and f"{len(before)} were done before" in output
    assert "Traceback" not in output and "Error" not in output, output[-4000:]
    found = results(out)
    assert {r: scores(found[r]) for r in ALL_RUNS} == {r: scores(undisturbed[r]) for r in ALL_RUNS}
    assert all((runs / f"{r}.json").stat().st_mtime_ns == t for r, t in before.items())


def pretrain(cluster: TwoNodes, tmp: Path, name: str, *overrides: str) -> Driver:
    """`asma pretrain` with two Ray Train workers of 1 CPU each (so one per node)."""
    (tmp / "logs").mkdir(exist_ok=True)
    sets = [f"name={name}", f"out_dir={tmp / 'runs'}", f"ray.storage_path={tmp / 'ray'}",
            f"data.cache_dir={tmp / 'cache'}", *overrides]
    return cluster.asma(tmp / "logs" / f"{name}.log", "pretrain", "smoke", "--workers", "2",
                        *[arg for value in sets for arg in ("--set", value)])


def test_ray_train_survives_a_lost_node(cluster, undisturbed_two_workers, tmp_path):
    """The node holding one of the two workers dies after epoch 2's checkpoint; a fresh node joins;
    the worker group restarts from the checkpoint (ray.max_failures, 1 by default) and ends with
    the losses of an undisturbed run of the same config (conftest.py), within the bound
    test_ray_train.py uses for a restart."""
    node = cluster.node()
    driver = pretrain(cluster, tmp_path, "two", "train.epochs=4")
    log = tmp_path / "runs" / "two" / "metrics.jsonl"
    driver.wait_for(lambda: log.exists() and log.read_text().count("\n") >= 2)
    node.kill()
    cluster.node()  # the replacement: two 1-CPU workers need two nodes
    output = driver.finish()
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    assert [m["epoch"] for m in logged] == [1, 2, 3, 4], f"an epoch was lost or repeated:\n{output[-3000:]}"
    expected = [h["loss"] for h in undisturbed_two_workers.history]
    assert [m["loss"] for m in logged] == pytest.approx(expected, rel=1e-4)
    latest = json.loads((tmp_path / "runs" / "two" / "checkpoints" / "latest.json").read_text())
    assert latest["epoch"] == 4
