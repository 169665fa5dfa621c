"""The alignment module (asma/models/alignment.py) and its loss (asma/objectives/alignment.py)."""
import pytest
import torch

from asma.config.schema import AlignmentConfig, EncoderConfig
from asma.errors import ConfigError
from asma.evaluation.heads import AlignedClassifier, EncoderClassifier, classification_loss
from asma.models.alignment import AlignmentHead
from asma.models.stgcn import STGCN
from asma.objectives.alignment import alignment_loss
from asma.skeleton.layout import load_layout

KINDS = ["mean", "concat", "linear", "cross_attention"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("encoders", [1, 2])
def test_shapes_for_every_kind_and_encoder_count(kind, encoders):
    head = AlignmentHead(AlignmentConfig(kind=kind, heads=2, tokens=4), encoders, 16)
    fused, aligned = head(torch.randn(5, encoders, 16))
    assert fused.shape == (5, 16 * encoders if kind == "concat" else 16) == (5, head.out_dim)
    assert aligned.shape == (5, encoders, 16)
    assert torch.isfinite(fused).all()


def test_parameter_free_kinds():
    feats = torch.randn(3, 2, 8)
    mean = AlignmentHead(AlignmentConfig(kind="mean"), 2, 8)
    concat = AlignmentHead(AlignmentConfig(kind="concat"), 2, 8)
    assert not list(mean.parameters()) and not list(concat.parameters())
    assert torch.allclose(mean(feats)[0], feats.mean(1))
    assert torch.equal(concat(feats)[0], torch.cat([feats[:, 0], feats[:, 1]], 1))


def test_cross_attention_mixes_encoders_and_one_encoder_is_self_attention():
    torch.manual_seed(0)
    head = AlignmentHead(AlignmentConfig(kind="cross_attention", heads=2, tokens=4), 2, 16).eval()
    a, b = torch.randn(4, 16), torch.randn(4, 16)
    out1 = head(torch.stack([a, b], 1))[1]
    out2 = head(torch.stack([a, torch.randn(4, 16)], 1))[1]
    assert not torch.allclose(out1[:, 0], out2[:, 0])  # A's output depends on B
    single = AlignmentHead(AlignmentConfig(kind="cross_attention", heads=2, tokens=4), 1, 16).eval()
    x = torch.randn(4, 1, 16)
    y = single(x)[1]
    assert not torch.allclose(y, x)  # attends to its own tokens: not the identity
    x2 = x.clone()
    x2[:, 0, 12:] += 1.0  # changing the last token changes the first token's output
    assert not torch.allclose(single(x2)[1][:, 0, :4], y[:, 0, :4])


def test_indivisible_tokens_or_heads_name_the_key():
    with pytest.raises(ConfigError, match="tokens"):
        AlignmentHead(AlignmentConfig(kind="cross_attention", tokens=5, heads=1), 2, 16)
    with pytest.raises(ConfigError, match="heads"):
        AlignmentHead(AlignmentConfig(kind="cross_attention", tokens=4, heads=3), 2, 16)
    with pytest.raises(ValueError, match="expected features"):
        AlignmentHead(AlignmentConfig(kind="mean"), 2, 16)(torch.randn(3, 3, 16))


def test_alignment_loss_values():
    x = torch.randn(6, 1, 8)
    assert alignment_loss(x).item() == 0.0
    same = torch.randn(6, 8)
    assert alignment_loss(torch.stack([same, 2 * same], 1)).item() == pytest.approx(0.0, abs=1e-6)
    assert alignment_loss(torch.stack([same, -same], 1)).item() == pytest.approx(2.0, abs=1e-6)


@pytest.mark.parametrize("kind", ["linear", "cross_attention"])
def test_alignment_loss_decreases_when_optimised(kind):
    torch.manual_seed(0)
    feats = torch.randn(32, 2, 16)
    head = AlignmentHead(AlignmentConfig(kind=kind, heads=2, tokens=4), 2, 16)
    optimizer = torch.optim.Adam(head.parameters(), lr=0.01)
    first = alignment_loss(head(feats)[1]).item()
    for _ in range(60):
        loss = alignment_loss(head(feats)[1])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.5 * first


def test_classification_loss_adds_alignment_only_with_two_encoders():
    cfg = AlignmentConfig(kind="linear", loss_weight=0.5)
    logits, labels = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    one, parts_one = classification_loss(logits, labels, torch.randn(4, 1, 8), cfg)
    aligned = torch.randn(4, 2, 8)
    two, parts_two = classification_loss(logits, labels, aligned, cfg)
    assert "align" not in parts_one and one.item() == pytest.approx(parts_one["ce"])
    assert two.item() == pytest.approx(parts_two["ce"] + 0.5 * alignment_loss(aligned).item(), rel=1e-5)


@pytest.mark.parametrize("kind", ["linear", "cross_attention"])
def test_finetuning_gradients_reach_both_encoders_and_the_module(kind):
    torch.manual_seed(0)
    layout = load_layout("ntu25")
    enc_cfg = EncoderConfig(base_channels=4, feature_dim=16, depth=2)
    encoders = {"a": STGCN(enc_cfg, layout), "b": STGCN(enc_cfg, layout)}
    cfg = AlignmentConfig(kind=kind, heads=2, tokens=4, loss_weight=0.1)
    classifier = AlignedClassifier(cfg, 2, 16, 3)
    model = EncoderClassifier(encoders, classifier)
    logits, aligned = model(torch.randn(4, 3, 8, 25, 1))
    loss, parts = classification_loss(logits, torch.tensor([0, 1, 2, 0]), aligned, cfg)
    loss.backward()
    assert "align" in parts
    for name in ("a", "b"):
        grads = [p.grad for p in model.encoders[name].parameters() if p.requires_grad]
        assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0, name
    module_grads = [p.grad for p in classifier.alignment.parameters()]
    assert module_grads and all(g is not None and g.abs().sum() > 0 for g in module_grads)
    assert classifier.head.weight.grad.abs().sum() > 0
