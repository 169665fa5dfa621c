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
