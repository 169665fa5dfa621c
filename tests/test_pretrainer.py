"""The pretraining model: every encoder and projector learns, streams and views are as configured."""
import pytest
import torch

from asma.config.loading import load_config
from asma.models.pretrainer import MaskedPretrainer
from asma.skeleton.layout import load_layout

LAYOUT = load_layout("ntu25")
TINY = ["encoder.base_channels=4", "encoder.feature_dim=8", "encoder.depth=3", "projector.dim=16"]


def tiny(*overrides):
    return load_config(None, TINY + list(overrides))


def clips(n=4, t=20):
    return torch.randn(n, 3, t, 25, 2, generator=torch.Generator().manual_seed(0)).cumsum(2) * 0.1


@pytest.mark.parametrize("streams, parts", [("separate", {"spatial", "temporal"}), ("combined", {"combined"})])
def test_gradients_reach_every_encoder_and_projector(streams, parts):
    model = MaskedPretrainer(tiny(f"masking.streams={streams}"), LAYOUT).train()
    out = model(clips(), torch.Generator().manual_seed(1))
    assert set(out) == {"loss"} | {f"loss/{v}/{s}" for v in ("a", "b") for s in parts}
    assert torch.allclose(out["loss"], sum(v for k, v in out.items() if k != "loss"))
    out["loss"].backward()
    for view in ("a", "b"):
        for part in ("encoder", "projector"):
            module = getattr(model.views[view], part)
            grads = [p.grad for p in module.parameters() if p.requires_grad]
            assert grads and all(g is not None and torch.isfinite(g).all() for g in grads), (view, part)
            assert sum(g.abs().sum() for g in grads) > 0, (view, part)


def test_one_encoder_per_view_and_encoders_are_independent():
    model = MaskedPretrainer(tiny("masking.views=[a, b, pstl]"), LAYOUT)
    encoders = model.encoders()
    assert list(encoders) == ["a", "b", "pstl"]
    assert len({id(e) for e in encoders.values()}) == 3
    assert encoders["a"].blocks[0].gcn.mix.weight.data_ptr() != encoders["b"].blocks[0].gcn.mix.weight.data_ptr()


def test_same_generator_seed_gives_the_same_loss():
    torch.manual_seed(0)
    model = MaskedPretrainer(tiny(), LAYOUT).train()
    first = model(clips(), torch.Generator().manual_seed(5))["loss"]
    again = model(clips(), torch.Generator().manual_seed(5))["loss"]
    other = model(clips(), torch.Generator().manual_seed(6))["loss"]
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_batch_scope_cuts_joints_out_and_sample_scope_masks_per_sample():
    model = MaskedPretrainer(tiny("masking.views=[pstl]"), LAYOUT)
    view = model.views["pstl"]
    batch_mask = view.joint_keep(6, torch.Generator().manual_seed(0))
    assert batch_mask.shape == (25,)
    sample_model = MaskedPretrainer(tiny("masking.views=[a]"), LAYOUT)
    assert sample_model.views["a"].joint_keep(6, torch.Generator().manual_seed(0)).shape == (6, 25)


def test_projecting_streams_together_equals_projecting_each_alone():
    """project_streams: Linear layers over the stacked streams, BatchNorm per stream. The same
    projections, gradients and running statistics as one projector call per stream, in order."""
    from asma.config.schema import ProjectorConfig
    from asma.models.projector import make_projector, project_streams

    torch.manual_seed(0)
    together = make_projector(8, ProjectorConfig(dim=16, layers=3)).train()
    alone = make_projector(8, ProjectorConfig(dim=16, layers=3)).train()
    alone.load_state_dict(together.state_dict())
    feats = [torch.randn(n, 8) * (i + 1) + i for i, n in enumerate((5, 5, 3))]  # streams differ in scale
    outs = project_streams(together, feats)
    expected = [alone(f) for f in feats]
    for z, e in zip(outs, expected):
        assert torch.allclose(z, e, atol=1e-5)
    sum(z.pow(3).sum() for z in outs).backward()
    sum(e.pow(3).sum() for e in expected).backward()
    for p, q in zip(together.parameters(), alone.parameters()):
        assert torch.allclose(p.grad, q.grad, atol=1e-4, rtol=1e-5)
    for b, c in zip(together.buffers(), alone.buffers()):
        assert torch.allclose(b.float(), c.float(), atol=1e-6)  # BatchNorm running statistics


def reference_forward(model: MaskedPretrainer, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The pretraining loss as the code computed it up to commit 50ac1dc (separate streams): each
    stream projected on its own, the spatial stream through the zeroed per-sample graph."""
    from asma.data.transforms import augment
    from asma.masking.frames import frames_to_keep, gather_frames
    from asma.objectives.barlow_twins import barlow_twins_loss
    from test_stgcn import zeroed_graph_reference  # pytest puts tests/ on sys.path

    cfg, total = model.cfg, 0
    for view in model.views.values():
        anchor = view.projector(view.encoder(augment(x, cfg.augment, model.layout, generator)))
        spatial = augment(x, cfg.augment, model.layout, generator)
        spatial = zeroed_graph_reference(view.encoder, spatial, view.joint_keep(x.shape[0], generator))
        temporal = augment(x, cfg.augment, model.layout, generator)
        temporal = view.encoder(gather_frames(temporal, frames_to_keep(temporal, view.view.frames, generator)))
        for feat in (spatial, temporal):
            total = total + barlow_twins_loss(anchor, view.projector(feat), cfg.projector.off_diagonal_weight)
    return total


def test_zero_removal_keeps_the_asma_loss_and_gradients_of_before():
    """masking.sample_joints=zero (the default): ASMa's loss and gradients as before streams shared
    a projector call and the zeroed path lost its per-sample graphs; `cut` changes them by design
    (BatchNorm statistics over kept joints only)."""
    torch.manual_seed(0)
    model = MaskedPretrainer(tiny("masking.sample_joints=zero", "encoder.dropout=0.2"), LAYOUT).train()
    reference = MaskedPretrainer(tiny("encoder.dropout=0.2"), LAYOUT).train()
    reference.load_state_dict(model.state_dict())
    torch.manual_seed(3)
    loss = model(clips(), torch.Generator().manual_seed(1))["loss"]
    torch.manual_seed(3)
    expected = reference_forward(reference, clips(), torch.Generator().manual_seed(1))
    assert torch.allclose(loss, expected, rtol=1e-5)
    loss.backward()
    expected.backward()
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        if p.grad is not None:
            assert torch.allclose(p.grad, q.grad, atol=1e-5, rtol=1e-4), name
    for (name, b), c in zip(model.named_buffers(), reference.buffers()):
        assert torch.allclose(b.float(), c.float()), name
    assert reference.cfg.masking.sample_joints == "zero"  # the default keeps the earlier behaviour
    cut = MaskedPretrainer(tiny("masking.sample_joints=cut", "encoder.dropout=0.2"), LAYOUT).train()
    cut.load_state_dict(model.state_dict())
    torch.manual_seed(3)
    assert not torch.allclose(cut(clips(), torch.Generator().manual_seed(1))["loss"], expected, rtol=1e-3)


def test_bfloat16_autocast_loss_is_close_to_float32():
    """train.precision=bfloat16: the same loss within 1% (measured 0.2%), gradients pointing the same
    way (cosine > 0.95; measured 0.98: bfloat16 keeps 8 bits of mantissa), weights and loss float32."""
    torch.manual_seed(0)
    exact = MaskedPretrainer(tiny(), LAYOUT).train()
    mixed = MaskedPretrainer(tiny("train.precision=bfloat16"), LAYOUT).train()
    mixed.load_state_dict(exact.state_dict())
    expected = exact(clips(8), torch.Generator().manual_seed(1))["loss"]
    loss = mixed(clips(8), torch.Generator().manual_seed(1))["loss"]
    assert loss.dtype == torch.float32 and loss != expected
    assert torch.allclose(loss, expected, rtol=0.01)
    expected.backward()
    loss.backward()
    grads = [torch.cat([p.grad.flatten() for p in m.parameters() if p.grad is not None]) for m in (exact, mixed)]
    assert torch.nn.functional.cosine_similarity(*grads, dim=0) > 0.95
    assert {p.dtype for p in mixed.parameters()} == {torch.float32}
