"""Write a deployed student (clips (N, C, T, V, M) -> logits (N, K)) as a file other runtimes load.

- torchscript: `torch.jit.trace`; loads with `torch.jit.load`, no asma code needed.
- onnx: opset 17, a dynamic batch axis; input `clips`, output `logits`.
- int8: `torch.ao.quantization.quantize_dynamic` on the Linear layers (int8 weights, activations
  quantized on the fly), saved as TorchScript. Convolutions stay float: dynamic quantization has
  no conv kernels, so on a conv-heavy GCN it changes little (docs/benchmarks.md, "Student", measures it).

Every file is written next to its destination and renamed into place, so a reader never sees a
half-written model.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
import torch.nn as nn

FORMATS = ("torchscript", "onnx", "int8")
ONNX_OPSET = 17


def _staged(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    return out.with_name(f".{out.name}.partial")


def quantize_int8(model: nn.Module) -> nn.Module:
    """Dynamic int8 quantization of the Linear layers (a copy; `model` is left as it is)."""
    with warnings.catch_warnings():  # torch.ao.quantization announces its move to torchao
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        return torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)


def trace(model: nn.Module, example: torch.Tensor) -> torch.jit.ScriptModule:
    with torch.no_grad(), warnings.catch_warnings():
        # the student's resampling branch is skipped for clips of its window: tracing records that
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", UserWarning)  # quantized int8 tensors announce a deprecation
        return torch.jit.trace(model.eval(), example)


def export_torchscript(model: nn.Module, example: torch.Tensor, out: Path) -> Path:
    tmp = _staged(out)
    trace(model, example).save(str(tmp))
    os.replace(tmp, out)
    return out


def export_int8(model: nn.Module, example: torch.Tensor, out: Path) -> Path:
    return export_torchscript(quantize_int8(model.eval()), example, out)


def export_onnx(model: nn.Module, example: torch.Tensor, out: Path) -> Path:
    tmp = _staged(out)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The TorchScript-based exporter writes opset 17 as asked. The dynamo exporter (torch 2.13,
        # onnx 1.23) writes opset 18 and fails to convert the student down to 17 ("The model was not
        # modified"), so its files would not be the opset 17 promised above. tests/test_export.py checks
        # this exporter's files only.
        torch.onnx.export(model.eval(), (example,), str(tmp), input_names=["clips"], output_names=["logits"],
                          dynamic_axes={"clips": {0: "batch"}, "logits": {0: "batch"}},
                          opset_version=ONNX_OPSET, dynamo=False)
    os.replace(tmp, out)
    return out


EXPORTERS = {"torchscript": export_torchscript, "onnx": export_onnx, "int8": export_int8}


def export_model(model: nn.Module, example: torch.Tensor, fmt: str, out: Path) -> Path:
    if fmt not in EXPORTERS:
        raise ValueError(f"unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")
    return EXPORTERS[fmt](model, example, Path(out))
