"""The pretraining model: one ST-GCN encoder per masked view, each trained with Barlow Twins.

For every named view (ASMa: `a` and `b`) an encoder sees three augmented copies of each sequence
(streams: separate, PSTL's design): the anchor (unmasked), a spatial stream (the view's joints
removed from the graph) and a temporal stream (the view's frames dropped). Its loss is
BT(anchor, spatial) + BT(anchor, temporal), with one projector per encoder; the anchor is
projected once and reused for both pairs. With `streams: combined` one stream carries both masks.
An encoder's streams go through its projector together (`project_streams`: the same projections).
With `train.precision: bfloat16` encoders and projectors run under bfloat16 autocast and the loss
is computed in float32 from the projections.
"""
from __future__ import annotations

from typing import Callable, Iterable

import torch
import torch.nn as nn

from asma.config.schema import Config, ViewMaskConfig
from asma.data.transforms import augment
from asma.masking.frames import frames_to_keep, gather_frames
from asma.masking.joints import joints_to_keep
from asma.models.projector import make_projector, project_streams
from asma.models.stgcn import STGCN
from asma.objectives.barlow_twins import barlow_twins_loss
from asma.skeleton.layout import Layout


def encoder_entries(state: dict[str, torch.Tensor], views: Iterable[str]) -> dict[str, torch.Tensor]:
    """The encoders' entries of a MaskedPretrainer state dict with these views (no projector):
    what evaluation reads."""
    prefixes = tuple(f"views.{name}.encoder." for name in views)
    return {key: value for key, value in state.items() if key.startswith(prefixes)}


class MaskedViewEncoder(nn.Module):
    """An encoder, its projector and its view's masks."""

    def __init__(self, cfg: Config, view: ViewMaskConfig, layout: Layout, in_channels: int):
        super().__init__()
        self.encoder = STGCN(cfg.encoder, layout, in_channels)
        self.projector = make_projector(cfg.encoder.feature_dim, cfg.projector)
        self.view = view
        self.sample_joints = cfg.masking.sample_joints
        self.register_buffer("degrees", torch.as_tensor(layout.degrees), persistent=False)

    def joint_keep(self, batch: int, generator) -> torch.Tensor:
        keep = joints_to_keep(self.view.joints, self.degrees, 1 if self.view.joints.scope == "batch" else batch, generator)
        return keep[0] if self.view.joints.scope == "batch" else keep

    def masked_streams(self, kind: str, augmented: Callable[[], torch.Tensor],
                       generator) -> dict[str, tuple[torch.Tensor, torch.Tensor | None]]:
        """{stream: (clips, joint keep mask or None)}: anchor, then spatial + temporal (`separate`)
        or combined, each a fresh augmentation; frames are dropped here, joints by the encoder."""
        streams = {"anchor": (augmented(), None)}
        if kind == "separate":
            spatial = augmented()
            streams["spatial"] = (spatial, self.joint_keep(spatial.shape[0], generator))
            temporal = augmented()
            streams["temporal"] = (gather_frames(temporal, frames_to_keep(temporal, self.view.frames, generator)), None)
        else:
            combined = augmented()
            combined = gather_frames(combined, frames_to_keep(combined, self.view.frames, generator))
            streams["combined"] = (combined, self.joint_keep(combined.shape[0], generator))
        return streams

    def forward(self, streams: dict[str, tuple[torch.Tensor, torch.Tensor | None]]) -> dict[str, torch.Tensor]:
        """{stream: (clips, keep)} -> {stream: projection (N, projector.dim)}."""
        feats = [self.encoder(x, keep, self.sample_joints) for x, keep in streams.values()]
        return dict(zip(streams, project_streams(self.projector, feats)))


class MaskedPretrainer(nn.Module):
    """All encoders of a run. forward(clips, generator) -> {loss, loss/<view>/<stream>}."""

    def __init__(self, cfg: Config, layout: Layout, in_channels: int = 3):
        super().__init__()
        self.cfg = cfg
        self.layout = layout
        self.views = nn.ModuleDict(
            {name: MaskedViewEncoder(cfg, cfg.masking.specs[name], layout, in_channels) for name in cfg.masking.views}
        )

    def encoders(self) -> dict[str, STGCN]:
        return {name: v.encoder for name, v in self.views.items()}

    def load_encoder_state(self, state: dict[str, torch.Tensor]) -> None:
        """Load every encoder's weights from `state`, which holds no projector; an encoder weight
        missing, or a key that is no encoder's, is an error (RuntimeError, as load_state_dict)."""
        wanted = set(encoder_entries(self.state_dict(), self.views))
        missing = sorted(wanted - set(state))
        unexpected = sorted(set(state) - wanted)
        if missing or unexpected:
            raise RuntimeError(f"encoder weights do not fit: missing {missing[:3]}, unexpected {unexpected[:3]}")
        self.load_state_dict(state, strict=False)

    def compile_encoders(self, mode: str) -> None:
        """torch.compile every encoder in place (`train.compile`; "eager" leaves them as they are).

        Fixed shapes (dynamic=False): a stream's shape is the same every step, so each encoder
        compiles once per stream shape. The encoders share one forward, so Dynamo's recompile
        limit is raised to allow a few shapes per encoder. Weights and state-dict keys are the
        eager module's (nn.Module.compile), so checkpoints load either way."""
        if mode == "eager":
            return
        import torch._dynamo

        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 4 * len(self.views))
        for view in self.views.values():
            view.encoder.compile(mode=None if mode == "default" else mode, dynamic=False)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """x (N, C, T, V, M) clips; returns the total loss and its parts."""
        lam = self.cfg.projector.off_diagonal_weight
        bfloat16 = self.cfg.train.precision == "bfloat16"
        parts: dict[str, torch.Tensor] = {}
        for name, view in self.views.items():
            streams = view.masked_streams(self.cfg.masking.streams,
                                          lambda: augment(x, self.cfg.augment, self.layout, generator), generator)
            with torch.autocast(x.device.type, torch.bfloat16, enabled=bfloat16):
                projected = view(streams)
            anchor = projected.pop("anchor").float()
            for stream, z in projected.items():
                parts[f"loss/{name}/{stream}"] = barlow_twins_loss(anchor, z.float(), lam)
        total = torch.stack(list(parts.values())).sum()
        return {"loss": total, **parts}
