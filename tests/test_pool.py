"""asma/ablation/pool.py (`asma pool`): a study's unfinished runs planned and run without Ray; the
records it writes are the ones `asma ablate` accepts as finished, and a run shared by two studies runs
once."""
from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from asma.ablation.finished import finished_runs
from asma.ablation.pool import plan, run
from asma.ablation.specs import run_specs, study_dir
from asma.ablation.study_file import load_study
from asma.cli.main import main
from asma.evaluation.protocols import find_checkpoint
from asma.experiments.trial_files import STALE_AFTER_S
from asma.reports.study_status import study_status

pytestmark = pytest.mark.slow  # the pool runs its runs in spawned processes

STUDY = {
    "base": "smoke",
    "variants": {"pstl": {"masking.views": ["pstl"]}, "asma": {"masking.views": ["a", "b"], "default": True},
                 "floor": {"masking.views": ["a", "b"], "reference": "floor"}},
    "factors": [{"name": "strategy", "variants": ["pstl", "asma", "floor"]}],
    "seeds": 1,
    "protocols": ["knn", "linear"],
}


def write(tmp_path: Path, name: str, study: dict) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**study, "overrides": {"data.cache_dir": str(tmp_path / "cache")}}, sort_keys=False))
    return path


def specs_of(path: Path, out: Path) -> dict:
    study = load_study(path)
    specs = run_specs(study, study_dir(study, out))
    for spec in specs.values():
        spec["config"]["out_dir"] = str(out)
    return specs


def test_planned_runs_run_once_and_count_as_finished(tmp_path):
    out = tmp_path / "records"
    first = write(tmp_path, "first", STUDY)
    # a second study shares both runs (the same configs under another study's name) and adds one
    second = write(tmp_path, "second", {**STUDY, "variants": {**STUDY["variants"], "a_only": {"masking.views": ["a"]}},
                                        "factors": [{"name": "s", "variants": ["pstl", "asma", "floor", "a_only"]}]})
    planned = tmp_path / "plan.json"
    plan([str(first), str(second)], str(out), planned, None)
    groups = json.loads(planned.read_text())
    assert [[f"{s['study']}/{s['run']}" for s in g] for g in groups] == [
        ["first/pstl__synthetic__seed0", "second/pstl__synthetic__seed0"],
        ["first/asma__synthetic__seed0", "second/asma__synthetic__seed0"],
        ["first/floor__synthetic__seed0", "second/floor__synthetic__seed0"],
        ["second/a_only__synthetic__seed0"]]
    outcome = run(planned, str(out), str(tmp_path / "work"), workers=2, deadline=float("inf"))
    assert outcome == {"finished": 4, "failed": {}, "not_started": 0}
    for path in (first, second):
        specs = specs_of(path, out)
        assert finished_runs(specs) == set(specs)  # `asma ablate --resume` would repeat none of them
        for spec in specs.values():
            record = json.loads(Path(spec["result_path"]).read_text())
            assert record["run"] == spec["run"] and record["config"] == spec["config"]
            assert 0.0 <= record["metrics"]["knn"] <= 100.0
            assert record["machine"]["runner"] == "asma pool" and record["machine"]["device"] == "cpu"
            assert record["machine"]["cpu"]["model"]  # the CPU it ran on
            # the trial's own branches: a floor row evaluates random-init encoders, pretrains nothing
            assert (record["pretrain"]["epochs"] == 0) == (spec["variant"] == "floor")
            if record["pretrain"]["epochs"]:  # a second study's copy names the run that trained it
                by = "second" if spec["variant"] == "a_only" else "first"  # the group's first study trains it
                trained = (tmp_path / "work" / by / spec["run"]).resolve()
                assert find_checkpoint(Path(spec["result_path"])).parent.parent.resolve() == trained
    shared = [json.loads((out / "ablations" / s / "runs" / "asma__synthetic__seed0.json").read_text())
              for s in ("first", "second")]
    assert shared[0]["metrics"] == shared[1]["metrics"]  # one run, two records
    for name in ("first", "second"):  # each with the probe's per-clip scores, which fused rows read
        assert (out / "ablations" / name / "evals" / "asma__synthetic__seed0.scores.npz").exists()
    # a plan of what is finished is empty
    plan([str(first), str(second)], str(out), planned, None)
    assert json.loads(planned.read_text()) == []
    # records the pool wrote as bench/study_pool.py, before it was `asma pool`, read as its own do
    old = out / "ablations" / "first" / "runs" / "asma__synthetic__seed0.json"
    record = json.loads(old.read_text())
    old.write_text(json.dumps({**record, "machine": {**record["machine"], "runner": "bench/study_pool.py"}}))
    assert finished_runs(specs_of(first, out)) == set(specs_of(first, out))
    assert [r.state for r in study_status(out / "ablations" / "first").runs] == ["done"] * 3


def one_run_study(tmp_path: Path, name: str) -> Path:
    return write(tmp_path, name, {**STUDY, "variants": {"asma": {"masking.views": ["a", "b"], "default": True}},
                                  "factors": [{"name": "s", "variants": ["asma"]}]})


def test_asma_pool_run_plans_and_runs_a_study_with_its_folders_under_out(tmp_path, capsys):
    out = tmp_path / "records"
    study = one_run_study(tmp_path, "cli")
    assert main(["pool", "run", str(study), "--out", str(out), "--workers", "1"]) == 0
    record = json.loads((out / "ablations" / "cli" / "runs" / "asma__synthetic__seed0.json").read_text())
    assert record["machine"]["runner"] == "asma pool" and record["machine"]["runs_at_once"] == 1
    work = out / "pool"  # the default --work: the plan, the pool's log and the run's checkpoints
    assert [g[0]["run"] for g in json.loads((work / "plan.json").read_text())] == ["asma__synthetic__seed0"]
    assert [json.loads(line)["run"] for line in (work / "pool.jsonl").read_text().splitlines()] == ["asma__synthetic__seed0"]
    assert (work / "cli" / "asma__synthetic__seed0").is_dir()
    assert main(["pool", "plan", str(study), "--out", str(out)]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_asma_pool_plans_without_ray_or_optuna(tmp_path):
    """The machine `asma pool` is for may have neither: planning (and the CLI) imports none of them."""
    study = one_run_study(tmp_path, "noray")
    blocker = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] in ('ray', 'optuna'):\n"
        "            raise ImportError('no ' + name + ' here')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from asma.cli.main import main\n"
        f"sys.exit(main(['pool', 'plan', {str(study)!r}, '--out', {str(tmp_path / 'records')!r}]))\n")
    done = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads((tmp_path / "records" / "pool" / "plan.json").read_text())[0][0]["run"] == "asma__synthetic__seed0"


def test_a_deadline_starts_no_run_that_would_not_end_before_it(tmp_path):
    out = tmp_path / "records"
    study = write(tmp_path, "seeds", {**STUDY, "variants": {"asma": {"masking.views": ["a", "b"], "default": True}},
                                      "factors": [{"name": "s", "variants": ["asma"]}], "seeds": 3})
    planned = tmp_path / "plan.json"
    plan([str(study)], str(out), planned, None)
    outcome = run(planned, str(out), str(tmp_path / "work"), workers=1, deadline=1.0)
    assert outcome == {"finished": 1, "failed": {}, "not_started": 2}
    specs = specs_of(study, out)
    assert finished_runs(specs) == {"asma__synthetic__seed0"}  # the first one runs; the next would overrun
    log = [json.loads(line) for line in (tmp_path / "work" / "pool.jsonl").read_text().splitlines()]
    assert [entry["run"] for entry in log] == ["asma__synthetic__seed0"]


def test_a_failed_run_is_reported_and_the_others_go_on(tmp_path):
    out = tmp_path / "records"
    study = write(tmp_path, "broken", STUDY)
    planned = tmp_path / "plan.json"
    plan([str(study)], str(out), planned, None)
    groups = json.loads(planned.read_text())
    groups[0][0]["config"]["data"]["path"] = str(tmp_path / "no_such_set")  # asma's own error, not picklable
    planned.write_text(json.dumps(groups))
    outcome = run(planned, str(out), str(tmp_path / "work"), workers=1, deadline=float("inf"))
    assert outcome["finished"] == len(groups) - 1 and list(outcome["failed"]) == [groups[0][0]["run"]]
    assert "no_such_set" in outcome["failed"][groups[0][0]["run"]]


def test_a_run_in_another_precision_keeps_its_planned_config_and_the_report_names_it(tmp_path):
    """`--precision float32` on a CPU that emulates bfloat16: the run trains in float32, its record
    keeps the planned config (so `asma ablate --resume` counts it) and says what ran, and the
    report's CSV and compute line name it."""
    from asma.reports.report import write_report

    out = tmp_path / "records"
    study = write(tmp_path, "bf16", {**STUDY, "variants": {"asma": {"masking.views": ["a", "b"], "default": True}},
                                     "factors": [{"name": "s", "variants": ["asma"]}]})
    study.write_text(study.read_text().replace("overrides:\n", "overrides:\n  train.precision: bfloat16\n"))
    planned = tmp_path / "plan.json"
    plan([str(study)], str(out), planned, None)
    handler = signal.getsignal(signal.SIGTERM)
    outcome = run(planned, str(out), str(tmp_path / "work"), workers=1, deadline=float("inf"),
                  precision="float32")
    assert signal.getsignal(signal.SIGTERM) == handler  # the pool's own SIGTERM handler is gone with it
    assert outcome == {"finished": 1, "failed": {}, "not_started": 0}
    specs = specs_of(study, out)
    assert finished_runs(specs) == set(specs)
    record = json.loads(Path(specs["asma__synthetic__seed0"]["result_path"]).read_text())
    assert record["config"]["train"]["precision"] == "bfloat16"  # as planned
    assert record["machine"]["precision"] == {"ran": "float32", "planned": "bfloat16"}
    assert "bfloat16_slowdown" not in record["machine"]  # float32 ran: nothing was emulated
    # what `asma ablate --resume` writes beside the runs before it finds them all finished
    (out / "ablations" / "bf16" / "study.json").write_text(json.dumps({**load_study(study).to_dict(), "runs": list(specs)}))
    files = write_report(out / "ablations" / "bf16")
    assert [r["precision"] for r in csv.DictReader(files.csv.open())] == ["float32"]
    assert "1 run pretrained in float32 instead of the planned bfloat16" in files.markdown.read_text()


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid`, from /proc (Linux)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_stopping_the_pool_stops_its_runs(tmp_path):
    """SIGTERM to the pool's process (what `kill <its pid>` sends) ends the
    runs its workers train too, instead of leaving them to train on unseen (each keeps its last
    epoch's checkpoint in --work, from which the plan run again resumes it)."""
    out, work = tmp_path / "records", tmp_path / "work"
    study = write(tmp_path, "long", {**STUDY, "variants": {"asma": {"masking.views": ["a", "b"], "default": True}},
                                     "factors": [{"name": "s", "variants": ["asma"]}]})
    study.write_text(study.read_text().replace("overrides:\n", "overrides:\n  train.epochs: 100000\n"))
    planned = tmp_path / "plan.json"
    plan([str(study)], str(out), planned, None)
    pool = subprocess.Popen([sys.executable, "-m", "asma.cli.main", "pool",
                             "run", str(planned), "--workers", "1", "--out", str(out), "--work", str(work)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    metrics = work / "long" / "asma__synthetic__seed0" / "metrics.jsonl"
    deadline = time.monotonic() + 240
    while not (metrics.exists() and len(metrics.read_text().splitlines()) >= 2) and time.monotonic() < deadline:
        assert pool.poll() is None, pool.stdout.read()
        time.sleep(0.5)
    assert metrics.exists(), "the run wrote no epoch in 240 s"
    workers = [pid for pid in _children(pool.pid) if "resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_text()]
    assert workers, "no worker process under the pool"
    pool.send_signal(signal.SIGTERM)
    output = pool.communicate(timeout=60)[0]
    assert pool.returncode == 128 + signal.SIGTERM and "stopped by SIGTERM with 1 runs under way" in output
    deadline = time.monotonic() + 30
    while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_running(pid) for pid in workers), "the run trains on after its pool was stopped"
    epochs = len(metrics.read_text().splitlines())
    time.sleep(3)
    assert len(metrics.read_text().splitlines()) == epochs  # nothing writes epochs any more
    assert not (out / "ablations" / "long" / "runs" / "asma__synthetic__seed0.json").exists()  # not a finished run
    # `asma status --work` reads the stopped run from the pool's folder: where it resumes, once quiet
    quiet = study_status(out / "ablations" / "long", now=time.time() + 2 * STALE_AFTER_S, work=work).runs[0]
    assert (quiet.state, quiet.epoch, quiet.resumes_from) == ("stopped", epochs, epochs)
