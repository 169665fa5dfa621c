"""PSTL's own code (github.com/YujieOuO/PSTL), importable beside the project without sacred or a GPU.

PSTL reads its settings through sacred: `from config import *` gives each module `ex`, and
`@ex.capture` fills a function's unset arguments from config.py. A stand-in `config` module does
the same from a dict the caller owns, read at call time (so a runner can change, say, the log path
between phases). Without a GPU, PSTL's `.cuda()` calls become the identity. Used by
bench/bench_step.py (one step, for speed) and experiments/pstl_reference.py (whole runs, for accuracy).
"""
from __future__ import annotations

import functools
import importlib
import inspect
import sys
import types
from pathlib import Path

import torch


def capture_from(config: dict):
    """sacred's `ex.capture`: unset arguments named in `config` are taken from it."""
    def capture(fn):
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def filled(*args, **kwargs):
            bound = signature.bind_partial(*args, **kwargs)
            for name in signature.parameters:
                if name not in bound.arguments and name in config:
                    kwargs[name] = config[name]
            return fn(*args, **kwargs)
        return filled
    return capture


def import_pstl(folder: Path, config: dict, on_gpu: bool = False, modules: tuple[str, ...] = ("model",)):
    """PSTL's modules by name (model.py, procedure.py, ...) and its ST-GCN `Model`, settings from `config`."""
    shim = types.ModuleType("config")
    shim.ex = types.SimpleNamespace(capture=capture_from(config), automain=lambda fn: fn)
    shim.__all__ = ["ex"]
    sys.modules["config"] = shim
    if not on_gpu:
        torch.Tensor.cuda = lambda self, *a, **k: self  # PSTL moves everything to the GPU
        torch.nn.Module.cuda = lambda self, *a, **k: self
    sys.path.insert(0, str(folder))
    try:
        loaded = [importlib.import_module(name) for name in modules]
        from module.gcn.st_gcn import Model as PSTLEncoder
    except ModuleNotFoundError as e:
        raise SystemExit(f"cannot import PSTL from {folder}: {e} "
                         "(PSTL's model.py needs einops: `.venv/bin/pip install einops`)") from None
    return (*loaded, PSTLEncoder)
