"""asma.training.precision: a bfloat16 step on a CPU that emulates the type is said at the start of
pretraining, with the fix, and every run's record names the CPU it ran on."""
import logging

import pytest
import torch

from asma.config.loading import load_config
from asma.evaluation.proxy import proxy_knn
from asma.training import precision
from asma.training.data import build_run_data
from asma.training.loop import pretrain
from asma.training.runtime import LocalRuntime

CPU = torch.device("cpu")


def test_the_slowdown_is_measured_on_this_cpu():
    slowdown = precision.cpu_bfloat16_slowdown()
    assert slowdown > 0 and precision.cpu_bfloat16_slowdown() == slowdown  # measured once per process
    described = precision.cpu_description()
    assert described["model"] and described["capability"] == torch.backends.cpu.get_cpu_capability()


@pytest.mark.parametrize("measured, warned", [(17.3, True), (0.6, False)])
def test_a_slow_bfloat16_cpu_is_warned_about_with_the_fix(monkeypatch, caplog, measured, warned):
    monkeypatch.setattr(precision, "cpu_bfloat16_slowdown", lambda: measured)
    with caplog.at_level(logging.WARNING, logger="asma.precision"):
        assert precision.check_bfloat16("bfloat16", CPU) == measured
    messages = [r.getMessage() for r in caplog.records]
    assert bool(messages) == warned
    if warned:
        assert "17.3x slower than float32" in messages[0] and "train.precision=float32" in messages[0]
        assert "asma pool run --precision float32" in messages[0]  # the way to finish a bfloat16 study here


def test_nothing_is_measured_for_float32_or_a_gpu(monkeypatch):
    monkeypatch.setattr(precision, "cpu_bfloat16_slowdown", lambda: pytest.fail("measured"))
    assert precision.check_bfloat16("float32", CPU) is None
    assert precision.check_bfloat16("bfloat16", torch.device("cuda")) is None
    assert "bfloat16_slowdown" not in precision.cpu_record("float32", CPU)
    assert "bfloat16_slowdown" not in precision.cpu_record("bfloat16", torch.device("cuda"))


def test_pretraining_in_bfloat16_on_a_slow_cpu_says_so_before_the_first_epoch(monkeypatch, caplog, tmp_path):
    monkeypatch.setattr(precision, "cpu_bfloat16_slowdown", lambda: 17.3)
    cfg = load_config("smoke", [
        f"data.cache_dir={tmp_path / 'cache'}", "data.window=12", "data.synthetic.num_classes=3",
        "data.synthetic.samples_per_class=4", "encoder.base_channels=4", "encoder.feature_dim=16", "encoder.depth=2",
        "projector.dim=32", "train.epochs=1", "train.batch_size=4", "train.max_steps_per_epoch=1", "train.threads=1",
        "eval.knn_k=3", "train.precision=bfloat16"])
    with caplog.at_level(logging.WARNING, logger="asma.precision"):
        pretrain(cfg, build_run_data(cfg), LocalRuntime(tmp_path / "run", device="cpu"), proxy=proxy_knn)
    assert any("17.3x slower" in r.getMessage() for r in caplog.records)
    assert precision.cpu_record("bfloat16", CPU)["bfloat16_slowdown"] == 17.3


def test_a_study_says_it_before_its_trials_start_on_this_machine(monkeypatch):
    """`asma ablate` keeps the trials' output out of its terminal: the driver says it, once, counting
    the runs that pretrain in bfloat16 (a floor or ceiling row pretrains nothing)."""
    from rich.console import Console

    from asma.ablation.runner import warn_if_bfloat16_is_slow_here

    def spec(precision, reference=None):
        return {"reference": reference, "protocols": ["linear"],
                "config": {"train": {"precision": precision, "device": "cpu", "epochs": 200}, "distill": {}}}
    specs = {"a": spec("bfloat16"), "b": spec("bfloat16"), "floor": spec("bfloat16", "floor"), "c": spec("float32")}
    for measured, expected in ((17.3, "warning 2 runs to go pretrain in bfloat16: train.precision=bfloat16 runs "
                                       "17.3x slower than float32"), (1.0, "")):
        monkeypatch.setattr(precision, "cpu_bfloat16_slowdown", lambda: measured)
        console = Console(record=True, width=400)
        warn_if_bfloat16_is_slow_here(specs, list(specs), console)
        text = console.export_text().strip()
        assert text.startswith(expected) if expected else text == ""
    console = Console(record=True, width=400)
    monkeypatch.setattr(precision, "cpu_bfloat16_slowdown", lambda: 17.3)
    warn_if_bfloat16_is_slow_here(specs, ["floor", "c"], console)  # nothing to go pretrains in bfloat16
    assert console.export_text() == ""
