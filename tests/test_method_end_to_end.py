"""The method end to end: a short masked pretraining, then the frozen protocols.

Smoke-sized ASMa (two encoders, views a and b, Barlow Twins) pretrained for 8 epochs on a
10-class synthetic set, then the linear protocol (frozen encoders, cached features, `mean`
alignment, i.e. a pure linear head) and kNN. A regression check of the whole chain: pretraining
-> encoders -> BatchNorm statistics of the training clips -> cached features -> probes.

What it does NOT check, because it does not hold: that this pretraining beats a randomly
initialised frozen encoder by a clear margin. Against a floor whose BatchNorm statistics are
estimated on the same clips (asma/evaluation/protocols.py: random_encoders), pretrained-minus-floor
linear top-1 over seeds 0-3 was -3.4 points on average at this budget, and +0.7 to +9.2 on
average after 20-40 epochs with per-seed swings of +-10 (docs/method.md, "Pretrained vs random
init"). An earlier version of this test asserted a 10-point margin; that margin came from the
floor's BatchNorms holding their initial statistics.
"""
import pytest

from asma.config.loading import load_config
from asma.evaluation.protocols import EncoderSource, run_protocols
from asma.training.data import build_run_data
from asma.training.loop import pretrain
from asma.training.runtime import LocalRuntime

CHANCE = 10.0  # 10 classes


@pytest.mark.slow
def test_short_pretraining_learns_and_its_features_separate_the_classes(tmp_path):
    cfg = load_config("smoke", [
        "data.synthetic={num_classes: 10, samples_per_class: 30}", f"data.cache_dir={tmp_path / 'cache'}",
        f"out_dir={tmp_path}", "train.epochs=8", "train.threads=1", "train.seed=0", "eval.seed=0",
        "eval.epochs=100", "alignment.kind=mean",
    ])
    data = build_run_data(cfg)
    result = pretrain(cfg, data, LocalRuntime(tmp_path / "run"))
    losses = [m["loss"] for m in result.history]
    assert losses[-1] < 0.7 * losses[0], losses  # measured 254 -> 120
    record = run_protocols(cfg, EncoderSource(result.model.encoders(), "pretrained", tmp_path, 8), data,
                           ["linear", "knn"])
    for name in ("linear", "knn"):  # measured 70.2 and 66.7
        assert record["protocols"][name]["top1"] >= 4 * CHANCE, (name, record["protocols"][name])
