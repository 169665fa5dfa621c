"""What a study file (asma.ablation.study_file) and a search-space file (asma.search.space) share: the
strict YAML model base, the pattern of the names they give, a trial's resources, the training part of
its budget, the protocols a run is evaluated with. Each file keeps its own keys, defaults and messages.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# A study's, search's, variant's or data set's name: it names folders and files.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+=-]*$"
# The protocols a pretrained run is evaluated with (a search's `evaluate:`, a study's `protocols:`).
EVAL_PROTOCOLS = ("knn", "linear", "finetune", "semi", "transfer", "supervised")
# A study's protocols also take `random_init` and `distill` (asma.experiments.evaluate).
STUDY_PROTOCOLS = (*EVAL_PROTOCOLS, "random_init", "distill")


class Strict(BaseModel):
    """A file section that names every key it takes: an unknown key is an error."""

    model_config = ConfigDict(extra="forbid")


class Resources(Strict):
    """What one trial asks Ray for."""

    cpus: float = Field(1.0, gt=0, description="CPUs per trial (torch threads = this, at least 1)")
    gpus: float = Field(0.0, ge=0)


class TrainingBudget(Strict):
    """How long each run of a study, or each trial of a search, pretrains: set over its base config."""

    epochs: int | None = Field(None, ge=1, description="train.epochs of every run (a search: ASHA's max_t)")
    max_steps_per_epoch: int | None = Field(None, ge=0)

    def training_overrides(self) -> dict[str, Any]:
        """The config keys it sets, those given only."""
        keys = {"train.epochs": self.epochs, "train.max_steps_per_epoch": self.max_steps_per_epoch}
        return {k: v for k, v in keys.items() if v is not None}
