"""`asma pretrain CONFIG [--set k=v] [--workers N --gpus-per-worker G --address A] [--tracking mlflow --tracking-uri U]`."""
from __future__ import annotations

import argparse

from asma.cli.common import add_config_args, add_tracking_args, config_from_args
from asma.cluster.job_dir import check_outside_ray_folders
from asma.cluster.ray_session import ADDRESS_HELP
from asma.evaluation.proxy import proxy_knn
from asma.training.local import pretrain_locally


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pretrain", help="pretrain the masked encoders (resumes from the run folder)")
    add_config_args(p)
    p.add_argument("--workers", type=int, default=None, help="Ray Train workers (default: config ray.workers; 1 runs in this process)")
    p.add_argument("--gpus-per-worker", type=float, default=None)
    p.add_argument("--cpus-per-worker", type=float, default=None)
    p.add_argument("--address", default=None, help=ADDRESS_HELP)
    add_tracking_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    updates = {"workers": args.workers, "gpus_per_worker": args.gpus_per_worker,
               "cpus_per_worker": args.cpus_per_worker, "address": args.address}
    for key, value in updates.items():
        if value is not None:
            setattr(cfg.ray, key, value)
    if cfg.ray.workers > 1 or cfg.ray.address:
        from asma.training.ray_trainer import pretrain_on_ray  # lazy: imports Ray, which `asma --help` need not

        # here, not in pretrain_on_ray: a search trial's Ray Train run lies in its Tune trial folder,
        # which the search's own out_dir check already covers
        check_outside_ray_folders(cfg.out_dir, "out_dir")
        if "://" not in cfg.ray.storage_path:
            check_outside_ray_folders(cfg.ray.storage_path, "ray.storage_path")
        pretrain_on_ray(cfg, proxy=proxy_knn)
        return 0
    result = pretrain_locally(cfg, proxy=proxy_knn)
    final = result.final
    if "knn_top1" in final:
        print(f"final kNN top-1 {final['knn_top1']:.2f}%  top-5 {final['knn_top5']:.2f}%")
    return 0
