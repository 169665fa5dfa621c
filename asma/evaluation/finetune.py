"""Fine-tuning: encoders + alignment module + linear head trained end to end on labelled clips.

Clip level, with the pretraining augmentations (asma/data/transforms.py `augment`) and random
valid-frame crops; the encoders are copies, so the pretrained ones stay as they were. The same
function serves `finetune`, `semi` (a labelled subset), `transfer` (another data set) and
`supervised` (randomly initialised encoders: the ceiling of the tables).
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from asma.config.loading import config_to_dict
from asma.config.schema import AugmentConfig, Config, OptimConfig
from asma.data.clips import SkeletonClips
from asma.data.format import SkeletonSet
from asma.data.transforms import augment
from asma.evaluation.heads import (AlignedClassifier, EncoderClassifier, EpochProgress, classification_loss,
                                   recompute_batchnorm_stats)
from asma.evaluation.knn import topk_accuracy
from asma.training.data import RunData, clip_options
from asma.training.loop import lr_at, make_optimizer
from asma.training.runtime import epoch_loader, save_checkpoint_file


def clips_of(cfg: Config, dataset: SkeletonSet, indices: np.ndarray, train: bool) -> SkeletonClips:
    """Clips of `indices` with the run's window, persons and crop settings."""
    return SkeletonClips(dataset, indices, train=train, seed=cfg.eval.seed, **clip_options(cfg.data))


@dataclass(frozen=True)
class LabelledRecipe:
    """How a protocol trains encoders + head with labels: optimizer and schedule (per epoch), epochs,
    batch, label smoothing, the augmentations of the training clips, and whether the head sees its
    features through a BatchNorm without affine parameters (heads.AlignedClassifier)."""

    optim: OptimConfig
    epochs: int
    batch_size: int
    augment: AugmentConfig
    label_smoothing: float = 0.0
    head_norm: bool = True


def finetune_recipe(cfg: Config) -> LabelledRecipe:
    """finetune, semi, transfer: eval.finetune_* with the pretraining optimizer kind, cosine, no warm-up."""
    optim = cfg.optim.model_copy(update={"lr": cfg.eval.finetune_lr, "warmup_epochs": 0, "schedule": "cosine"})
    return LabelledRecipe(optim, cfg.eval.finetune_epochs, cfg.eval.batch_size, cfg.augment)


def supervised_recipe(cfg: Config) -> LabelledRecipe:
    """supervised (the ceiling): the `supervised` section's own recipe, or finetune's."""
    s = cfg.supervised
    if s.recipe == "finetune":
        return finetune_recipe(cfg)
    return LabelledRecipe(s.optim, s.epochs, s.batch_size, s.augment or cfg.augment, s.label_smoothing,
                          s.head_norm)


@torch.no_grad()
def predict_clips(model: nn.Module, clips: SkeletonClips, device: torch.device,
                  batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits (N, K), labels (N,)) of `model` (clips -> (logits, aligned)) on `clips`, in eval mode."""
    model.eval()
    logits, labels = [], []
    for x, y in DataLoader(clips, batch_size=batch_size, shuffle=False):
        logits.append(model(x.to(device))[0].cpu())
        labels.append(y)
    return torch.cat(logits), torch.cat(labels)


def evaluate_clips(model: nn.Module, clips: SkeletonClips, device: torch.device, batch_size: int = 256) -> dict:
    """{'top1', 'top5'} of `model` on `clips`, in eval mode."""
    return topk_accuracy(*predict_clips(model, clips, device, batch_size))


def finetune_encoders(cfg: Config, encoders: dict[str, nn.Module], train: SkeletonClips, test: SkeletonClips,
                      num_classes: int, device: torch.device, progress=None, name: str = "finetune",
                      recipe: LabelledRecipe | None = None) -> dict:
    """Train copies of `encoders` + alignment + head on `train` (finetune's recipe unless given); score on `test`."""
    recipe = recipe or finetune_recipe(cfg)
    model = train_classifier(cfg, encoders, train, num_classes, device, progress, name, recipe)
    return {**evaluate_clips(model, test, device), "epochs": recipe.epochs, "train_samples": len(train),
            "test_samples": len(test)}


def train_classifier(cfg: Config, encoders: dict[str, nn.Module], train: SkeletonClips, num_classes: int,
                     device: torch.device, progress=None, name: str = "finetune",
                     recipe: LabelledRecipe | None = None, saved: "TrainingState | None" = None) -> EncoderClassifier:
    """Copies of `encoders` + alignment + head trained end to end on `train` with the labels, as
    `recipe` says (default: finetune's), BatchNorm statistics re-estimated at the end. With `saved`,
    the state after each epoch is kept there, and training continues after the last kept epoch."""
    recipe = recipe or finetune_recipe(cfg)
    torch.manual_seed(cfg.eval.seed)
    copies = {view: copy.deepcopy(enc) for view, enc in encoders.items()}
    feature_dim = next(iter(copies.values())).feature_dim
    model = EncoderClassifier(copies, AlignedClassifier(cfg.alignment, len(copies), feature_dim, num_classes,
                                                       recipe.head_norm))
    model.to(device)
    layout = train.data.layout
    epochs = recipe.epochs
    optimizer = make_optimizer(model.parameters(), recipe.optim)
    generator = torch.Generator(device=device).manual_seed(cfg.eval.seed)
    if len(train) < 2:
        raise ValueError(f"{name}: {len(train)} labelled clip(s); fine-tuning needs at least 2")
    batch = min(recipe.batch_size, len(train))
    start = saved.restore(model, optimizer, generator) if saved is not None else 0
    with EpochProgress.of(progress, name, epochs, done=start) as bar:
        for epoch in range(start, epochs):
            for group in optimizer.param_groups:
                group["lr"] = lr_at(epoch, epochs, recipe.optim)
            train.set_epoch(epoch)
            model.train()
            for x, y in epoch_loader(train, batch, shuffle=True, epoch=epoch, seed=cfg.eval.seed):
                x = augment(x.to(device), recipe.augment, layout, generator)
                logits, aligned = model(x)
                loss, _ = classification_loss(logits, y.to(device), aligned, cfg.alignment, recipe.label_smoothing)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            bar.advance(float(loss.detach()))
            if saved is not None:
                saved.keep(epoch + 1, model, optimizer, generator)
    recompute_batchnorm_stats(model, clips_of(cfg, train.data, train.indices, train=False), device, batch)
    return model.eval()


def finetune_protocol(cfg: Config, encoders, data: RunData, device, progress=None, features=None) -> dict:
    train = clips_of(cfg, data.dataset, data.train.indices, train=True)
    return finetune_encoders(cfg, encoders, train, data.test, data.num_classes, device, progress, "finetune")


def supervised_config(cfg: Config) -> Config:
    """`cfg` with the encoder width of the `supervised` section (the reference may be wider)."""
    s = cfg.supervised
    width = {k: v for k, v in (("base_channels", s.base_channels), ("feature_dim", s.feature_dim)) if v is not None}
    if not width:
        return cfg
    return cfg.model_copy(update={"encoder": cfg.encoder.model_copy(update=width)})


def supervised_encoders(cfg: Config, encoders: dict[str, nn.Module], device: torch.device) -> dict[str, nn.Module]:
    """The randomly initialised encoders the supervised reference trains: all of them (one per
    masking view) or, with `supervised.encoders: one`, the first alone."""
    kept = list(encoders.items())[:1] if cfg.supervised.encoders == "one" else encoders.items()
    return {view: enc.to(device) for view, enc in kept}


def supervised_protocol(cfg: Config, encoders, data: RunData, device, progress=None, features=None,
                        work: Path | None = None) -> dict:
    """`encoders` (randomly initialised ones of supervised_config(cfg): see run_protocols) trained
    with the labels by the supervised recipe, one model per input stream of `supervised.streams`;
    several streams are fused as the multi-stream GCNs fuse them (2s-AGCN, CTR-GCN): the sum of
    the models' softmax scores. Each stream's own accuracy is kept beside the fused one, and so is
    the fusion of every leading part of the list (`fusions`: joint + bone of [joint, bone, motion,
    bone_motion]): the same models, so the gain of each added stream is measured without noise.

    `work`: a folder where each finished stream's test scores are kept (FinishedStreams) until all
    streams are done, and the stream in training keeps its state after every epoch (TrainingState),
    so that an interrupted reference (four streams of 80 epochs take hours on a CPU) continues at the
    epoch it had reached. Each stream trains from the same seed whatever ran before it, and a resumed
    epoch starts from the random states the interrupted one left, so a resumed reference scores as
    an uninterrupted one."""
    recipe = supervised_recipe(cfg)
    streams = cfg.supervised.streams or [cfg.data.stream]
    test_labels = torch.as_tensor(data.test.labels)
    finished = FinishedStreams(work, cfg, test_labels) if work is not None else None
    scores, per_stream, fusions = 0, {}, {}
    for stream in streams:
        kept = finished.get(stream) if finished is not None else None
        if kept is not None:
            logits, labels = kept
        else:
            stream_cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"stream": stream})})
            train = clips_of(stream_cfg, data.dataset, data.train.indices, train=True)
            test = clips_of(stream_cfg, data.dataset, data.test.indices, train=False)
            name = "supervised" if len(streams) == 1 else f"supervised ({stream})"
            model = train_classifier(stream_cfg, encoders, train, data.num_classes, device, progress, name, recipe,
                                     finished.training(stream) if finished is not None else None)
            logits, labels = predict_clips(model, test, device)
            if finished is not None:
                finished.put(stream, logits, labels)
        per_stream[stream] = topk_accuracy(logits, labels)
        scores = scores + logits.softmax(dim=1)
        if 1 < len(per_stream) < len(streams):
            fusions["+".join(per_stream)] = topk_accuracy(scores, labels)
    if finished is not None:
        finished.clear()
    width = supervised_config(cfg).encoder
    parameters = sum(p.numel() for enc in encoders.values() for p in enc.parameters())
    return {**topk_accuracy(scores, labels), "epochs": recipe.epochs, "train_samples": len(data.train),
            "test_samples": len(labels), "streams": per_stream, "fusions": fusions, "recipe": cfg.supervised.recipe,
            "encoders_per_stream": len(encoders),
            "base_channels": width.base_channels, "feature_dim": width.feature_dim,
            "encoder_parameters": parameters * len(streams)}


class FinishedStreams:
    """The test scores of the supervised reference's finished streams, one file each in `folder`,
    kept with the config they were trained by and the test clips' labels: a file of another config
    or test set is never read (it is replaced when that stream trains again)."""

    def __init__(self, folder: Path, cfg: Config, test_labels: torch.Tensor):
        self.folder = Path(folder)
        self.key = hashlib.sha256(json.dumps(config_to_dict(cfg), sort_keys=True, default=str).encode()).hexdigest()
        self.test_labels = test_labels.long()

    def _path(self, stream: str) -> Path:
        return self.folder / f"{stream}.pt"

    def get(self, stream: str) -> tuple[torch.Tensor, torch.Tensor] | None:
        path = self._path(stream)
        if not path.exists():
            return None
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError):  # cut short by the interruption itself: train it again
            return None
        if saved.get("config_sha256") != self.key or not torch.equal(saved["labels"].long(), self.test_labels):
            return None
        return saved["logits"], saved["labels"]

    def put(self, stream: str, logits: torch.Tensor, labels: torch.Tensor) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        part = self._path(stream).with_suffix(".part")
        torch.save({"config_sha256": self.key, "logits": logits.detach().cpu(), "labels": labels.cpu()}, part)
        os.replace(part, self._path(stream))
        self.training(stream).path.unlink(missing_ok=True)

    def training(self, stream: str) -> "TrainingState":
        """Where the stream keeps its state between epochs while it trains."""
        return TrainingState(self.folder / f"{stream}.training.pt", self.key)

    def clear(self) -> None:
        """All streams are scored and the record is about to be written: nothing left to resume."""
        shutil.rmtree(self.folder, ignore_errors=True)


@dataclass(frozen=True)
class TrainingState:
    """A classifier's training state after its last finished epoch, kept in one file: weights,
    optimizer, the augmentation generator's and torch's random states. Saved under a config key; a
    file of another config, or one cut short by the interruption, is not read (training starts over)."""

    path: Path
    key: str

    def restore(self, model: nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator) -> int:
        """Load the kept state into `model`, `optimizer` and `generator`; the epochs it had finished (0: none)."""
        if not self.path.exists():
            return 0
        try:
            kept = torch.load(self.path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError):
            return 0
        if kept.get("config_sha256") != self.key:
            return 0
        model.load_state_dict(kept["model"])
        optimizer.load_state_dict(kept["optimizer"])
        generator.set_state(kept["generator"])
        torch.set_rng_state(kept["torch_rng"])
        if kept.get("cuda_rng") is not None and generator.device.type == "cuda":  # dropout's masks on a GPU
            torch.cuda.set_rng_state(kept["cuda_rng"], generator.device)
        return int(kept["epochs"])

    def keep(self, epochs: int, model: nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint_file({"config_sha256": self.key, "epochs": epochs, "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(), "generator": generator.get_state(),
                    "torch_rng": torch.get_rng_state(),
                    "cuda_rng": torch.cuda.get_rng_state(generator.device) if generator.device.type == "cuda" else None},
                             self.path)
