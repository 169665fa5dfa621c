"""The method end to end: a short masked pretraining against randomly initialised encoders, linear probe.

Smoke-sized ASMa (two encoders, views a and b, Barlow Twins) pretrained for 8 epochs on a
10-class synthetic set, then the linear protocol (frozen encoders, cached features, `mean`
alignment, i.e. a pure linear head, 100 epochs) against the same protocol on randomly
initialised encoders of the same config.

Measured (train.seed = eval.seed = 0..3, this probe): pretrained 72/67/64/59, random init
38/57/40/65, margins 34/10/24/-6; with a 300-epoch probe 23/2/18/9; kNN shows no margin. So
the margin is NOT robust across seeds on this synthetic set (random ST-GCN features separate its
classes well): this test pins seed 0 as a regression check of the whole chain (pretraining ->
checkpointable encoders -> cached features -> probe), not as evidence that the method works.
"""
import pytest

from asma.config.loading import load_config
from asma.evaluation.protocols import EncoderSource, random_encoders, run_protocols
from asma.training.data import build_run_data
from asma.training.loop import pretrain
from asma.training.runtime import LocalRuntime

MARGIN = 10.0  # points of linear top-1; measured 34 at seed 0


@pytest.mark.slow
def test_pretraining_beats_random_init_under_a_linear_probe(tmp_path):
    cfg = load_config("smoke", [
        "data.synthetic={num_classes: 10, samples_per_class: 30}", f"data.cache_dir={tmp_path / 'cache'}",
        f"out_dir={tmp_path}", "train.epochs=8", "train.threads=1", "train.seed=0", "eval.seed=0",
        "eval.epochs=100", "alignment.kind=mean",
    ])
    data = build_run_data(cfg)
    result = pretrain(cfg, data, LocalRuntime(tmp_path / "run"))
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    pretrained = run_protocols(cfg, EncoderSource(result.model.encoders(), "pretrained", tmp_path, 8), data, ["linear"])
    floor = run_protocols(cfg, EncoderSource(random_encoders(cfg, data), "random-init", tmp_path), data, ["linear"])
    top1, floor_top1 = pretrained["protocols"]["linear"]["top1"], floor["protocols"]["linear"]["top1"]
    assert top1 >= floor_top1 + MARGIN, f"pretrained {top1:.1f} vs random init {floor_top1:.1f}"
