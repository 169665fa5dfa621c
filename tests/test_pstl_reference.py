"""bench/pstl_reference.py: PSTL's settings at our sizes; with PSTL's code ($PSTL_DIR), the layout
adaptation given NTU's layout equals PSTL's own functions. Its runs are not tests (they train)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from asma.config.loading import load_config
from asma.skeleton.layout import load_layout

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))
from pstl_reference import pstl_defaults, pstl_settings  # noqa: E402

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


@pytest.mark.skipif(not os.environ.get("PSTL_DIR"), reason="needs PSTL's code: PSTL_DIR=/path/to/PSTL (and einops)")
def test_adaptation_on_ntu_is_pstls_own_code():
    # a subprocess: importing PSTL's code turns .cuda() into the identity for the whole process
    done = subprocess.run([sys.executable, str(BENCH / "pstl_reference.py"), "--pstl", os.environ["PSTL_DIR"], "--check-ntu"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
