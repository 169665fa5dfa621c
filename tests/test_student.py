"""The student family: sizes, shapes, and the parameter reduction against the real default teacher."""
import pytest
import torch

from asma.config.schema import Config, StudentConfig
from asma.distillation.distill import Teacher
from asma.evaluation.heads import AlignedClassifier
from asma.models.pretrainer import MaskedPretrainer
from asma.models.student import StudentClassifier, StudentEncoder, count_parameters, resample_frames
from asma.skeleton.layout import load_layout

NTU = load_layout("ntu25")


def default_teacher(num_classes: int = 60) -> Teacher:
    """The default teacher: both default encoders + the default alignment module + a linear head."""
    cfg = Config()
    encoders = MaskedPretrainer(cfg, NTU, 3).encoders()
    head = AlignedClassifier(cfg.alignment, len(encoders), cfg.encoder.feature_dim, num_classes)
    return Teacher(encoders, head)


def test_default_student_has_at_least_91_4_percent_fewer_parameters_than_the_default_teacher():
    teacher = default_teacher()
    student = StudentClassifier(Config().student, NTU, 3, 60, teacher.out_dim)
    teacher_params = count_parameters(teacher)
    assert teacher_params > 1_000_000  # two PSTL-size ST-GCNs, cross-attention alignment, head
    deployed = count_parameters(student.deployable())
    with_training_projection = count_parameters(student)
    assert 1 - deployed / teacher_params >= 0.914
    assert 1 - with_training_projection / teacher_params >= 0.914


@pytest.mark.parametrize("arch", ["stgcn", "tcn"])
def test_student_encoder_takes_any_window_and_persons(arch):
    cfg = StudentConfig(arch=arch, base_channels=4, depth=3, feature_dim=16, window=10)
    encoder = StudentEncoder(cfg, NTU, 3).eval()
    for t, m in [(10, 1), (23, 2)]:
        assert encoder(torch.randn(3, 3, t, 25, m)).shape == (3, 16)
    assert encoder.input_shape(2) == (3, 10, 25, 2)


def test_student_logits_and_projection_shapes():
    student = StudentClassifier(StudentConfig(base_channels=4, depth=2, feature_dim=16, window=8), NTU, 3, 7, 40)
    logits, feature = student(torch.randn(2, 3, 8, 25, 1))
    assert logits.shape == (2, 7) and feature.shape == (2, 16)
    assert student.project(feature).shape == (2, 40)
    assert torch.equal(student.deployable()(torch.zeros(2, 3, 8, 25, 1)), student(torch.zeros(2, 3, 8, 25, 1))[0])


@pytest.mark.parametrize("key", ["base_channels", "depth", "feature_dim"])
@pytest.mark.parametrize("arch", ["stgcn", "tcn"])
def test_student_size_grows_with_each_size_dimension(arch, key):
    small = StudentConfig(arch=arch, base_channels=4, depth=3, feature_dim=32)
    large = small.model_copy(update={key: getattr(small, key) * 2})
    assert count_parameters(StudentEncoder(large, NTU)) > count_parameters(StudentEncoder(small, NTU))


def test_resample_frames_keeps_a_clip_of_the_window_and_its_end_frames():
    x = torch.randn(2, 3, 20, 25, 2)
    assert resample_frames(x, 20) is x
    y = resample_frames(x, 7)
    assert y.shape == (2, 3, 7, 25, 2)
    torch.testing.assert_close(y[:, :, 0], x[:, :, 0])
    torch.testing.assert_close(y[:, :, -1], x[:, :, -1])
    ramp = torch.arange(5.0).view(1, 1, 5, 1, 1).expand(1, 1, 5, 2, 1)  # linear in time stays linear
    torch.testing.assert_close(resample_frames(ramp, 9)[0, 0, :, 0, 0], torch.linspace(0, 4, 9))


def test_student_config_rejects_even_kernel():
    with pytest.raises(ValueError, match="odd"):
        StudentConfig(temporal_kernel=4)
