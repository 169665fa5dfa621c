"""Ray Train pretraining throughput: samples/s for 1, 2, ... workers on the same global batch.

Each worker count runs `pretrain_on_ray` from scratch (a fresh storage folder, so nothing resumes)
and the figure is the median over epochs 2.. of the loop's `samples_per_s` (global samples over
rank 0's epoch time; epoch 1 is warm-up). Start-up (Ray Train's worker group) is reported apart.
The CPUs given with --cpus are split evenly over the workers (torch threads = CPUs per worker),
so every row uses the same hardware. An in-process run (no Ray) is the baseline.

On this CPU:                .venv/bin/python -m bench.bench_ray_train --write-docs
Quick check:                .venv/bin/python -m bench.bench_ray_train --quick
Scaling on a multi-GPU node (one GPU per worker, paper sizes, joins the running cluster):
    .venv/bin/python -m bench.bench_ray_train --preset paper --workers 1 2 4 8 \\
        --gpus-per-worker 1 --cpus 32 --epochs 3 --address auto
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from asma.config.loading import load_config

from asma.evaluation.proxy import proxy_knn
from bench.benchdocs import Provenance, provenance, publish

SECTION = "## Ray Train"
NOTES = """
How the figures relate to one-process training (asma/training/ray_runtime.py):
- `train.batch_size` is the global batch: each of N workers takes batch/N clips of one global
  permutation of (seed, epoch), so step s of N workers covers the clips of step s of one process.
- Barlow Twins' standardisation and cross-correlation are all-reduced over workers, so the loss is
  the global batch's. BatchNorm inside the encoders and projectors: on GPU every BatchNorm becomes a
  SyncBatchNorm (global-batch statistics, as one GPU with the whole batch). On CPU (gloo) torch has
  no SyncBatchNorm, so each worker normalises its own share.{loss_gaps}
- Each worker draws augmentations and masks from its own seeded stream (seed offset by rank).
- Fault tolerance: checkpoints (model, optimizer, epoch; the random streams are seeded by seed, rank
  and epoch, so no generator state is saved) are reported by rank 0 each `train.checkpoint_every`
  epochs; `ray.max_failures` restarts a crashed worker group from the last one, and re-running the
  same command (same `name` and `ray.storage_path`) resumes the run. Tested: a worker killed after
  epoch 2 ends with the same losses as an undisturbed run (tests/test_ray_train.py).
"""


def settings(args: argparse.Namespace, workers: int, storage: Path) -> list[str]:
    cpus = args.cpus / workers
    return [
        f"name=bench_ray_w{workers}", f"out_dir={storage / 'runs'}", f"ray.storage_path={storage / 'ray'}",
        f"train.epochs={args.epochs}", f"ray.workers={workers}", f"ray.cpus_per_worker={cpus:g}",
        f"ray.gpus_per_worker={args.gpus_per_worker:g}", f"train.threads={max(1, int(cpus))}",
        "train.eval_every=0", *(["ray.address=" + args.address] if args.address else []), *args.set,
    ]


def steady_rate(history: list[dict]) -> float:
    rates = [h["samples_per_s"] for h in history[1:]] or [h["samples_per_s"] for h in history]
    return statistics.median(rates)


def measure_local(args: argparse.Namespace, storage: Path) -> dict:
    from asma.training.local import pretrain_locally

    cfg = load_config(args.preset, settings(args, 1, storage) + ["name=bench_local", f"train.threads={int(args.cpus)}"])
    started = time.perf_counter()
    result = pretrain_locally(cfg, quiet=True, proxy=proxy_knn)
    return {"what": f"in-process, {int(args.cpus)} threads", "rate": steady_rate(result.history),
            "wall": time.perf_counter() - started, "startup": None, "loss": result.final["loss"]}


def measure_ray(args: argparse.Namespace, workers: int, storage: Path) -> dict:
    from asma.training.ray_trainer import pretrain_on_ray

    cfg = load_config(args.preset, settings(args, workers, storage))
    started = time.perf_counter()
    result = pretrain_on_ray(cfg, proxy=proxy_knn)
    wall = time.perf_counter() - started
    train_time = sum(h["epoch_time_s"] for h in result.history)
    per = f"{cfg.ray.cpus_per_worker:g} CPU" + (f" + {cfg.ray.gpus_per_worker:g} GPU" if cfg.ray.gpus_per_worker else "")
    return {"what": f"Ray Train, {workers} worker(s) x {per}", "rate": steady_rate(result.history),
            "wall": wall, "startup": wall - train_time, "loss": result.final["loss"]}


def table(rows: list[dict], batch: int) -> str:
    lines = ["| run | samples/s (epochs 2..) | wall | start-up + eval | final loss |",
             "| --- | --- | --- | --- | --- |"]
    for r in rows:
        startup = "-" if r["startup"] is None else f"{r['startup']:.1f} s"
        lines.append(f"| {r['what']} | {r['rate']:.1f} | {r['wall']:.1f} s | {startup} | {r['loss']:.2f} |")
    return "\n".join(lines) + f"\n\nGlobal batch {batch} in every row.\n"


def loss_gaps(rows: list[dict]) -> str:
    """How far each Ray run's final loss is from the in-process run's, in the table's own figures."""
    local = next((r for r in rows if r["startup"] is None), None)
    if local is None:
        return ""
    gaps = [f"{r['what']} {100 * abs(r['loss'] - local['loss']) / local['loss']:.1f}%" for r in rows if r is not local]
    return " In this table the final loss is off the in-process run's by: " + "; ".join(gaps) + "."


def section(rows: list[dict], args: argparse.Namespace, where: Provenance) -> str:
    command = " ".join(["python", "-m", "bench.bench_ray_train", *sys.argv[1:]])
    batch = load_config(args.preset, args.set).train.batch_size
    return (f"{SECTION}\n\nPretraining throughput, `{args.preset}` preset, {args.epochs} epochs (`{command}`; "
            f"{where.sentence()})."
            + (" `--quick` (smoke preset, 2 epochs) is a check that it runs, not a measurement." if args.quick else "")
            + "\n\n" + table(rows, batch) + NOTES.format(loss_gaps=loss_gaps(rows))
            + "\nScaling on a multi-GPU node: `python -m bench.bench_ray_train --preset paper --workers 1 2 4 8 "
            "--gpus-per-worker 1 --cpus 32 --epochs 3 --address auto`.\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="laptop", help="config preset or YAML (default laptop)")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--cpus", type=float, default=2, help="CPUs in all, split over the workers")
    p.add_argument("--gpus-per-worker", type=float, default=0)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--address", default=None, help="join a Ray cluster (auto, ray://...) instead of a local Ray")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra config override")
    p.add_argument("--no-local", action="store_true", help="skip the in-process baseline")
    p.add_argument("--quick", action="store_true", help="smoke preset, 2 epochs: a check that it runs")
    p.add_argument("--write-docs", action="store_true", help=f"write the table into {SECTION} of docs/benchmarks.md")
    args = p.parse_args()
    if args.quick:
        args.preset, args.epochs = "smoke", 2

    where = provenance()  # the load before this bench adds its own
    import ray

    from asma.cluster.ray_session import LOCAL_OBJECT_STORE_BYTES, init_ray

    if args.address:
        init_ray(args.address)
    else:
        ray.init(address="local", num_cpus=int(args.cpus), object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                 include_dashboard=False, log_to_driver=False)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_ray_train_") as tmp:
        if not args.no_local and not args.gpus_per_worker:
            rows.append(measure_local(args, Path(tmp) / "local"))
            print(rows[-1], flush=True)
        for n in args.workers:
            rows.append(measure_ray(args, n, Path(tmp) / f"w{n}"))
            print(rows[-1], flush=True)
    ray.shutdown()
    text = section(rows, args, where)
    publish(SECTION, text, args.write_docs)

if __name__ == "__main__":
    main()
