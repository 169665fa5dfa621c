"""What a search's kNN proxy costs against the training epoch it scores, on a prepared real set.

    .venv/bin/python -m bench.bench_proxy [--data data/msr_action3d] [--preset real] [--epochs 2] [--write-docs]

Pretrains `--epochs` epochs of ASMa (two encoders) with the preset on the set, one thread, and
times each epoch's training (the loop's `epoch_time_s`) and one measurement of the proxy after each
(`asma.evaluation.proxy.proxy_knn`: BatchNorm re-estimated on the training clips, then the kNN of the
frozen features of every training and test clip).
A search measures the proxy at ASHA's rungs and the last epoch only (docs/studies.md); measuring
it every epoch costs the ratio printed here on top of every epoch. --write-docs writes the
'## Search proxy' section of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from asma.config.loading import load_config
from asma.evaluation.proxy import proxy_knn
from asma.training.data import build_run_data
from asma.training.loop import pretrain
from asma.training.runtime import LocalRuntime
from bench.benchdocs import provenance, publish

SECTION = "## Search proxy"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="data/msr_action3d", help="a prepared set (asma data prepare)")
    p.add_argument("--split", default="xsub")
    p.add_argument("--preset", default="real")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--write-docs", action="store_true")
    args = p.parse_args(argv)
    if not (Path(args.data) / "meta.json").exists():
        p.error(f"--data {args.data}: no prepared set there; run `asma data prepare` first (see docs/results.md)")
    where = provenance()
    cfg = load_config(args.preset, [f"data.path={args.data}", f"data.split={args.split}", "masking.views=[a,b]",
                                    f"train.epochs={args.epochs}", "train.threads=1", "train.eval_every=0"])
    torch.set_num_threads(1)
    data = build_run_data(cfg)
    epochs, proxies = [], []
    with tempfile.TemporaryDirectory(prefix="bench_proxy_") as tmp:
        for epoch in range(1, args.epochs + 1):  # one more epoch per call: the run resumes from its checkpoint
            cfg.train.epochs = epoch
            result = pretrain(cfg, data, LocalRuntime(Path(tmp) / "run", device="cpu"), proxy=proxy_knn)
            epochs.append(result.final["epoch_time_s"])
            started = time.perf_counter()
            proxy_knn(result.model, data, cfg, torch.device("cpu"))
            proxies.append(time.perf_counter() - started)
    epoch_s, proxy_s = statistics.median(epochs), statistics.median(proxies)
    n_train, n_test = len(data.train), len(data.test)
    text = "\n".join([
        SECTION, "",
        f"`.venv/bin/python -m bench.bench_proxy --data {args.data} --preset {args.preset} --epochs {args.epochs}"
        f" --write-docs`; ASMa (two encoders), `{args.preset}` preset, {args.data} ({args.split}: "
        f"{len(data.pretrain)} pretraining clips; the proxy reads {n_train} training and {n_test} test clips), "
        f"one thread, CPU; {where.sentence()}.", "",
        "| what | seconds (median) |", "| --- | ---: |",
        f"| one training epoch (three streams per encoder, forward, backward, Adam) | {epoch_s:.1f} |",
        f"| one kNN proxy measurement | {proxy_s:.1f} |", "",
        f"Measuring the proxy after every epoch adds **{100 * proxy_s / epoch_s:.0f}%** to each epoch; a search "
        "measures it at ASHA's rungs and the last epoch only (docs/studies.md).", ""])
    publish(SECTION, text, args.write_docs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
