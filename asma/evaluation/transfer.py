"""Transfer: the pretrained encoders fine-tuned on another prepared data set (e.g. NTU -> PKU-MMD II).

The target set may have any number of classes (the head is new); it must use the same skeleton
layout and channels as the pretraining set, since the encoders' graph and input norm are built
for them.
"""
from __future__ import annotations

from pathlib import Path

from asma.config.schema import Config
from asma.data.format import SkeletonSet
from asma.errors import ConfigError, InputFileError
from asma.evaluation.finetune import clips_of, finetune_encoders
from asma.training.data import RunData


def same_layout(a: SkeletonSet, b: SkeletonSet) -> bool:
    """Whether two sets hold their joints in one order with one graph: compared by content, since
    two sets whose own copies of a layout YAML are both "layout.yaml" may differ."""
    return (a.layout.joints, a.layout.bones) == (b.layout.joints, b.layout.bones)


def open_transfer_set(cfg: Config, data: RunData) -> SkeletonSet:
    """The target set of cfg.eval.transfer_data, checked against the pretraining set."""
    if not cfg.eval.transfer_data:
        raise ConfigError("config", "eval.transfer_data",
                          "the transfer protocol needs a prepared target set: --set eval.transfer_data=PATH")
    target = SkeletonSet.open(Path(cfg.eval.transfer_data).expanduser())
    source = data.dataset
    if not same_layout(target, source):
        raise InputFileError(target.root / "meta.json",
                             f"layout {target.layout.name!r} ({target.layout.num_joints} joints) differs from the "
                             f"pretraining set's {source.layout.name!r} ({source.layout.num_joints} joints)",
                             fix="transfer needs a set prepared with the same layout")
    if int(target.meta["channels"]) != data.in_channels:
        raise InputFileError(target.root / "meta.json",
                             f"{target.meta['channels']} channels, the encoders take {data.in_channels}",
                             fix="prepare the target set with the same coordinates as the pretraining set")
    return target


def transfer_protocol(cfg: Config, encoders, data: RunData, device, progress=None, features=None) -> dict:
    target = open_transfer_set(cfg, data)
    split = cfg.eval.transfer_split
    train = clips_of(cfg, target, target.split_indices(split, cfg.data.train_part), train=True)
    test = clips_of(cfg, target, target.split_indices(split, cfg.data.test_part), train=False)
    result = finetune_encoders(cfg, encoders, train, test, target.num_classes, device, progress, "transfer")
    return {**result, "target": str(target.root), "split": split, "num_classes": target.num_classes}
