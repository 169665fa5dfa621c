"""One trial of a distillation search (`task: distill`): the fixed teacher into the trial's student.

The trial linear-probes the teacher (`distill.teacher`, as `asma distill` does), trains the student
its params describe with `asma.distillation.distill.train_student`, and reports every epoch: the loss
terms and `student_top1` (the student's head on the test clips; the last epoch's after its
BatchNorm statistics are re-estimated, as `asma distill` scores it). Every report also carries the
trial's constants: the deployed student's parameters and FLOPs per clip, its batch-1 latency on
this trial's CPU threads (a noisy objective where trials share a machine; FLOPs are exact), the
teacher's linear top-1 and parameters.

A student trains in minutes, so a trial keeps no checkpoint: an interrupted trial starts again.
"""
from __future__ import annotations

from pathlib import Path

from asma.config.schema import Config
from asma.distillation.distill import check_student_fits, clip_shape, probe_teacher, student_for, train_student
from asma.evaluation.finetune import evaluate_clips
from asma.evaluation.protocols import checkpoint_config, load_source
from asma.models.cost import inference_costs
from asma.models.student import count_parameters
from asma.training.data import build_run_data
from asma.training.runtime import pick_device, with_config_threads


def student_costs(cfg: Config, student, data) -> dict[str, float]:
    """Parameters, MFLOPs per clip and batch-1 latency (ms) of the deployed student."""
    deployed = student.deployable()
    cost = inference_costs(deployed, clip_shape(cfg, data, cfg.student.window))
    return {"student_params": count_parameters(deployed), "student_mflops": cost["mflops"],
            "student_latency_ms": cost["latency_ms_b1"]}


@with_config_threads
def distill_trial(cfg: Config, trial_dir: Path, tracker) -> None:
    """Tune function trainable body for a `task: distill` search (asma.search.search_trial.search_trial)."""
    from ray import tune

    check_student_fits(cfg)
    device = pick_device(cfg.train.device)
    data = build_run_data(cfg)
    teacher_cfg, checkpoint = checkpoint_config(cfg.distill.teacher)
    teacher = probe_teacher(cfg, load_source(teacher_cfg, checkpoint, data), data, device)
    student = student_for(cfg, data, teacher.model.out_dim)
    constants = {**student_costs(cfg, student, data),
                 "teacher_top1": float(teacher.linear["top1"]), "teacher_params": count_parameters(teacher.model)}
    tracker.log_metrics(constants, 0)

    def report(entry: dict, top1: float) -> None:
        metrics = {**{k: v for k, v in entry.items() if isinstance(v, (int, float))}, "student_top1": top1,
                   **constants}
        tracker.log_metrics(metrics, entry["epoch"])
        tune.report(metrics)

    history = train_student(cfg, data, student, teacher.model, device,
                            on_epoch=lambda entry: report(entry, evaluate_clips(student, data.test, device)["top1"]))
    report(history[-1], evaluate_clips(student, data.test, device)["top1"])
