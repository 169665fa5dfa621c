"""Distillation: the loss terms, a frozen teacher, and a student that learns the teacher's classes
from the teacher alone (whether distilling beats training from scratch is recorded below, not
asserted: on the synthetic set it does not)."""
from pathlib import Path

import pytest
import torch

from asma.config import load_config
from asma.config.schema import DistillConfig
from asma.distillation.distill import probe_teacher, student_for, train_student
from asma.evaluation.finetune import clips_of, evaluate_clips, train_classifier
from asma.evaluation.protocols import EncoderSource, random_encoders
from asma.objectives.distillation import distillation_loss, feature_match, soft_kl
from asma.training.data import build_run_data

CPU = torch.device("cpu")
SEEDS = (0, 1, 2)


def test_soft_kl_is_t_squared_times_kl_of_softened_distributions():
    s, t = torch.randn(5, 4), torch.randn(5, 4)
    temperature = 3.0
    p = torch.softmax(t / temperature, 1)
    expected = (p * (p.log() - torch.log_softmax(s / temperature, 1))).sum(1).mean() * temperature**2
    torch.testing.assert_close(soft_kl(s, t, temperature), expected)
    assert float(soft_kl(t, t, temperature)) == pytest.approx(0.0, abs=1e-6)
    assert float(soft_kl(s, t, temperature)) > 0


def test_feature_match_cosine_ignores_scale_and_mse_does_not():
    a = torch.randn(6, 8)
    assert float(feature_match(3 * a, a, "cosine")) == pytest.approx(0.0, abs=1e-6)
    assert float(feature_match(-a, a, "cosine")) == pytest.approx(2.0, abs=1e-6)
    assert float(feature_match(3 * a, a, "mse")) == pytest.approx(float((4 * a**2).mean()), rel=1e-5)
    with pytest.raises(ValueError, match="teacher"):
        feature_match(a, a[:, :4], "mse")


def test_distillation_loss_weights_terms_and_skips_inactive_ones():
    logits, proj, labels = torch.randn(4, 3), torch.randn(4, 5), torch.tensor([0, 1, 2, 0])
    t_logits, t_feat = torch.randn(4, 3), torch.randn(4, 5)
    cfg = DistillConfig(kl_weight=2.0, feature_weight=0.5, ce_weight=0.25, temperature=2.0, feature_loss="mse")
    total, parts = distillation_loss(cfg, logits, proj, labels, t_logits, t_feat)
    assert set(parts) == {"kl", "feature", "ce"}
    assert parts["kl"] == pytest.approx(2.0 * float(soft_kl(logits, t_logits, 2.0)), rel=1e-5)
    assert parts["ce"] == pytest.approx(0.25 * float(torch.nn.functional.cross_entropy(logits, labels)), rel=1e-5)
    assert float(total) == pytest.approx(sum(parts.values()), rel=1e-5)
    _, only_ce = distillation_loss(cfg, logits, proj, labels)  # no teacher: the from-scratch loss
    assert set(only_ce) == {"ce"}
    with pytest.raises(ValueError, match="no distillation term"):
        distillation_loss(cfg.model_copy(update={"ce_weight": 0.0}), logits, proj, labels)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """The smoke set, a small student, and a teacher: encoders trained with the labels, then
    linear-probed (encoders + alignment module + linear head), as a pretrained teacher would be.

    The encoders are trained with labels rather than pretrained to keep this test fast and the
    teacher strong: distillation only helps a student with a teacher better than the student
    alone, and on this set a short pretraining is not (docs/method.md).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: a second thread only fights the other CPU users
    cache = tmp_path_factory.mktemp("distill_cache")
    cfg = load_config("smoke", [f"data.cache_dir={cache}", "alignment.kind=concat", "eval.epochs=100",
                                "student.window=12", "student.depth=3", "student.base_channels=8",
                                "student.feature_dim=32", "distill.epochs=6", "distill.batch_size=16"])
    data = build_run_data(cfg)
    supervised = train_classifier(cfg, random_encoders(cfg, data), clips_of(cfg, data.dataset, data.train.indices, train=True),
                                  data.num_classes, CPU)
    teacher = probe_teacher(cfg, EncoderSource(dict(supervised.encoders.items()), "supervised", Path(cache), 20), data, CPU)
    yield cfg, data, teacher
    torch.set_num_threads(threads)


def test_teacher_is_frozen_and_better_than_chance(synthetic):
    cfg, data, teacher = synthetic
    assert not any(p.requires_grad for p in teacher.model.parameters()) and not teacher.model.training
    logits, feature = teacher.model(next(iter(torch.utils.data.DataLoader(data.test, batch_size=4)))[0])
    assert logits.shape == (4, data.num_classes) and feature.shape == (4, teacher.model.out_dim)
    assert teacher.linear["top1"] > 100 / data.num_classes + 15


def test_a_student_that_never_sees_a_label_learns_the_teachers_classes(synthetic):
    """KD alone (ce_weight 0): the student's own head, scored on the test clips, far above chance.

    Measured (seeds 0, 1, 2; 6 epochs, 24 steps; teacher 97%): head 79.4 / 70.6 / 72.1%, chance
    16.7%. With the clips the teacher sees augmented (distill.augment: true) the same students
    reached 58.8 / 60.3 / 60.3%: the linear-probed teacher, fitted on clean clips, is right on only
    48% of augmented training clips, and the student learns its mistakes.

    Not asserted, because it does not hold on this set: that KD (+ labels) beats the same student
    trained from scratch on labels. The scratch student's linear probe scored 95.6 / 85.3 / 92.6%
    against the distilled one's 88.2 / 82.4 / 88.2%: with every label available and a small
    easy set, the teacher has nothing the labels do not give (docs/method.md).
    """
    cfg, data, teacher = synthetic
    before = {k: v.clone() for k, v in teacher.model.state_dict().items()}
    heads = []
    for seed in SEEDS:
        seeded = cfg.model_copy(update={"distill": cfg.distill.model_copy(update={"seed": seed, "ce_weight": 0.0})})
        student = student_for(seeded, data, teacher.model.out_dim)
        history = train_student(seeded, data, student, teacher.model, CPU)
        assert history[-1]["loss"] < 0.75 * history[0]["loss"]  # the distillation loss goes down
        assert {"kl", "feature"} <= set(history[0]) and "ce" not in history[0]
        heads.append(evaluate_clips(student, data.test, CPU)["top1"])
    assert sum(heads) / len(heads) >= 3 * 100 / data.num_classes, heads
    for key, value in teacher.model.state_dict().items():  # the teacher did not learn
        assert torch.equal(value, before[key]), key
