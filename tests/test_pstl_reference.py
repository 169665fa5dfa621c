"""experiments/pstl_reference.py: PSTL's settings at our sizes; with PSTL's code ($PSTL_DIR), the layout
adaptation given NTU's layout equals PSTL's own functions. Its runs are not tests (they train)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from asma.config.loading import load_config
from asma.skeleton.layout import load_layout

from experiments.pstl_reference import pstl_defaults, pstl_settings

PSTL_CONFIG_PY = '''
from sacred import Experiment
ex = Experiment("PSTL", save_git_info=False)

@ex.config
def my_config():
    version = "ntu60_xsub_j"
    dropout = 0.5
    graph_args = {"layout": "ntu-rgb+d", "strategy": "spatial"}
    weight_path = "./output/weight/v" + version + "_epoch_150_pretrain.pt"
    shear_amp = 1
    pj_size = 6144
    max_frame = 50
    mask_joint = 8
'''


def real_pstl_view(*overrides):
    return load_config("real", ["masking.views=[pstl]", "data.path=data/msr_action3d", "train.epochs=7", *overrides])


def test_defaults_are_config_py_literals(tmp_path):
    (tmp_path / "config.py").write_text(PSTL_CONFIG_PY)
    assert pstl_defaults(tmp_path) == {"version": "ntu60_xsub_j", "dropout": 0.5, "shear_amp": 1, "pj_size": 6144,
                                       "max_frame": 50, "mask_joint": 8,
                                       "graph_args": {"layout": "ntu-rgb+d", "strategy": "spatial"}}


def test_sizes_and_budget_are_ours_the_rest_pstls():
    defaults = {"dropout": 0.5, "shear_amp": 1, "temperal_padding_ratio": 6, "pj_size": 6144, "max_frame": 50}
    s = pstl_settings(real_pstl_view(), load_layout("msr_action3d"), defaults, [])
    assert (s["max_frame"], s["person_num"], s["joint_num"], s["hidden_channels"], s["hidden_dim"], s["hidden_size"]) == \
        (40, 1, 20, 16, 128, 128)
    assert (s["pj_size"], s["lambd"], s["batch_size"], s["pretrain_lr"], s["pretrain_epoch"]) == (512, 0.005, 32, 0.002, 7)
    assert (s["lp_epoch"], s["lp_lr"], s["lp_batch_size"]) == (100, 0.01, 32)
    assert (s["mask_joint"], s["mask_frame"]) == (6, 8)  # 0.32 of 20 joints; 0.2 of 40 frames, by motion and at random
    assert (s["dropout"], s["shear_amp"], s["temperal_padding_ratio"], s["warmup_epoch"]) == (0.5, 1, 6, 10)
    assert s["graph_args"] == {"layout": "msr_action3d", "strategy": "spatial"}
    changed = pstl_settings(real_pstl_view(), load_layout("msr_action3d"), defaults, ["dropout=0.0", "warmup_epoch=0"])
    assert (changed["dropout"], changed["warmup_epoch"]) == (0.0, 0)


@pytest.mark.parametrize("ours, pstl_set", [(["projector.layers=2"], []), (["encoder.depth=6"], []),
                                            (["masking.specs.pstl.frames.random_ratio=0.1"], []),
                                            ([], ["no_such_setting=1"]), ([], ["weight_path=/tmp/x"])])
def test_what_pstls_code_cannot_run_is_refused(ours, pstl_set):
    with pytest.raises(SystemExit):
        pstl_settings(real_pstl_view(*ours), load_layout("msr_action3d"), {"dropout": 0.5}, pstl_set)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("PSTL_DIR"), reason="needs PSTL's code: PSTL_DIR=/path/to/PSTL (and einops)")
def test_adaptation_on_ntu_is_pstls_own_code():
    # a subprocess: importing PSTL's code turns .cuda() into the identity for the whole process
    done = subprocess.run([sys.executable, "-m", "experiments.pstl_reference", "--pstl", os.environ["PSTL_DIR"], "--check-ntu"],
                          capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stdout + done.stderr


class FakeProcedure:
    """PSTL's procedure module as far as run_seed uses it: seeding and the input stream."""
    seeds: list = []

    @classmethod
    def setup_seed(cls, seed):
        cls.seeds.append(seed)

    @staticmethod
    def get_stream(data):
        return data


def fake_phases(started: list):
    import torch

    class Pretrain:
        def start(self):
            started.append("pretrain")

    class LinearEval:
        def __init__(self):
            self.encoder, self.classifier = torch.nn.Identity(), torch.nn.Identity()
            # two test clips whose "logits" argmax to class 1, labels 1 and 0: top-1 50%
            self.data_loader = {"test": [(torch.tensor([[0.0, 1.0], [0.0, 1.0]]), torch.tensor([1, 0]))]}

            class Log:
                max_data = {"test_acc": 0.5, "best_epoch": 3}
                epoch_data = {"log/test/cls_acc": [0.25, 0.5]}
            self.log = Log()

        def start(self):
            started.append("lp")

    return Pretrain, LinearEval


def test_zero_epochs_is_the_floor_linear_evaluation_of_a_random_init_encoder(tmp_path):
    from experiments.pstl_reference import run_seed
    started, settings = [], {"pretrain_epoch": 0, "weight_path": "stale.pt"}
    result = run_seed(3, tmp_path, settings, FakeProcedure, fake_phases(started))
    assert started == ["lp"]  # nothing pretrained, nothing saved
    assert settings["weight_path"] == ""  # PSTL's load_weights then keeps the random init
    assert result["seed"] == 3 and result["top1"] == 50.0 and result["pretrain_seconds"] is None
    assert not (tmp_path / "seed3" / "pretrain.json").exists()
    started.clear()
    settings = {"pretrain_epoch": 2, "weight_path": ""}
    run_seed(4, tmp_path, settings, FakeProcedure, fake_phases(started))
    assert started == ["pretrain", "lp"] and settings["weight_path"] == str(tmp_path / "seed4" / "pretrain.pt")


def test_our_probe_reads_pstls_encoder_with_both_batchnorm_statistics(tmp_path):
    """--our-probe: the clips PSTL's feeder reads, PSTL's encoder as our frozen protocols read it,
    first with its own BatchNorm statistics, then re-estimated on the training clips."""
    import pickle

    import numpy as np
    import torch
    from experiments.pstl_reference import our_probe

    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 16)
    clips = rng.normal(size=(32, 3, 4, 5, 1)).astype(np.float32) + labels[:, None, None, None, None] * 3.0
    settings = {"pretrain_epoch": 2, "in_channels": 3, "hidden_channels": 4, "hidden_dim": 8, "dropout": 0.5,
                "graph_args": {}, "edge_importance_weighting": True}
    for part in ("train", "test"):
        np.save(tmp_path / f"{part}.npy", clips)
        with open(tmp_path / f"{part}.pkl", "wb") as f:
            pickle.dump(([f"s{i}" for i in range(32)], labels.tolist()), f)
        settings[f"{part}_list"], settings[f"{part}_label"] = str(tmp_path / f"{part}.npy"), str(tmp_path / f"{part}.pkl")

    class Model(torch.nn.Sequential):  # PSTL's Model's keyword arguments; a BatchNorm to estimate
        def __init__(self, in_channels, hidden_channels, hidden_dim, dropout, graph_args, edge_importance_weighting):
            super().__init__(torch.nn.Flatten(), torch.nn.Linear(in_channels * 20, hidden_dim),
                             torch.nn.BatchNorm1d(hidden_dim))

    class Procedure(FakeProcedure):
        pass
    Procedure.Model = Model
    (tmp_path / "seed0").mkdir()
    torch.manual_seed(1)
    saved = Model(3, 4, 8, 0.5, {}, True)
    saved[2].running_mean.fill_(100.0)  # pretraining's statistics, far from the clips'
    torch.save(saved.state_dict(), tmp_path / "seed0" / "pretrain.pt")
    cfg = load_config("smoke", ["eval.epochs=30", "alignment.kind=concat"])  # as the real preset
    result = our_probe(0, tmp_path, settings, Procedure, cfg, num_classes=2)
    assert result["seed"] == 0 and set(result) == {"seed", "pretrain_bn", "precise_bn"}
    assert result["precise_bn"]["linear"] == 100.0 and result["precise_bn"]["knn"] == 100.0  # separable clips
    assert 0 in Procedure.seeds
    with torch.no_grad():
        saved[1].weight.zero_()  # constant features: what is read is the saved encoder, not a new one
    (tmp_path / "seed2").mkdir()
    torch.save(saved.state_dict(), tmp_path / "seed2" / "pretrain.pt")
    blind = our_probe(2, tmp_path, settings, Procedure, cfg, num_classes=2)
    assert blind["precise_bn"]["linear"] == blind["pretrain_bn"]["linear"] == 50.0
    with pytest.raises(FileNotFoundError):
        our_probe(1, tmp_path, settings, Procedure, cfg, num_classes=2)  # seed 1 was never pretrained
