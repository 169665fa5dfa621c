"""Pretrained against the random-init floor: one pretraining and the same frozen protocols on both.

The floor is the config's encoders randomly initialised, BatchNorm statistics estimated on the
training clips (random_encoders); the pretrained encoders are read the same way (eval.precise_bn).
Used by the method test and experiments/floor_margin.py; takes a preset and overrides, not a Config, so
that it can run in a spawned worker process.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from asma.config.loading import load_config
from asma.evaluation.protocols import EncoderSource, random_encoders, run_protocols
from asma.evaluation.proxy import proxy_knn
from asma.training.data import build_run_data
from asma.training.loop import pretrain
from asma.training.runtime import LocalRuntime


def pretrained_vs_floor(preset: str, overrides: list[str], protocols: tuple[str, ...] = ("linear", "knn"),
                        out_dir: str | None = None) -> dict:
    """{"pretrained": {protocol: top-1}, "floor": {...}, "losses": [first, last], "seconds": s}."""
    started = time.perf_counter()
    out = Path(out_dir or tempfile.mkdtemp(prefix="asma_floor_"))
    cfg = load_config(preset, [f"out_dir={out}", *overrides])
    data = build_run_data(cfg)
    run = pretrain(cfg, data, LocalRuntime(out / "run", device=cfg.train.device), proxy=proxy_knn)
    sources = {"pretrained": EncoderSource(run.model.encoders(), "pretrained", out, cfg.train.epochs),
               "floor": EncoderSource(random_encoders(cfg, data), "random-init", out)}
    result: dict = {"losses": [run.history[0]["loss"], run.history[-1]["loss"]]}
    for name, source in sources.items():
        record = run_protocols(cfg, source, data, list(protocols), out=out / f"{name}.json")
        result[name] = {p: float(record["protocols"][p]["top1"]) for p in protocols}
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result
