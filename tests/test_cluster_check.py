"""asma/cluster/resources.py: counting what fits, reading requests, judging them against nodes."""
from __future__ import annotations

from pathlib import Path

import pytest

from asma.cli.cluster import request_of
from asma.cluster.resources import Request, bundles_that_fit, judge
from asma.errors import InputFileError

ROOT = Path(__file__).resolve().parents[1]


def test_bundles_never_span_nodes_and_fractions_do_not_round_away():
    nodes = [{"CPU": 8, "GPU": 4}, {"CPU": 4, "GPU": 1}]
    assert bundles_that_fit(nodes, {"CPU": 2, "GPU": 1}) == 4 + 1
    assert bundles_that_fit(nodes, {"CPU": 1, "GPU": 0.1}) == 8 + 4  # CPUs bind first
    assert bundles_that_fit([{"CPU": 16, "GPU": 1}], {"CPU": 1, "GPU": 0.1}) == 10
    assert bundles_that_fit(nodes, {"CPU": 1, "GPU": 5}) == 0
    assert bundles_that_fit([{"CPU": 4}], {"CPU": 1, "GPU": 1}) == 0  # a CPU node holds no GPU bundle
    assert bundles_that_fit(nodes, {"CPU": 1, "GPU": 0}) == 12  # zero requests do not constrain


def test_a_study_asks_per_trial_and_a_config_per_worker():
    study = request_of(str(ROOT / "ablations" / "quick.yaml"))
    assert (study.what, study.count, study.together) == ("trial", 1, False)
    assert study.bundle == {"CPU": 1.0, "GPU": 0.0}
    config = request_of("smoke", ["ray.workers=4", "ray.gpus_per_worker=0.5", "ray.cpus_per_worker=2"])
    assert (config.what, config.count, config.together) == ("worker", 4, True)
    assert config.bundle == {"CPU": 2.0, "GPU": 0.5}
    assert config.describe() == "4 x {CPU: 2, GPU: 0.5} per worker"


def test_bad_inputs_name_the_file(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("variants: [unclosed\n")
    with pytest.raises(InputFileError, match="broken.yaml"):
        request_of(str(broken))
    with pytest.raises(InputFileError, match="--set"):
        request_of(str(ROOT / "ablations" / "quick.yaml"), ["train.epochs=2"])


@pytest.mark.slow
def test_judge_against_a_live_two_cpu_ray(ray_session):
    nodes = [dict(n["Resources"]) for n in ray_session.nodes() if n["Alive"]]
    cpus = sum(n.get("CPU", 0) for n in nodes)
    fits = judge(Request("t", "trial", {"CPU": 1, "GPU": 0}, 1, together=False), nodes)
    assert not fits.problem and fits.fit_now == cpus
    waits = judge(Request("c", "worker", {"CPU": 1, "GPU": 0}, int(cpus) + 1, together=True), nodes)
    assert waits.problem and not waits.fatal and "must run at once" in waits.problem
    never = judge(Request("g", "worker", {"CPU": 1, "GPU": 1}, 1, together=True), nodes)
    assert never.fatal and "GPU" in never.problem
