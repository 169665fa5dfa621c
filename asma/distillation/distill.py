"""Distil a pretrained run (the teacher) into a lightweight student, evaluate it, save it.

The teacher is the run's frozen encoders + the alignment module + a linear head, linear-probed
here with the evaluation module's `train_linear_head` (so "teacher accuracy" is the linear
protocol's). The student (asma/models/student.py) trains on the labelled train clips, augmented
as in pretraining; the teacher sees the very same augmented clips, in eval mode, without
gradients. The same `train_student` with no teacher and only cross-entropy is the from-scratch
baseline, for the same number of steps.

Output folder (written in one rename): student.pt, distill.json (teacher and student accuracy,
parameter counts, loss history), eval.json (the student's encoder under the evaluation
protocols), config.yaml.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
from rich.console import Console

from asma.config.loading import config_from_dict, config_to_dict
from asma.config.schema import Config
from asma.data.atomic import atomic_directory, write_json_atomic
from asma.data.transforms import augment
from asma.errors import ConfigError, InputFileError
from asma.evaluation.finetune import evaluate_clips
from asma.evaluation.heads import (AlignedClassifier, EpochProgress, eval_optimizer, recompute_batchnorm_stats,
                                   set_epoch_lr)
from asma.evaluation.knn import topk_accuracy
from asma.evaluation.linear import cached_features, train_linear_head
from asma.evaluation.protocols import (EncoderSource, calibrate_batchnorm, checkpoint_config, load_source,
                                       make_progress, run_dir_of, run_protocols)
from asma.models.cost import inference_costs
from asma.models.student import StudentClassifier, count_parameters
from asma.objectives.distillation import distillation_loss
from asma.skeleton.layout import load_layout
from asma.training.data import RunData, build_run_data
from asma.training.local import save_config
from asma.training.runtime import (epoch_loader, load_checkpoint_file, pick_device, save_checkpoint_file,
                                   with_config_threads)

STUDENT_FORMAT = "asma-student/1"


class Teacher(nn.Module):
    """clips (N, C, T, V, M) -> (logits (N, K), aligned fused feature (N, out_dim)). Frozen."""

    def __init__(self, encoders: dict[str, nn.Module], classifier: AlignedClassifier):
        super().__init__()
        self.encoders = nn.ModuleDict(encoders)
        self.classifier = classifier
        self.out_dim = classifier.alignment.out_dim
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = torch.stack([enc(x) for enc in self.encoders.values()], dim=1)
        fused, _ = self.classifier.alignment(feats)
        return self.classifier.head(self.classifier.norm(fused)), fused


@dataclass
class ProbedTeacher:
    model: Teacher
    linear: dict        # the linear protocol's {'top1', 'top5'} on the test clips
    source: EncoderSource


def probe_teacher(cfg: Config, source: EncoderSource, data: RunData, device: torch.device,
                  progress=None) -> ProbedTeacher:
    """Linear-probe the source's frozen encoders (alignment + head on cached features)."""
    encoders = {view: enc.to(device) for view, enc in source.encoders.items()}
    if cfg.eval.precise_bn:  # as the linear protocol does
        calibrate_batchnorm(encoders, data, cfg, device)
    train, train_y, test, test_y = cached_features(encoders, data, device)
    with EpochProgress.of(progress, "teacher linear probe", cfg.eval.epochs) as bar:
        classifier = train_linear_head(cfg, train, train_y, data.num_classes, bar)
    with torch.no_grad():
        logits, _ = classifier(test)
    return ProbedTeacher(Teacher(encoders, classifier.to(device)), topk_accuracy(logits, test_y), source)


def student_for(cfg: Config, data: RunData, teacher_dim: int) -> StudentClassifier:
    torch.manual_seed(cfg.distill.seed)
    return StudentClassifier(cfg.student, data.dataset.layout, data.in_channels, data.num_classes, teacher_dim)


def scratch_config(cfg: Config) -> Config:
    """The baseline's loss: cross-entropy on labels only, everything else the same."""
    return cfg.model_copy(update={"distill": cfg.distill.model_copy(
        update={"ce_weight": 1.0, "kl_weight": 0.0, "feature_weight": 0.0})})


def train_student(cfg: Config, data: RunData, student: StudentClassifier, teacher: Teacher | None,
                  device: torch.device, progress=None, name: str = "distill",
                  on_epoch: Callable[[dict], None] | None = None, precise_bn: bool = True) -> list[dict]:
    """cfg.distill.epochs over data.pretrain; returns the mean loss terms of every epoch.

    `on_epoch` gets each epoch's entry of the history but the last's (a search trial's report);
    the last epoch ends after the BatchNorm statistics are re-estimated (`precise_bn`; False keeps the
    running averages, for experiments/precise_bn.py), so its caller reports it."""
    d = cfg.distill
    student.to(device)
    optimizer = eval_optimizer(student.parameters(), cfg, d.lr)
    generator = torch.Generator(device=device).manual_seed(d.seed)
    batch = min(d.batch_size, len(data.pretrain))
    if batch < 2:
        raise ValueError(f"{name}: {len(data.pretrain)} training clip(s); distillation needs at least 2")
    history: list[dict] = []
    with EpochProgress.of(progress, name, d.epochs) as bar:
        for epoch in range(d.epochs):
            set_epoch_lr(optimizer, cfg, d.lr, epoch, d.epochs)
            data.pretrain.set_epoch(epoch)
            student.train()
            sums: dict[str, float] = {}
            steps, started = 0, time.perf_counter()
            for x, y in epoch_loader(data.pretrain, batch, shuffle=True, epoch=epoch, seed=d.seed):
                x, y = x.to(device), y.to(device)
                if d.augment:
                    x = augment(x, cfg.augment, data.dataset.layout, generator)
                teacher_logits = teacher_feature = None
                if teacher is not None:
                    with torch.no_grad():
                        teacher_logits, teacher_feature = teacher(x)
                logits, feature = student(x)
                loss, parts = distillation_loss(d, logits, student.project(feature), y, teacher_logits, teacher_feature)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                for key, value in {"loss": float(loss.detach()), **parts}.items():
                    sums[key] = sums.get(key, 0.0) + value
                steps += 1
            metrics = {key: value / steps for key, value in sums.items()}
            history.append({**metrics, "epoch": epoch + 1, "steps": steps, "seconds": time.perf_counter() - started})
            bar.advance(metrics["loss"])
            if on_epoch is not None and epoch + 1 < d.epochs:
                on_epoch(history[-1])
    if precise_bn:
        recompute_batchnorm_stats(student, data.train, device, batch_size=batch)  # the batch it trained at
    student.eval()
    return history


def clip_shape(cfg: Config, data: RunData, window: int) -> tuple[int, int, int, int]:
    """One clip's shape (C, T, V, M) at `window` frames: what a model's inference cost is measured on."""
    return (data.in_channels, window, data.dataset.layout.num_joints, cfg.data.persons)


def student_protocols(cfg: Config) -> list[str]:
    """The teacher's protocols that apply to one student encoder (`supervised` builds teacher-size encoders)."""
    return [p for p in cfg.eval.protocols if p != "supervised"]


def check_student_fits(cfg: Config) -> None:
    a = cfg.alignment
    if a.kind == "cross_attention" and (cfg.student.feature_dim % a.tokens or (cfg.student.feature_dim // a.tokens) % a.heads):
        raise ConfigError("student", "feature_dim", f"{cfg.student.feature_dim} does not split into {a.tokens} tokens "
                          f"of a size divisible by {a.heads} heads, which the evaluation's cross-attention alignment "
                          "needs; choose a multiple of alignment.tokens * alignment.heads")


def student_tag(cfg: Config) -> str:
    """The student folder's name encodes its size: stgcn_w8_d6_f64_T30."""
    s = cfg.student
    return f"{s.arch}_w{s.base_channels}_d{s.depth}_f{s.feature_dim}_T{s.window}"


def save_student(path: Path, cfg: Config, data: RunData, student: StudentClassifier, teacher: str, metrics: dict) -> None:
    save_checkpoint_file({
        "format": STUDENT_FORMAT, "config": config_to_dict(cfg), "layout": data.dataset.layout.name,
        "in_channels": data.in_channels, "num_classes": data.num_classes,
        "teacher_dim": student.project.out_features, "teacher": teacher,
        "model": student.state_dict(), "metrics": metrics,
    }, path)


def load_student(path: str | Path) -> tuple[StudentClassifier, dict]:
    """A student checkpoint (or a folder with student.pt) -> (student in eval mode, the checkpoint's entries)."""
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / "student.pt"
    if not path.exists():
        raise InputFileError(path, "no such student checkpoint", fix="pass the student.pt written by `asma distill`")
    try:
        state = load_checkpoint_file(path)
    except Exception as e:  # a truncated or foreign file: say which
        raise InputFileError(path, f"not a readable torch checkpoint ({type(e).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != STUDENT_FORMAT:
        raise InputFileError(path, f"not an asma student checkpoint (format {STUDENT_FORMAT!r} expected)",
                             fix="export the student.pt of `asma distill`, not a pretraining checkpoint")
    cfg = config_from_dict(state["config"], [], f"{path} config")
    student = StudentClassifier(cfg.student, load_layout(state["layout"]), state["in_channels"],
                                state["num_classes"], state["teacher_dim"])
    student.load_state_dict(state["model"])
    return student.eval(), {**state, "config": cfg}


@with_config_threads
def distill_run(cfg: Config, teacher_path: str | Path, out: Path | None = None, console: Console | None = None,
                baseline: bool = False) -> dict:
    """Probe the teacher, distil the student, evaluate both; write the student folder. Returns distill.json."""
    check_student_fits(cfg)
    device = pick_device(cfg.train.device)
    teacher_cfg, checkpoint = checkpoint_config(teacher_path)
    # the teacher's encoders are built as they were trained; data, alignment and eval come from cfg
    data = build_run_data(cfg)
    out = Path(out) if out else run_dir_of(checkpoint) / "students" / student_tag(cfg)
    started = time.perf_counter()
    with make_progress(console) as progress:
        teacher = probe_teacher(cfg, load_source(teacher_cfg, checkpoint, data), data, device, progress)
        student = student_for(cfg, data, teacher.model.out_dim)
        history = train_student(cfg, data, student, teacher.model, device, progress)
        scratch = None
        if baseline:
            scratch = student_for(cfg, data, teacher.model.out_dim)
            scratch_history = train_student(scratch_config(cfg), data, scratch, None, device, progress, "from scratch")
    teacher_params = count_parameters(teacher.model)
    student_params = count_parameters(student.deployable())
    teacher_cost = inference_costs(teacher.model, clip_shape(cfg, data, cfg.data.window))
    student_cost = inference_costs(student.deployable(), clip_shape(cfg, data, cfg.student.window))
    record = {
        "teacher": {"source": str(checkpoint), "epoch": teacher.source.epoch, "linear": teacher.linear,
                    "parameters": teacher_params, "inference": teacher_cost},
        "student": {"tag": student_tag(cfg), "head": evaluate_clips(student, data.test, device),
                    "parameters": student_params, "training_only_parameters": count_parameters(student.project),
                    "inference": student_cost},
        "parameter_reduction_pct": 100.0 * (1 - student_params / teacher_params),
        "speedup_b1": teacher_cost["latency_ms_b1"] / student_cost["latency_ms_b1"],
        "history": history,
        "config": config_to_dict(cfg),
    }
    if scratch is not None:
        record["scratch"] = {"head": evaluate_clips(scratch, data.test, device), "history": scratch_history}
    with atomic_directory(out) as staging:
        save_config(cfg, staging)
        save_student(staging / "student.pt", cfg, data, student, str(checkpoint), record["student"]["head"])
        protocols = student_protocols(cfg)
        if protocols:
            source = EncoderSource({"student": student.encoder}, str(out / "student.pt"), out, cfg.distill.epochs)
            evaluated = run_protocols(cfg, source, data, protocols, console, out=staging / "eval.json")
            record["student"]["protocols"] = evaluated["protocols"]
        record["seconds"] = round(time.perf_counter() - started, 2)
        write_json_atomic(staging / "distill.json", record)
    record["out"] = str(out)
    return record
