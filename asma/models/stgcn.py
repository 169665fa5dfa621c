"""ST-GCN encoder (Yan et al. 2018) as PSTL uses it, with joints removable per sample.

Input (N, C, T, V, M) -> feature (N, D): ST-GCN blocks with the layout's spatial-partition
adjacency and learnable edge importance, global average over T and the kept joints, then the mean
over persons. A joint keep mask (V,) drops joints from the graph outright (PSTL: columns and
adjacency rows removed). A mask (N, V) does it per sample, so a batch can carry a different mask in
every sample, in one of two ways (`sample_removal`):
- `cut`: each sample's kept joints are gathered into V_keep columns with its own (V_keep, V_keep)
  graph, which is PSTL's removal done per sample (BatchNorm sees the kept joints only). Rows that
  keep fewer joints than the most-keeping row (only `csm` draws vary) fill up with removed joints,
  which are then treated as in `zero`.
- `zero` (default): all V columns stay; the removed joints are zeroed after every block and
  nothing is aggregated into them, so BatchNorm statistics also count their columns (up to commit
  50ac1dc the only way).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from asma.config.schema import EncoderConfig, SampleJoints
from asma.skeleton.graph import spatial_partition
from asma.skeleton.layout import Layout


def channel_plan(base: int, feature_dim: int, depth: int) -> list[tuple[int, int, int]]:
    """(in, out, stride) of each block. depth 10 gives PSTL's 16,16,16,16,32(s2),32,32,64(s2),64,256."""
    stage_one = max(1, round(depth * 0.4))
    stage_two = max(1, round(depth * 0.3)) if depth >= 3 else 0
    widths = [base] * stage_one + [base * 2] * stage_two + [base * 4] * (depth - stage_one - stage_two)
    strides = [1] * depth
    if stage_two:
        strides[stage_one] = 2
    if depth - stage_one - stage_two > 0:
        strides[stage_one + stage_two] = 2
    widths[-1] = feature_dim
    ins = [widths[0]] + widths[:-1]
    return list(zip(ins, widths, strides))


class GraphConv(nn.Module):
    """Spatial graph convolution: aggregate over each partition, then one 1x1 conv over (K * C_in).

    Aggregating first and mixing channels after is ST-GCN's conv-then-aggregate map with K * C_in
    instead of K * C_out channels through the einsum (its bias aside: ST-GCN's bias goes through A
    and so varies by joint; ours is one per channel). Measured on a CPU, this einsum + 1x1 conv beat
    one matmul against the stacked (V, K * V) partitions followed by an einsum mix (torch 2.13).
    """

    def __init__(self, c_in: int, c_out: int, partitions: int):
        super().__init__()
        self.partitions = partitions
        self.mix = nn.Conv2d(c_in * partitions, c_out, kernel_size=1)

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """x (N, C, T, V); adjacency (K, V, W) shared or (N, K, V, W) per sample; keep (N, W) 0/1:
        nothing is aggregated into a joint of weight 0, as if its adjacency column were zero."""
        n, c, t, v = x.shape
        if adjacency.dim() == 3:  # (K, V, W), shared by the batch
            y = torch.einsum("nctv,kvw->nkctw", x, adjacency)
        else:  # (N, K, V, W), one graph per sample
            y = torch.einsum("nctv,nkvw->nkctw", x, adjacency)
        if keep is not None:
            y = y * keep[:, None, None, None, :]
        return self.mix(y.reshape(n, self.partitions * c, t, -1))


class FastDropout(nn.Module):
    """Inverted dropout, as nn.Dropout, with the mask drawn as `rand >= p`: on a CPU about three
    times cheaper than `bernoulli_`, which made a tenth of the encoder's step."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = torch.rand_like(x) >= self.p
        return x * keep / (1.0 - self.p)


class STGCNBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, partitions: int, temporal_kernel: int, stride: int,
                 dropout: float, residual: bool):
        super().__init__()
        self.gcn = GraphConv(c_in, c_out, partitions)
        pad = (temporal_kernel - 1) // 2
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, (temporal_kernel, 1), (stride, 1), (pad, 0)),
            nn.BatchNorm2d(c_out),
            FastDropout(dropout),
        )
        if not residual:
            self.residual = None
        elif c_in == c_out and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = nn.Sequential(nn.Conv2d(c_in, c_out, 1, (stride, 1)), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        out = self.tcn(self.gcn(x, adjacency, keep))
        if self.residual is not None:
            out = out + self.residual(x)
        return F.relu(out, inplace=True)


def kept_columns(keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(N, V) bool -> (columns (N, V_keep): each row's kept joints in order, V_keep = the most any
    row keeps; weights (N, V_keep) 0/1 of the filled-up columns, None when every row keeps V_keep)."""
    order = torch.sort((~keep).to(torch.uint8), dim=1, stable=True).indices  # kept joints first
    columns = order[:, : int(keep.sum(1).max())]
    filled = keep.gather(1, columns)
    return columns, None if bool(filled.all()) else filled


class STGCN(nn.Module):
    """ST-GCN encoder: (N, C, T, V, M) -> (N, feature_dim)."""

    def __init__(self, cfg: EncoderConfig, layout: Layout, in_channels: int = 3):
        super().__init__()
        adjacency = torch.from_numpy(spatial_partition(layout, cfg.partition))
        self.register_buffer("adjacency", adjacency, persistent=False)
        k, v = adjacency.shape[0], adjacency.shape[1]
        self.in_channels, self.num_joints = in_channels, v
        self.feature_dim = cfg.feature_dim
        self.data_bn = nn.BatchNorm1d(in_channels * v)
        plan = channel_plan(cfg.base_channels, cfg.feature_dim, cfg.depth)
        plan[0] = (in_channels, plan[0][1], plan[0][2])
        self.blocks = nn.ModuleList(
            STGCNBlock(ci, co, k, cfg.temporal_kernel, s, 0.0 if i == 0 else cfg.dropout, residual=i > 0)
            for i, (ci, co, s) in enumerate(plan)
        )
        self.edge_importance = nn.ParameterList(
            nn.Parameter(torch.ones_like(adjacency), requires_grad=cfg.edge_importance) for _ in plan
        )

    def forward(self, x: torch.Tensor, joint_keep: torch.Tensor | None = None,
                sample_removal: SampleJoints = "zero") -> torch.Tensor:
        """x (N, C, T, V, M); joint_keep None, (V,) or (N, V) bool -> (N, feature_dim)."""
        n, c, t, v, m = x.shape
        x = x.permute(0, 4, 3, 1, 2).reshape(n * m, v * c, t)
        x = self.data_bn(x).view(n, m, v, c, t).permute(0, 1, 3, 4, 2).reshape(n * m, c, t, v)
        columns = slot_keep = None  # the kept joints' columns; 0/1 weights of columns still to empty
        if joint_keep is not None and joint_keep.dim() == 1:
            columns = joint_keep.nonzero().squeeze(1)
            x = x.index_select(3, columns)
        elif joint_keep is not None and sample_removal == "cut":
            columns, slot_keep = kept_columns(joint_keep.repeat_interleave(m, dim=0))  # (N*M, V_keep)
            x = x.gather(3, columns[:, None, None, :].expand(-1, c, t, -1))
        elif joint_keep is not None:
            slot_keep = joint_keep.repeat_interleave(m, dim=0)
        if slot_keep is not None:
            slot_keep = slot_keep.to(x.dtype)
            x = x * slot_keep[:, None, None, :]
        for block, importance in zip(self.blocks, self.edge_importance):
            a = self.adjacency * importance  # PSTL: weight the full graph, then cut the removed joints out
            if columns is not None and columns.dim() == 1:
                a = a.index_select(1, columns).index_select(2, columns)
            elif columns is not None:
                a = a[:, columns[:, :, None], columns[:, None, :]].transpose(0, 1)  # (N*M, K, V_keep, V_keep)
            x = block(x, a, slot_keep)
            if slot_keep is not None:
                x = x * slot_keep[:, None, None, :]
        if slot_keep is None:
            feat = x.mean(dim=(2, 3))
        else:
            feat = x.sum(dim=(2, 3)) / (x.shape[2] * slot_keep.sum(1, keepdim=True).clamp_min(1))
        return feat.view(n, m, -1).mean(dim=1)
