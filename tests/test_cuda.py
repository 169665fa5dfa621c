"""The GPU paths: pretraining, resume, every evaluation protocol and Ray Train with a GPU worker.

Skipped where torch sees no GPU (CI has none); run on a GPU machine with `pytest -m cuda`. The rest
of the suite runs on the GPU there too, since `train.device=auto` picks it.
"""
from __future__ import annotations

import copy

import pytest
import torch

from asma.config.loading import load_config
from asma.evaluation.protocols import EncoderSource, PROTOCOLS, run_protocols
from asma.evaluation.proxy import proxy_knn
from asma.training.data import build_run_data
from asma.training.loop import pretrain
from asma.training.runtime import LocalRuntime
from test_loop import Interrupted, StopAfter  # tests/ is on sys.path under pytest

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

TINY = ["data.window=12", "data.synthetic={num_classes: 4, samples_per_class: 8}", "encoder.base_channels=4",
        "encoder.feature_dim=16", "encoder.depth=2", "projector.dim=32", "alignment.tokens=4",
        "alignment.heads=2", "train.epochs=3", "train.batch_size=4", "train.max_steps_per_epoch=2",
        "train.device=cuda", "eval.epochs=3", "eval.finetune_epochs=1", "eval.batch_size=8",
        "eval.semi_repeats=1", "eval.semi_fractions=[0.5]", "eval.knn_k=3"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("cuda")
    cfg = load_config("smoke", TINY + [f"data.cache_dir={root / 'cache'}", f"out_dir={root / 'runs'}"])
    return cfg, build_run_data(cfg), root


def test_resumed_gpu_run_ends_where_a_straight_one_does(tiny, tmp_path):
    """Checkpoints are written from GPU tensors and loaded to CPU first (weights_only), then moved."""
    cfg, data, _ = tiny
    straight = pretrain(cfg, data, LocalRuntime(tmp_path / "straight", device="cuda"), proxy=proxy_knn)
    assert all(p.is_cuda for p in straight.model.parameters())
    with pytest.raises(Interrupted):
        pretrain(cfg, data, StopAfter(tmp_path / "resumed", epochs=2, device="cuda"), proxy=proxy_knn)
    resumed = pretrain(cfg, data, LocalRuntime(tmp_path / "resumed", device="cuda"), proxy=proxy_knn)
    assert [m["epoch"] for m in resumed.history] == [3]
    # cuDNN may pick other kernels (and TF32) between runs: close, not bit-equal
    assert resumed.final["loss"] == pytest.approx(straight.final["loss"], rel=1e-3)
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-3, rtol=1e-3), key


def test_every_protocol_runs_on_the_gpu_and_the_frozen_ones_score_as_on_the_cpu(tiny, tmp_path):
    """The frozen protocols (linear, kNN) train their heads on the same features either way, so the
    GPU's top-1 is the CPU's, give or take one test clip (kernels sum in another order). The
    fine-tuning protocols draw their augmentations on the device, another stream than the CPU's:
    they are held to their sample counts."""
    cfg, data, root = tiny
    result = pretrain(cfg, data, LocalRuntime(tmp_path / "run", device="cuda"), proxy=proxy_knn)
    on_cpu = {view: copy.deepcopy(enc).cpu() for view, enc in result.model.encoders().items()}
    source = EncoderSource(result.model.encoders(), "pretrained", tmp_path, 3)
    protocols = [p for p in PROTOCOLS if p != "transfer"]  # transfer needs a second data set
    gpu = run_protocols(cfg, source, data, protocols, out=tmp_path / "gpu.json")["protocols"]
    cpu_cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"device": "cpu"})})
    cpu = run_protocols(cpu_cfg, EncoderSource(on_cpu, "pretrained", tmp_path, 3), data, ["linear", "knn"],
                        out=tmp_path / "cpu.json")["protocols"]
    one_clip = 100.0 / len(data.test)
    for name in ("linear", "knn"):
        assert abs(gpu[name]["top1"] - cpu[name]["top1"]) <= one_clip + 1e-6, (name, gpu[name], cpu[name])
    for name in ("linear", "finetune", "supervised"):
        assert gpu[name]["test_samples"] == len(data.test), name


@pytest.mark.slow
def test_ray_train_worker_trains_on_its_gpu(tmp_path):
    """One Ray Train worker with one GPU: Ray hands it cuda:0 and the NCCL process group."""
    from asma.training.ray_trainer import pretrain_on_ray

    cfg = load_config("smoke", TINY + [
        "name=gpu", f"out_dir={tmp_path / 'runs'}", f"ray.storage_path={tmp_path / 'ray'}",
        f"data.cache_dir={tmp_path / 'cache'}", "ray.workers=1", "ray.gpus_per_worker=1", "ray.cpus_per_worker=1"])
    result = pretrain_on_ray(cfg, proxy=proxy_knn)
    assert [m["epoch"] for m in result.history] == [1, 2, 3]
    assert all(torch.isfinite(torch.tensor(m["loss"])) for m in result.history)


def test_compiled_encoders_train_as_eager_ones():
    """train.compile on the GPU: at every one of three Adam steps, the Inductor-compiled encoders,
    given the eager model's weights of that step, give its loss within 1e-4 relative and its
    gradient within 2e-2 (relative norm of the difference), and eager's state-dict keys; so the
    compiled graph reads the weights each step, not those it was compiled with. Each step starts from
    eager's weights: Adam's first steps move every weight by about the learning rate however small
    its gradient, so two runs that differ only in the order of their sums part within a few steps.
    Dropout is off (compiled dropout draws other random numbers). On a CPU the loop refuses
    compiling (tests/test_loop.py): there one residual convolution's gradient came out 8-55% off."""
    from asma.models.pretrainer import MaskedPretrainer
    from asma.skeleton.layout import load_layout
    from asma.training.loop import make_optimizer

    layout = load_layout("ntu25")
    clips = (torch.randn(8, 3, 20, 25, 2, generator=torch.Generator().manual_seed(0)).cumsum(2) * 0.1).cuda()
    models = {}
    for mode in ("eager", "default"):
        torch.manual_seed(0)
        cfg = load_config(None, ["encoder.base_channels=4", "encoder.feature_dim=16", "encoder.depth=3",
                                 "projector.dim=32", "encoder.dropout=0.0", f"train.compile={mode}"])
        models[mode] = MaskedPretrainer(cfg, layout).cuda().train()
        models[mode].compile_encoders(cfg.train.compile)
    eager, compiled = models["eager"], models["default"]
    assert list(compiled.state_dict()) == list(eager.state_dict())
    optimizer = make_optimizer(eager.parameters(), cfg.optim)
    for step in range(3):
        compiled.load_state_dict(eager.state_dict())  # this step's weights (and BatchNorm statistics)
        losses, grads = [], []
        for model in (eager, compiled):
            model.zero_grad(set_to_none=True)
            loss = model(clips, torch.Generator(device="cuda").manual_seed(1 + step))["loss"]
            loss.backward()
            losses.append(loss.detach())
            grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
        assert torch.allclose(losses[1], losses[0], rtol=1e-4), (step, losses)
        error = (grads[1] - grads[0]).norm() / grads[0].norm()
        assert error < 2e-2, (step, float(error))
        optimizer.step()
