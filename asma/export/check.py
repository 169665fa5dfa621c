"""Does an exported file give the outputs PyTorch gives? Run it in its own runtime and compare.

Tolerances (absolute, on logits): torchscript and onnx 1e-4 (float32 kernels differ in summation
order only); int8 is not the same function, so it is held to the fp32 model's top-1 class on at
least 90% of the check inputs, and its largest deviation is reported, not bounded.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from asma.errors import AsmaError

FLOAT_ATOL = 1e-4
INT8_MIN_AGREEMENT = 0.9


class ExportMismatch(AsmaError):
    """An exported model whose outputs differ from PyTorch's beyond the tolerance."""


def run_torchscript(path: Path, x: torch.Tensor) -> torch.Tensor:
    model = torch.jit.load(str(path), map_location="cpu")
    with torch.no_grad():
        return model(x)


def run_onnx(path: Path, x: torch.Tensor) -> tuple[torch.Tensor, str]:
    """Outputs through onnxruntime when installed (the `export` extra), else onnx's reference evaluator."""
    import onnx

    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    try:
        import onnxruntime
    except ImportError:
        from onnx.reference import ReferenceEvaluator

        return torch.from_numpy(ReferenceEvaluator(str(path)).run(None, {"clips": x.numpy()})[0]), "onnx.reference"
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return torch.from_numpy(np.asarray(session.run(None, {"clips": x.numpy()})[0])), "onnxruntime"


def compare_outputs(reference: torch.Tensor, exported: torch.Tensor) -> dict:
    if reference.shape != exported.shape:
        raise ExportMismatch(f"exported output shape {tuple(exported.shape)} != PyTorch's {tuple(reference.shape)}")
    return {"max_abs_diff": float((reference - exported).abs().max()),
            "top1_agreement": float((reference.argmax(1) == exported.argmax(1)).float().mean())}


def check_export(model: nn.Module, fmt: str, path: Path, inputs: torch.Tensor) -> dict:
    """Compare `path` (written from `model` as `fmt`) with the fp32 PyTorch model on `inputs`.

    Returns the comparison with the tolerance applied; raises ExportMismatch outside it.
    """
    with torch.no_grad():
        reference = model.eval()(inputs)
    runtime = "torch.jit"
    if fmt == "onnx":
        exported, runtime = run_onnx(path, inputs)
    else:
        exported = run_torchscript(path, inputs)
    result = {"format": fmt, "runtime": runtime, "inputs": list(inputs.shape), **compare_outputs(reference, exported)}
    if fmt == "int8":
        result["tolerance"] = f"top-1 agreement >= {INT8_MIN_AGREEMENT:.0%} with fp32"
        ok = result["top1_agreement"] >= INT8_MIN_AGREEMENT
    else:
        result["tolerance"] = f"max |diff| <= {FLOAT_ATOL:g}"
        ok = result["max_abs_diff"] <= FLOAT_ATOL
    if not ok:
        raise ExportMismatch(f"{path}: {fmt} outputs differ from PyTorch ({result['max_abs_diff']:.3g} max abs diff, "
                             f"top-1 agreement {result['top1_agreement']:.0%}; tolerance {result['tolerance']})")
    return {**result, "within_tolerance": ok}
