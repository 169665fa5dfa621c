"""The config schema. Every field has a type and a range; unknown keys are errors.

Defaults are PSTL's published choices where they exist (see docs/method.md); the `laptop` and
`paper` presets in asma/presets/ set sizes for a CPU and for a GPU.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from asma.skeleton.graph import Partition


def _odd(value: int) -> int:
    if value % 2 == 0:
        raise ValueError(f"must be odd (a centred temporal window), got {value}")
    return value


TemporalKernel = Annotated[int, Field(ge=1, le=15), AfterValidator(_odd)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SyntheticConfig(Section):
    num_classes: int = Field(10, ge=2, le=200)
    samples_per_class: int = Field(40, ge=2)
    persons: int = Field(2, ge=1, le=2)
    seed: int = 0
    view_jitter_deg: float = Field(5.0, ge=0, le=90, description="spread (std) of each sample's camera yaw")


class NormaliseConfig(Section):
    """Per-sequence normalisation of each sample before cropping (asma/data/normalise.py)."""

    centre: Literal["none", "first_frame", "every_frame"] = Field(
        "none", description="subtract the layout's origin joint: of the first frame (what `asma data prepare` "
        "stores already; it also recentres imported sets), of every frame (AimCLR/PSTL), or not at all")
    scale: Literal["none", "body", "minmax"] = Field(
        "none", description="body: divide by the mean bone length (keeps the aspect ratio); minmax: each "
        "axis to [-1, 1] (CTR-GCN's NW-UCLA feeder)")
    face_front: bool = Field(False, description="rotate about y so the shoulders lie along x in the first frame")


class DataConfig(Section):
    path: str = Field("synthetic", description="a prepared data set folder, or 'synthetic'")
    cache_dir: str = Field("runs/cache", description="where the synthetic set is generated once")
    synthetic: SyntheticConfig = SyntheticConfig()
    split: str = "xsub"
    train_part: str = "train"
    test_part: str = "test"
    window: int = Field(50, ge=8, le=600, description="frames T after valid-frame crop + resize")
    persons: int = Field(2, ge=1, le=4, description="persons M fed to the model (first M kept)")
    stream: Literal["joint", "bone", "motion", "bone_motion"] = "joint"
    crop_min: float = Field(0.5, gt=0, le=1, description="smallest share of valid frames a train crop keeps")
    crop_max: float = Field(1.0, gt=0, le=1)
    sampling: Literal["crop_resize", "uniform"] = Field(
        "crop_resize", description="crop_resize: a random valid-frame crop resized to T (CTR-GCN's NTU feeder); "
        "uniform: T sorted random frame indices over the whole sample for training, evenly spaced for "
        "evaluation (CTR-GCN's NW-UCLA feeder; crop_min/crop_max unused)")
    normalise: NormaliseConfig = NormaliseConfig()
    loader_workers: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _crop_range(self) -> "DataConfig":
        if self.crop_min > self.crop_max:
            raise ValueError(f"crop_min ({self.crop_min}) > crop_max ({self.crop_max})")
        fields = type(self).model_fields
        unused = [k for k in ("crop_min", "crop_max") if getattr(self, k) != fields[k].default]
        if self.sampling == "uniform" and unused:  # changed, and silently ignored, it would measure nothing
            raise ValueError(f"{' and '.join(unused)} set, but sampling 'uniform' does not crop (it draws T frames "
                             "over the whole sample); drop them, or set sampling: crop_resize")
        return self


class AugmentConfig(Section):
    shear: float = Field(0.5, ge=0, le=2, description="shear amplitude (PSTL: 1 at batch level)")
    rotate_deg: float = Field(30.0, ge=0, le=180, description="largest rotation about the main axis")
    flip_prob: float = Field(0.5, ge=0, le=1, description="left/right mirror probability")
    shift_ratio: float = Field(1 / 6, ge=0, le=0.5, description="temporal shift crop, share of T (PSTL: 1/6)")
    rotate_axes: Literal["main", "all"] = Field(
        "main", description="main: up to rotate_deg about one random axis, 1 degree about the others (PSTL); "
        "all: up to rotate_deg about each axis (CTR-GCN)")
    scale: float = Field(0.0, ge=0, lt=1, description="random scale in [1 - scale, 1 + scale] per sample")


class EncoderConfig(Section):
    arch: Literal["stgcn"] = "stgcn"
    base_channels: int = Field(16, ge=4, le=256, description="width of the first blocks (PSTL: 16)")
    feature_dim: int = Field(256, ge=8, le=4096, description="output feature size (PSTL: 256)")
    depth: int = Field(10, ge=2, le=16, description="ST-GCN blocks (PSTL: 10)")
    temporal_kernel: TemporalKernel = 9
    edge_importance: bool = True
    dropout: float = Field(0.0, ge=0, lt=1)
    partition: Partition = Field(
        "spatial", description="ST-GCN's spatial partition with distances to the centre over the whole "
        "body (its paper), or as ST-GCN's code and PSTL build it (max_hop=1)")


class ProjectorConfig(Section):
    dim: int = Field(6144, ge=16, le=16384, description="Barlow Twins projector width (PSTL: 6144)")
    layers: int = Field(3, ge=1, le=4)
    off_diagonal_weight: float = Field(2e-4, ge=0, le=1, description="Barlow Twins lambda")


class JointMaskConfig(Section):
    """Which joints a spatial stream removes from the graph.

    mode: none | random (uniform) | csm (PSTL: a pool with each joint degree-many times, drawn
    without replacement) | degree (weights degree^power toward `target`) | threshold (uniform among
    joints with degree >= threshold for target=high, < threshold for target=low).
    """

    mode: Literal["none", "random", "csm", "degree", "threshold"] = "degree"
    target: Literal["high", "low"] = "high"
    scope: Literal["sample", "batch"] = Field(
        "sample", description="a mask per sample, or one per batch with the joints cut out (PSTL)")
    ratio: float = Field(0.32, ge=0, lt=1, description="share of joints masked (PSTL: 8 of 25)")
    degree_power: float = Field(1.0, ge=0, le=8)
    degree_threshold: int = Field(3, ge=1, le=8)


class FrameMaskConfig(Section):
    """Which frames a temporal stream drops.

    mode: none | random | motion (drop the `ratio` share of frames with the highest or lowest
    motion, by `target`; with `percentile`, draw them among the frames past that motion
    percentile instead of taking the extreme ones) | matm (PSTL: highest motion, then random).
    Then `random_ratio` of the remaining frames are dropped at random.
    """

    mode: Literal["none", "random", "motion", "matm"] = "motion"
    target: Literal["high", "low"] = "high"
    ratio: float = Field(0.2, ge=0, lt=1, description="share of frames dropped by motion (PSTL: 10 of 50)")
    random_ratio: float = Field(0.2, ge=0, lt=1, description="share of T dropped at random after (PSTL: 10 of 50)")
    percentile: float | None = Field(None, ge=0, le=100)

    @model_validator(mode="after")
    def _leaves_frames(self) -> "FrameMaskConfig":
        if self.ratio + self.random_ratio >= 0.95:
            raise ValueError(f"ratio + random_ratio = {self.ratio + self.random_ratio:.2f} leaves almost no frames")
        return self


SampleJoints = Literal["cut", "zero"]  # how the encoder removes per-sample masked joints (asma/models/stgcn.py)


class ViewMaskConfig(Section):
    joints: JointMaskConfig = JointMaskConfig()
    frames: FrameMaskConfig = FrameMaskConfig()


def _merged(base: dict, update: dict) -> dict:
    """`update` over `base`, recursing into mappings."""
    out = dict(base)
    for key, value in update.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


# The built-in views are the masking room's data (asma/masking/views.yaml), read as a file, as the
# presets are: the config layer sits below masking and imports none of it.
BUILT_IN_VIEWS_FILE = Path(__file__).resolve().parent.parent / "masking" / "views.yaml"


@lru_cache(maxsize=1)
def _built_in_view_fields() -> dict[str, dict]:
    return yaml.safe_load(BUILT_IN_VIEWS_FILE.read_text())


def _default_views() -> dict[str, ViewMaskConfig]:
    return {name: ViewMaskConfig.model_validate(fields) for name, fields in _built_in_view_fields().items()}


class MaskingConfig(Section):
    views: list[str] = Field(default_factory=lambda: ["a", "b"], min_length=1, max_length=4,
                             description="one encoder per named view; ASMa = [a, b]")
    streams: Literal["separate", "combined"] = Field(
        "separate", description="separate: anchor + spatial + temporal streams per encoder (PSTL); "
        "combined: one view with joint and frame masks together")
    sample_joints: SampleJoints = Field(
        "zero", description="how a per-sample joint mask (joints.scope: sample) leaves the encoder: zero: the "
        "masked joints stay as zeroed columns that BatchNorm statistics count (the only way up to commit "
        "50ac1dc); cut: each sample's masked joints are taken out of its columns and graph, as scope batch "
        "does for the batch (BatchNorm over kept joints only; a cheaper step: docs/benchmarks.md, 'ASMa step')")
    specs: dict[str, ViewMaskConfig] = Field(default_factory=_default_views, description="named views; a "
                                             "view given in part (masking.specs.a.joints.ratio) keeps the rest of "
                                             "that view, and the other built-in views stay defined")

    @field_validator("specs", mode="before")
    @classmethod
    def _over_built_in_views(cls, value: Any) -> Any:
        """Views written in a file or --set go over the built-in views field by field: `specs: {a:
        {joints: {ratio: 0.3}}}` changes view A's joint share and keeps its degree and motion rules,
        and views b, pstl, random, none. (Replacing the whole mapping dropped every other view and
        gave A the generic defaults.)"""
        if not isinstance(value, dict):
            return value
        merged: dict[str, Any] = {name: view.model_dump() for name, view in _default_views().items()}
        for name, view in value.items():
            view = view.model_dump() if isinstance(view, BaseModel) else view
            merged[name] = _merged(merged[name], view) if name in merged and isinstance(view, dict) else view
        return merged

    @model_validator(mode="after")
    def _views_defined(self) -> "MaskingConfig":
        unknown = [v for v in self.views if v not in self.specs]
        if unknown:
            raise ValueError(f"views {unknown} are not defined in masking.specs ({', '.join(self.specs)})")
        return self


class AlignmentConfig(Section):
    """How the encoders' features become one representation downstream (see docs/method.md)."""

    kind: Literal["mean", "concat", "linear", "cross_attention"] = "cross_attention"
    heads: int = Field(4, ge=1, le=32)
    tokens: int = Field(4, ge=1, le=64, description="tokens each feature is split into for attention")
    loss_weight: float = Field(0.1, ge=0, le=100, description="weight of the alignment loss")


class OptimConfig(Section):
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(5e-3, gt=0, le=10)
    weight_decay: float = Field(1e-5, ge=0, le=1)
    schedule: Literal["constant", "cosine"] = "cosine"
    warmup_epochs: int = Field(0, ge=0)


class TrainConfig(Section):
    epochs: int = Field(150, ge=1)
    batch_size: int = Field(128, ge=2, description="global batch over all workers")
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int = Field(0, ge=0, description="torch CPU threads, 0 = leave as is")
    precision: Literal["float32", "bfloat16"] = Field(
        "float32", description="pretraining step's encoders and projectors: float32, or bfloat16 autocast "
        "(weights, BatchNorm statistics and the Barlow Twins loss stay float32; faster on a CPU with "
        "AVX512-BF16 or AMX: docs/benchmarks.md, 'Pretraining step'; 17x slower on one without, which "
        "pretraining measures and warns about)")
    compile: Literal["eager", "default", "reduce-overhead", "max-autotune"] = Field(
        "eager", description="eager (no compiling), or torch.compile each encoder with fixed shapes (Inductor), in this mode; "
        "reduce-overhead also captures CUDA graphs on a GPU, against a host-bound step. A GPU option: on a "
        "CPU pretraining refuses it (a wrong gradient on one CPU, slower on another: docs/benchmarks.md, "
        "'Compiled step')")
    checkpoint_every: int = Field(1, ge=1, description="epochs between checkpoints")
    eval_every: int = Field(0, ge=0, description="epochs between proxy evaluations (kNN), 0 = only at the end")
    eval_epochs: list[int] = Field([], description="epochs (counted from 1) after which the proxy is measured too: "
                                   "a search's ASHA rungs")
    eval_report: Literal["measured", "latest"] = Field(
        "measured", description="measured: the proxy is in an epoch's metrics when measured that epoch; latest: "
        "every epoch carries the latest measurement (with proxy_epoch, the epoch it was measured after), "
        "measured at an attempt's first epoch if none is known yet, for Tune, which wants a search's metric "
        "in every result")
    max_steps_per_epoch: int = Field(0, ge=0, description="0 = the whole epoch")


class EvalConfig(Section):
    protocols: list[Literal["linear", "knn", "finetune", "semi", "transfer", "supervised"]] = ["linear", "knn"]
    epochs: int = Field(100, ge=1, description="linear-probe epochs (on cached features)")
    lr: float = Field(0.01, gt=0)
    finetune_epochs: int = Field(50, ge=1, description="epochs of finetune, semi, transfer, supervised")
    finetune_lr: float = Field(5e-3, gt=0)
    batch_size: int = Field(128, ge=2)
    knn_k: int = Field(20, ge=1)
    knn_temperature: float = Field(0.1, gt=0)
    semi_fractions: list[float] = Field([0.01, 0.1], min_length=1, description="shares of the labelled train set, in (0, 1]")
    precise_bn: bool = Field(True, description="frozen protocols (linear, knn): re-estimate the encoders' "
                             "BatchNorm statistics on the training clips first, as the random-init floor's are")
    semi_sampling: Literal["balanced", "random"] = "balanced"
    semi_repeats: int = Field(3, ge=1)
    transfer_data: str | None = Field(None, description="prepared set to fine-tune on for `transfer`")
    transfer_split: str = "xsub"
    seed: int = 0


class SupervisedConfig(Section):
    """The recipe of the `supervised` protocol: the same encoder trained from scratch with the labels,
    the ceiling row of the tables. Its own optimizer, schedule, epochs, batch and width, as the
    supervised GCN literature trains (docs/method.md, "The supervised reference").
    `recipe: finetune` trains it as `finetune` does instead (eval.finetune_*, cfg.optim's kind, no
    warm-up), the behaviour before this section existed.
    """

    recipe: Literal["own", "finetune"] = "own"
    optim: OptimConfig = OptimConfig(optimizer="sgd", lr=0.1, weight_decay=5e-4, schedule="cosine", warmup_epochs=5)
    epochs: int = Field(80, ge=1)
    batch_size: int = Field(16, ge=2)
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    head_norm: bool = Field(True, description="the linear head sees the features through a BatchNorm without "
                            "affine parameters, as the linear probe does; false: the features as they are "
                            "(ST-GCN's, CTR-GCN's classifier)")
    streams: list[Literal["joint", "bone", "motion", "bone_motion"]] | None = Field(
        None, min_length=1, description="one model per input stream, softmax scores summed (2s-AGCN); "
        "None: data.stream alone")
    encoders: Literal["views", "one"] = Field(
        "views", description="views: one encoder per masking view, concatenated as the SSL rows are (matched "
        "capacity; with alignment.loss_weight their features are also pulled together); one: a single "
        "encoder, as the supervised GCN literature trains")
    base_channels: int | None = Field(None, ge=4, le=256, description="encoder width; None: encoder.base_channels")
    feature_dim: int | None = Field(None, ge=8, le=4096, description="None: encoder.feature_dim")
    augment: AugmentConfig | None = Field(None, description="None: the run's `augment` section")


class RayConfig(Section):
    workers: int = Field(1, ge=1)
    cpus_per_worker: float = Field(1.0, gt=0)
    gpus_per_worker: float = Field(0.0, ge=0)
    address: str | None = None
    storage_path: str = "runs/ray"
    max_failures: int = Field(1, ge=-1, description="restarts of a trial or a Ray Train worker group that crashed or "
                              "lost its node, each from its last checkpoint (-1: no limit)")
    num_to_keep: int = Field(2, ge=1)


class StudentConfig(Section):
    """The lightweight model distillation trains (asma/models/student.py); its size is searchable."""

    arch: Literal["stgcn", "tcn"] = Field("stgcn", description="a narrow ST-GCN, or a temporal conv net over flattened joints")
    base_channels: int = Field(8, ge=2, le=256, description="width of the first blocks")
    depth: int = Field(6, ge=2, le=16, description="blocks")
    feature_dim: int = Field(64, ge=8, le=4096, description="output feature size")
    temporal_kernel: TemporalKernel = 9
    window: int = Field(30, ge=4, le=600, description="frames T the student sees (clips are resampled to it)")


class DistillConfig(Section):
    """Teacher (encoders + alignment + linear head, linear-probed) -> student (docs/method.md)."""

    teacher: str | None = Field(None, description="teacher run folder or checkpoint (or `asma distill --teacher`)")
    temperature: float = Field(4.0, gt=0, le=100, description="softens both logits in the KL term")
    kl_weight: float = Field(1.0, ge=0, le=100, description="weight of T^2 * KL(teacher || student)")
    feature_weight: float = Field(1.0, ge=0, le=100, description="weight of the feature loss to the aligned teacher feature")
    feature_loss: Literal["mse", "cosine"] = "cosine"
    ce_weight: float = Field(0.5, ge=0, le=100, description="weight of cross-entropy on labels, 0 = labels unused")
    augment: bool = Field(False, description="augment the clips the teacher and student both see; off by "
                          "default: a teacher linear-probed on clean clips is often wrong on augmented ones")
    epochs: int = Field(30, ge=1)
    lr: float = Field(5e-3, gt=0, le=10)
    batch_size: int = Field(64, ge=2)
    seed: int = 0


class TrackingConfig(Section):
    """Where runs log their scalars (asma/tracking/trackers.py; docs/cluster.md says which to use where).

    What is tracked is not part of what ran: ablation and search resume checks ignore this section.
    """

    backend: Literal["auto", "tensorboard", "mlflow", "wandb", "none"] = Field(
        "auto", description="auto: TensorBoard event files when tensorboardX is installed (it comes with "
        "ray[tune]), else none; mlflow and wandb need `pip install 'asma[tracking]'`")
    uri: str | None = Field(None, description="mlflow: tracking URI (a folder, file:, sqlite:, http(s)://); "
                            "default $MLFLOW_TRACKING_URI, else <out_dir>/mlruns")
    experiment: str = Field("asma", min_length=1, description="MLflow experiment / W&B project")


class Config(Section):
    name: str = Field("asma", pattern=r"^[A-Za-z0-9_.+=-]+$")
    out_dir: str = "runs"
    data: DataConfig = DataConfig()
    augment: AugmentConfig = AugmentConfig()
    encoder: EncoderConfig = EncoderConfig()
    projector: ProjectorConfig = ProjectorConfig()
    masking: MaskingConfig = MaskingConfig()
    alignment: AlignmentConfig = AlignmentConfig()
    optim: OptimConfig = OptimConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    supervised: SupervisedConfig = SupervisedConfig()
    ray: RayConfig = RayConfig()
    student: StudentConfig = StudentConfig()
    distill: DistillConfig = DistillConfig()
    tracking: TrackingConfig = TrackingConfig()
