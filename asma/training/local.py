"""Single-process pretraining (CPU or one GPU) with rich progress, resumable from its run folder.

Each epoch's metrics go to metrics.jsonl and to the config's tracker (asma/tracking/trackers.py: by default
TensorBoard event files in <run folder>/tensorboard/).
"""
from __future__ import annotations

from pathlib import Path

import yaml
from rich.console import Console

from asma.cluster.job_dir import check_outside_ray_folders
from asma.config.loading import config_to_dict
from asma.config.schema import Config
from asma.data.atomic import write_text_atomic
from asma.tracking.trackers import TrackedRun, check_tracking, open_tracker
from asma.training.data import RunData, build_run_data
from asma.training.loop import EpochCheck, PretrainResult, pretrain
from asma.training.resume import check_resume
from asma.training.runtime import LocalRuntime


def run_dir_for(cfg: Config) -> Path:
    return Path(cfg.out_dir) / cfg.name


def save_config(cfg: Config, run_dir: Path) -> None:
    write_text_atomic(run_dir / "config.yaml", yaml.safe_dump(config_to_dict(cfg), sort_keys=False))


def pretrain_locally(cfg: Config, run_dir: Path | None = None, data: RunData | None = None,
                     console: Console | None = None, quiet: bool = False, *, proxy: EpochCheck | None) -> PretrainResult:
    """Pretrain in this process; re-running with the same run folder resumes from its checkpoint,
    when the config is the one it trained with (asma/training/resume.py). `proxy`: the loop's
    per-epoch check (asma.evaluation.proxy.proxy_knn)."""
    console = console or Console()
    check_tracking(cfg.tracking)
    if run_dir is None:  # a caller's own run folder is its own affair
        check_outside_ray_folders(cfg.out_dir, "out_dir")
    run_dir = Path(run_dir or run_dir_for(cfg))
    check_resume(cfg, run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run_dir)
    data = data or build_run_data(cfg)

    def show(metrics: dict) -> None:
        if quiet:
            return
        knn = f"  kNN top-1 {metrics['knn_top1']:.1f}%" if "knn_top1" in metrics else ""
        console.print(
            f"[bold]epoch {metrics['epoch']:>3}/{cfg.train.epochs}[/]  loss {metrics['loss']:.2f}  "
            f"lr {metrics['lr']:.2e}  {metrics['samples_per_s']:.0f} seq/s{knn}", highlight=False)

    runtime = LocalRuntime(run_dir, cfg.train.device, cfg.ray.num_to_keep, cfg.data.loader_workers, on_report=show)
    existing = runtime.latest_checkpoint()
    if not quiet:
        console.print(f"resuming {run_dir} from epoch {existing['epoch']}" if existing is not None
                      else f"pretraining into {run_dir}", highlight=False, soft_wrap=True)
    with open_tracker(cfg, TrackedRun(cfg.name, str(run_dir))) as tracker:
        return pretrain(cfg, data, runtime, tracker, proxy=proxy)
