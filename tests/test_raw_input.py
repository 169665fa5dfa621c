"""The raw-input reference (asma/evaluation/raw_input.py): the protocols on the clips themselves."""
import numpy as np
import pytest
import torch

from asma.evaluation.features import extract_features
from asma.evaluation.knn import knn_accuracy
from asma.evaluation.raw_input import RawClip, raw_input_encoders
from asma.experiments.evaluate import evaluate_reference
from tests.test_evaluation import tiny_run


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_run(tmp_path_factory.mktemp("raw"), "eval.semi_repeats=1")


def test_raw_clip_flattens_without_parameters():
    clips = torch.arange(2 * 3 * 4 * 5 * 1, dtype=torch.float64).reshape(2, 3, 4, 5, 1)
    raw = RawClip(60)
    assert raw(clips).dtype == torch.float32 and raw(clips).shape == (2, 60)
    assert torch.equal(raw(clips)[1], clips[1].flatten().float()) and not list(raw.parameters())


def test_raw_features_are_the_evaluation_clips(tiny):
    cfg, data, _ = tiny
    encoders = raw_input_encoders(cfg, data)
    features, labels = extract_features(encoders, data.test, torch.device("cpu"))
    clips = torch.stack([torch.as_tensor(data.test[i][0]) for i in range(len(data.test))])
    assert features.shape == (len(data.test), 1, encoders["raw"].feature_dim)
    assert torch.equal(features[:, 0], clips.flatten(1).float())


def test_raw_reference_row_scores_linear_knn_and_semi(tiny, tmp_path):
    cfg, data, _ = tiny
    columns = evaluate_reference(cfg, data, "raw", ["linear", "knn", "semi", "finetune"], tmp_path / "raw.json")
    assert list(columns) == ["linear", "knn", "semi_10%", "semi_50%"]  # finetune has nothing to fine-tune
    # the kNN column is the cosine kNN of the flattened clips, computed here without the protocol
    features, train_y = extract_features(raw_input_encoders(cfg, data), data.train, torch.device("cpu"))
    test, test_y = extract_features(raw_input_encoders(cfg, data), data.test, torch.device("cpu"))
    expected = knn_accuracy(features, train_y, test, test_y, data.num_classes, cfg.eval.knn_k,
                            cfg.eval.knn_temperature)["top1"]
    assert columns["knn"] == pytest.approx(expected)
    assert all(0 <= v <= 100 for v in columns.values()) and np.isfinite(list(columns.values())).all()
