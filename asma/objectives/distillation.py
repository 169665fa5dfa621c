"""Knowledge distillation losses: the student matches the teacher's aligned feature and logits.

total = feature_weight * feature loss (student feature projected to the teacher's aligned,
        fused representation; MSE or 1 - cosine)
      + kl_weight * T^2 * KL(softmax(teacher / T) || softmax(student / T))   (Hinton et al. 2015:
        T^2 keeps the gradient scale independent of T)
      + ce_weight * cross-entropy on labels (where labels are used; ce_weight 0 = none).
A weight of 0 skips its term; with no teacher outputs only cross-entropy remains, which is how
the same code trains the from-scratch baseline.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from asma.config.schema import DistillConfig


def soft_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """T^2 * KL(teacher || student) of the temperature-softened distributions, mean over the batch."""
    log_student = F.log_softmax(student_logits / temperature, dim=1)
    log_teacher = F.log_softmax(teacher_logits / temperature, dim=1)
    kl = F.kl_div(log_student, log_teacher, reduction="batchmean", log_target=True)
    return kl * temperature**2


def feature_match(student_feature: torch.Tensor, teacher_feature: torch.Tensor, kind: str) -> torch.Tensor:
    """(N, D) projected student feature vs (N, D) teacher feature: MSE or mean 1 - cosine."""
    if student_feature.shape != teacher_feature.shape:
        raise ValueError(f"student feature {tuple(student_feature.shape)} vs teacher {tuple(teacher_feature.shape)}")
    if kind == "mse":
        return F.mse_loss(student_feature, teacher_feature)
    return (1 - F.cosine_similarity(student_feature, teacher_feature, dim=1)).mean()


def distillation_loss(cfg: DistillConfig, student_logits: torch.Tensor, projected: torch.Tensor,
                      labels: torch.Tensor | None = None, teacher_logits: torch.Tensor | None = None,
                      teacher_feature: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """-> (total loss, {term: value}). Terms whose weight is 0 or whose target is missing are skipped."""
    terms: dict[str, torch.Tensor] = {}
    if teacher_feature is not None and cfg.feature_weight > 0:
        terms["feature"] = cfg.feature_weight * feature_match(projected, teacher_feature, cfg.feature_loss)
    if teacher_logits is not None and cfg.kl_weight > 0:
        terms["kl"] = cfg.kl_weight * soft_kl(student_logits, teacher_logits, cfg.temperature)
    if labels is not None and cfg.ce_weight > 0:
        terms["ce"] = cfg.ce_weight * F.cross_entropy(student_logits, labels)
    if not terms:
        raise ValueError("no distillation term is active: set distill.kl_weight, feature_weight or ce_weight > 0")
    total = torch.stack(list(terms.values())).sum()
    return total, {name: float(value.detach()) for name, value in terms.items()}
