"""The pretraining loop: an interrupted run resumed from its checkpoint ends where an uninterrupted
one does, with the same weights."""
import numpy as np
import pytest
import torch

from asma.config.loading import load_config
from asma.evaluation.proxy import proxy_knn
from asma.training.data import build_run_data
from asma.training.loop import pretrain
from asma.training.runtime import LocalRuntime


class Interrupted(Exception):
    pass


class StopAfter(LocalRuntime):
    """A runtime that dies right after reporting (and checkpointing) `epochs` epochs."""

    def __init__(self, run_dir, epochs, device="cpu"):
        super().__init__(run_dir, device=device)
        self.stop_at = epochs

    def report(self, metrics, checkpoint=None):
        super().report(metrics, checkpoint)
        if metrics["epoch"] == self.stop_at:
            raise Interrupted


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    cfg = load_config("smoke", [
        f"data.cache_dir={cache}", "data.window=12", "data.synthetic.num_classes=3", "data.synthetic.samples_per_class=8",
        "encoder.base_channels=4", "encoder.feature_dim=16", "encoder.depth=2", "encoder.dropout=0.2",
        "projector.dim=32", "train.epochs=3", "train.batch_size=4", "train.max_steps_per_epoch=2",
        "train.threads=1", "eval.knn_k=3",
    ])
    return cfg, build_run_data(cfg)


def test_three_epochs_equal_two_then_resume_for_one(setup, tmp_path):
    cfg, data = setup
    straight = pretrain(cfg, data, LocalRuntime(tmp_path / "straight", device="cpu"), proxy=proxy_knn)
    with pytest.raises(Interrupted):
        pretrain(cfg, data, StopAfter(tmp_path / "resumed", epochs=2), proxy=proxy_knn)
    resumed = pretrain(cfg, data, LocalRuntime(tmp_path / "resumed", device="cpu"), proxy=proxy_knn)
    assert [m["epoch"] for m in resumed.history] == [3]  # only the missing epoch ran
    assert resumed.final["loss"] == pytest.approx(straight.final["loss"], rel=1e-5)
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-6), key
    assert {"loss", "lr", "samples_per_s", "knn_top1", "knn_top5"} <= set(straight.final)


def test_a_run_resumed_after_its_last_checkpoint_reports_that_epoch(setup, tmp_path):
    """A process that died after the last epoch's checkpoint, before its result was written: the
    resumed attempt trains nothing, and its final report is the checkpoint's (loss, wall time)."""
    cfg, data = setup
    done = pretrain(cfg, data, LocalRuntime(tmp_path / "run", device="cpu"), proxy=proxy_knn)
    again = pretrain(cfg, data, LocalRuntime(tmp_path / "run", device="cpu"), proxy=proxy_knn)
    assert again.history == [] and again.resumed_from == cfg.train.epochs
    assert again.final["epoch"] == cfg.train.epochs
    assert again.final["loss"] == pytest.approx(done.final["loss"]) and again.final["wall_s"] > 0


def test_a_runs_thread_count_is_put_back_after_it_even_when_it_fails(setup, tmp_path):
    """train.threads holds for the run only: what the process runs next keeps its own thread count."""
    cfg, data = setup
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        pretrain(cfg, data, LocalRuntime(tmp_path / "a", device="cpu"), proxy=proxy_knn)  # train.threads=1
        assert torch.get_num_threads() == 3
        with pytest.raises(Interrupted):
            pretrain(cfg, data, StopAfter(tmp_path / "b", epochs=1), proxy=proxy_knn)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_a_resumed_run_keeps_the_wall_time_of_the_attempts_before_it(setup, tmp_path):
    """wall_s counts every attempt: the resumed epoch adds to what the checkpoint carried."""
    cfg, data = setup
    with pytest.raises(Interrupted):
        pretrain(cfg, data, StopAfter(tmp_path / "run", epochs=2), proxy=proxy_knn)
    runtime = LocalRuntime(tmp_path / "run", device="cpu")
    carried = runtime.latest_checkpoint()["metrics"]["wall_s"]
    assert carried > 0
    resumed = pretrain(cfg, data, runtime, proxy=proxy_knn)
    assert resumed.resumed_from == 2 and resumed.final["wall_s"] > carried
    fresh = pretrain(cfg, data, LocalRuntime(tmp_path / "fresh", device="cpu"), proxy=proxy_knn)
    assert fresh.resumed_from == 0
    assert [m["wall_s"] for m in fresh.history] == sorted(m["wall_s"] for m in fresh.history)


def test_the_proxy_is_measured_when_scheduled_and_carried_between(setup, tmp_path):
    """eval_report=latest: every epoch carries the latest kNN proxy with the epoch it was measured
    after; it is measured at an attempt's first epoch, the eval_epochs and the last epoch only."""
    cfg, data = setup
    cfg = cfg.model_copy(deep=True)
    cfg.train.epochs, cfg.train.eval_report, cfg.train.eval_epochs = 6, "latest", [3]
    measured = []

    def counted_proxy(*args):
        measured.append(1)
        return proxy_knn(*args)

    reported = []
    runtime = StopAfter(tmp_path / "run", epochs=4)
    runtime.report = lambda metrics, checkpoint=None: (reported.append(dict(metrics)),
                                                       StopAfter.report(runtime, metrics, checkpoint))
    with pytest.raises(Interrupted):
        pretrain(cfg, data, runtime, proxy=counted_proxy)
    assert [m["proxy_epoch"] for m in reported] == [1, 1, 3, 3]
    assert reported[1]["knn_top1"] == reported[0]["knn_top1"] and len(measured) == 2
    resumed = pretrain(cfg, data, LocalRuntime(tmp_path / "run", device="cpu"), proxy=counted_proxy)
    assert [m["proxy_epoch"] for m in resumed.history] == [5, 6]  # the attempt's first epoch, the last
    assert len(measured) == 4
    cfg.train.eval_report = "measured"
    plain = pretrain(cfg, data, LocalRuntime(tmp_path / "plain", device="cpu"), proxy=proxy_knn)
    assert [m.get("proxy_epoch") for m in plain.history] == [None, None, 3, None, None, 6]
    assert ["knn_top1" in m for m in plain.history] == [False, False, True, False, False, True]


def test_the_proxy_is_the_calibrated_knn_and_leaves_training_statistics_alone(setup, tmp_path):
    """proxy_knn with eval.precise_bn: the kNN that the final evaluation computes (BatchNorm
    re-estimated on the training clips), while the model keeps its running averages to train on."""
    import copy

    from asma.evaluation.linear import knn_protocol
    from asma.evaluation.protocols import calibrate_batchnorm

    cfg, data = setup
    model = pretrain(cfg, data, LocalRuntime(tmp_path / "run", device="cpu"), proxy=proxy_knn).model
    before = [b.clone() for b in model.buffers()]
    proxy = proxy_knn(model, data, cfg, torch.device("cpu"))
    assert all(torch.equal(a, b) for a, b in zip(before, model.buffers()))
    calibrated = {name: copy.deepcopy(e) for name, e in model.encoders().items()}
    calibrate_batchnorm(calibrated, data, cfg, torch.device("cpu"))
    assert proxy["knn_top1"] == pytest.approx(knn_protocol(cfg, calibrated, data, torch.device("cpu"))["top1"])
    raw = cfg.model_copy(deep=True)
    raw.eval.precise_bn = False
    assert proxy_knn(model, data, raw, torch.device("cpu"))["knn_top1"] != pytest.approx(proxy["knn_top1"])  # 42.9 vs 71.4


def test_compiling_on_a_cpu_is_refused_with_the_fix(setup, tmp_path):
    """train.compile on a CPU gave a wrong gradient (asma.training.loop.COMPILE_ON_CPU): refused
    before anything trains, naming the key and the fix."""
    from asma.errors import ConfigError

    cfg, data = setup
    compiled = cfg.model_copy(update={"train": cfg.train.model_copy(update={"compile": "default"})})
    with pytest.raises(ConfigError, match="train.compile=eager") as refused:
        pretrain(compiled, data, LocalRuntime(tmp_path / "run", device="cpu"), proxy=proxy_knn)
    assert refused.value.key == "train.compile"
    assert not (tmp_path / "run" / "checkpoints").exists() or not any((tmp_path / "run" / "checkpoints").iterdir())


def test_a_set_smaller_than_a_batch_is_a_config_error(tmp_path, capsys):
    from asma.cli.main import main
    from asma.data.format import write_skeleton_set

    rng = np.random.default_rng(0)
    samples = [(f"s{i}", i % 2, rng.normal(size=(10, 1, 20, 3)).astype(np.float32)) for i in range(8)]
    write_skeleton_set(tmp_path / "set", samples, splits={"xsub": {"train": [0, 1, 2, 3], "test": [4, 5, 6, 7]}},
                       meta={"dataset": "tiny", "layout": "kinect_v1", "num_classes": 2}, num_persons=1,
                       num_joints=20, channels=3)
    args = ["pretrain", "smoke", "--set", f"data.path={tmp_path / 'set'}", "--set", "data.persons=1",
            "--set", f"out_dir={tmp_path / 'runs'}", "--set", "train.epochs=1"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "train.batch_size: no full batch of 32 in 4 training samples" in err and "Traceback" not in err
