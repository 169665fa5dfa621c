"""Exported students give PyTorch's outputs: TorchScript, ONNX (onnxruntime or reference), int8."""
import json
from pathlib import Path

import pytest
import torch

from asma.cli.main import main
from asma.config import load_config
from asma.config.loading import config_to_dict
from asma.config.schema import StudentConfig
from asma.data.atomic import write_json_atomic
from asma.distillation.distill import load_student
from asma.errors import InputFileError
from asma.export.check import ExportMismatch, check_export
from asma.export.formats import export_model
from asma.models.pretrainer import MaskedPretrainer
from asma.models.student import StudentClassifier
from asma.skeleton.layout import load_layout
from asma.training.data import build_run_data
from asma.training.runtime import save_checkpoint_file

NTU = load_layout("ntu25")


def small_student(arch: str = "stgcn", seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    student = StudentClassifier(StudentConfig(arch=arch, base_channels=4, depth=3, feature_dim=16, window=10), NTU, 3, 5, 32)
    return student.deployable().eval()


@pytest.mark.parametrize("fmt", ["torchscript", "onnx", "int8"])
@pytest.mark.parametrize("arch", ["stgcn", "tcn"])
def test_exported_student_matches_pytorch(tmp_path, arch, fmt):
    model = small_student(arch)
    out = export_model(model, torch.randn(1, 3, 10, 25, 2), fmt, tmp_path / f"student.{fmt}")
    assert out.exists() and not list(tmp_path.glob(".*partial"))
    result = check_export(model, fmt, out, torch.randn(6, 3, 10, 25, 2))  # batch 6: the batch axis is dynamic
    assert result["within_tolerance"] and result["top1_agreement"] >= 0.9
    if fmt != "int8":
        assert result["max_abs_diff"] <= 1e-4


@pytest.mark.parametrize("arch", ["stgcn", "tcn"])
def test_int8_file_runs_quantized_linear_layers_close_to_float(tmp_path, arch):
    """Every Linear layer runs as a dynamic int8 kernel in the exported file, and the logits move by
    more than float noise (the weights were rounded) but by at most 2% of their largest value
    (measured: 0.4-0.7%): an export that skipped quantization, or quantized wrongly, fails."""
    model = small_student(arch)
    linears = sum(isinstance(m, torch.nn.Linear) for m in model.modules())
    out = export_model(model, torch.randn(1, 3, 10, 25, 2), "int8", tmp_path / "student_int8.pt")
    graph = str(torch.jit.load(str(out)).inlined_graph)
    assert linears >= 1 and graph.count("quantized::linear_dynamic") == linears
    assert "aten::linear" not in graph
    x = torch.randn(64, 3, 10, 25, 2, generator=torch.Generator().manual_seed(0))
    result = check_export(model, "int8", out, x)
    with torch.no_grad():
        largest = float(model(x).abs().max())
    assert 1e-5 < result["max_abs_diff"] <= 0.02 * largest, (result, largest)
    assert result["top1_agreement"] >= 0.9


def test_a_file_of_another_model_is_caught(tmp_path):
    out = export_model(small_student(seed=1), torch.randn(1, 3, 10, 25, 2), "onnx", tmp_path / "other.onnx")
    with pytest.raises(ExportMismatch, match="differ from PyTorch"):
        check_export(small_student(seed=2), "onnx", out, torch.randn(4, 3, 10, 25, 2))


def test_load_student_rejects_a_pretraining_checkpoint(tmp_path):
    save_checkpoint_file({"epoch": 1, "model": {}, "config": {}}, tmp_path / "epoch_0001.pt")
    with pytest.raises(InputFileError, match="not an asma student checkpoint"):
        load_student(tmp_path / "epoch_0001.pt")
    with pytest.raises(InputFileError, match="no such student checkpoint"):
        load_student(tmp_path / "missing")


def fake_teacher_run(run_dir: Path, overrides: list[str]) -> None:
    """A pretraining run folder as `asma pretrain` leaves it, with random-init weights (epoch 0)."""
    cfg = load_config("smoke", overrides)
    data = build_run_data(cfg)
    torch.manual_seed(0)
    model = MaskedPretrainer(cfg, data.dataset.layout, data.in_channels)
    (run_dir / "checkpoints").mkdir(parents=True)
    save_checkpoint_file({"epoch": 0, "model": model.state_dict(), "config": config_to_dict(cfg)},
                         run_dir / "checkpoints" / "epoch_0000.pt")
    write_json_atomic(run_dir / "checkpoints" / "latest.json", {"path": "epoch_0000.pt", "epoch": 0})


def test_distill_and_export_commands_end_to_end(tmp_path, capsys):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        teacher = tmp_path / "teacher"
        fake_teacher_run(teacher, [f"data.cache_dir={tmp_path / 'cache'}", "alignment.kind=concat"])
        sets = ["eval.epochs=5", "distill.epochs=2", "distill.batch_size=16", "student.window=12",
                "student.depth=2", "student.base_channels=4", "student.feature_dim=16"]
        argv = ["distill", "--teacher", str(teacher), "--quiet", "--baseline"]
        assert main(argv + [a for s in sets for a in ("--set", s)]) == 0
        folder = teacher / "students" / "stgcn_w4_d2_f16_T12"
        record = json.loads((folder / "distill.json").read_text())
        assert {"linear", "knn"} <= set(record["student"]["protocols"])
        assert record["parameter_reduction_pct"] > 0 and "scratch" in record
        teacher_cost, student_cost = record["teacher"]["inference"], record["student"]["inference"]
        assert teacher_cost["mflops"] > student_cost["mflops"] > 0 and student_cost["threads"] >= 1
        assert record["speedup_b1"] == pytest.approx(teacher_cost["latency_ms_b1"] / student_cost["latency_ms_b1"])
        assert (folder / "eval.json").exists() and (folder / "config.yaml").exists()
        for fmt, name in [("onnx", "student.onnx"), ("int8", "student_int8.pt")]:
            assert main(["export", str(folder / "student.pt"), "--format", fmt, "--out", str(tmp_path / name)]) == 0
            assert (tmp_path / name).stat().st_size > 0
        assert '"within_tolerance": true' in capsys.readouterr().out
        assert main(["export", str(teacher), "--format", "onnx", "--out", str(tmp_path / "x.onnx")]) == 2
    finally:
        torch.set_num_threads(threads)
