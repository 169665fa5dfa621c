"""ST-GCN: builds for every layout, masks joints per sample or per batch alike, and its graph and
graph convolution are ST-GCN's (Yan et al. 2018; the code PSTL ships in module/gcn)."""
import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from asma.config.schema import EncoderConfig
from asma.models.stgcn import STGCN, GraphConv, channel_plan, kept_columns
from asma.skeleton.graph import spatial_partition
from asma.skeleton.layout import available_layouts, load_layout

TINY = EncoderConfig(base_channels=4, feature_dim=8, depth=3)


def test_channel_plan_is_pstls_ten_blocks():
    plan = channel_plan(16, 256, 10)
    assert [o for _, o, _ in plan] == [16, 16, 16, 16, 32, 32, 32, 64, 64, 256]
    assert [s for _, _, s in plan] == [1, 1, 1, 1, 2, 1, 1, 2, 1, 1]


@pytest.mark.parametrize("name", available_layouts())
def test_builds_and_runs_for_every_layout(name):
    layout = load_layout(name)
    c = layout.coord_dims if layout.coord_dims == 3 else 3  # 2D layouts carry (x, y, score)
    model = STGCN(TINY, layout, in_channels=c)
    assert model.num_joints == layout.num_joints and model.adjacency.shape == (3, layout.num_joints, layout.num_joints)
    out = model(torch.randn(2, c, 12, layout.num_joints, 2))
    assert out.shape == (2, 8) and torch.isfinite(out).all()
    with pytest.raises(RuntimeError):  # a clip of another layout's joint count does not fit
        model(torch.randn(2, c, 12, layout.num_joints + 1, 2))


def with_random_edge_importance(model: STGCN) -> STGCN:
    with torch.no_grad():
        for p in model.edge_importance:
            p.uniform_(0.5, 1.5)
    return model


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_per_sample_cut_equals_joint_removal_when_rows_agree(mode):
    """`cut` is PSTL's removal done per sample: with one mask in every row it is the batch path,
    BatchNorm's training statistics included (they see only the kept joints either way)."""
    torch.manual_seed(0)
    model = with_random_edge_importance(STGCN(TINY, load_layout("ntu25"))).train(mode == "train")
    x = torch.randn(3, 3, 16, 25, 2)
    keep = torch.ones(25, dtype=torch.bool)
    keep[[3, 7, 20, 21, 24]] = False
    removed = model(x, keep)
    assert torch.allclose(removed, model(x, keep.expand(3, 25), "cut"), atol=1e-5)
    assert not torch.allclose(removed, model(x), atol=1e-3)
    if mode == "eval":  # zeroed columns only differ from removed ones through BatchNorm's statistics
        assert torch.allclose(removed, model(x, keep.expand(3, 25), "zero"), atol=1e-5)
    else:
        assert not torch.allclose(removed, model(x, keep.expand(3, 25), "zero"), atol=1e-3)


@pytest.mark.parametrize("removal", ["cut", "zero"])
def test_per_sample_masks_differ_per_sample(removal):
    torch.manual_seed(0)
    model = with_random_edge_importance(STGCN(TINY, load_layout("ntu25"))).eval()
    x = torch.randn(1, 3, 16, 25, 1).expand(3, -1, -1, -1, -1)
    keep = torch.ones(3, 25, dtype=torch.bool)
    keep[1, :5] = False
    keep[2, [0, 9, 13]] = False  # rows keep 25, 20 and 22 joints: `cut` fills rows 1 and 2 up
    out = model(x, keep, removal)
    assert torch.allclose(out[0], model(x[:1])[0], atol=1e-5)
    assert torch.allclose(out[1], model(x[1:2], keep[1])[0], atol=1e-5)
    assert torch.allclose(out[2], model(x[2:], keep[2])[0], atol=1e-5)


def test_kept_columns_lists_each_rows_kept_joints_and_marks_the_filling():
    keep = torch.tensor([[True, False, True, True], [False, True, False, True]])
    columns, filled = kept_columns(keep)
    assert columns.tolist() == [[0, 2, 3], [1, 3, 0]] and filled.tolist() == [[1, 1, 1], [1, 1, 0]]
    columns, filled = kept_columns(keep[:1])
    assert columns.tolist() == [[0, 2, 3]] and filled is None


def zeroed_graph_reference(model: STGCN, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """The per-sample path as it was up to commit 50ac1dc, written out: every joint stays, the
    removed ones are zeroed after each block, and each sample has its own graph (N, K, V, V) with
    the removed joints' rows and columns zeroed."""
    n, c, t, v, m = x.shape
    x = x.permute(0, 4, 3, 1, 2).reshape(n * m, v * c, t)
    x = model.data_bn(x).view(n, m, v, c, t).permute(0, 1, 3, 4, 2).reshape(n * m, c, t, v)
    weight = keep.repeat_interleave(m, dim=0).float()
    edges = weight[:, None, :, None] * weight[:, None, None, :]
    x = x * weight[:, None, None, :]
    for block, importance in zip(model.blocks, model.edge_importance):
        graph = (model.adjacency * importance)[None] * edges
        y = torch.einsum("nctv,nkvw->nkctw", x, graph).reshape(n * m, -1, x.shape[2], v)
        out = block.tcn(block.gcn.mix(y))
        if block.residual is not None:
            out = out + block.residual(x)
        x = F.relu(out) * weight[:, None, None, :]
    feat = x.sum(dim=(2, 3)) / (x.shape[2] * weight.sum(1, keepdim=True))
    return feat.view(n, m, -1).mean(dim=1)


def test_zero_removal_is_the_per_sample_graph_path_of_before():
    """`sample_removal=zero` aggregates on the shared graph and empties the removed joints instead
    of building a graph per sample: the same outputs and gradients, in training mode with dropout."""
    cfg = TINY.model_copy(update={"dropout": 0.3})
    torch.manual_seed(0)
    model = with_random_edge_importance(STGCN(cfg, load_layout("ntu25"))).train()
    reference = STGCN(cfg, load_layout("ntu25")).train()
    reference.load_state_dict(model.state_dict())
    x = torch.randn(4, 3, 16, 25, 2)
    keep = torch.rand(4, 25, generator=torch.Generator().manual_seed(1)) > 0.3
    torch.manual_seed(2)
    ours = model(x, keep, "zero")
    torch.manual_seed(2)
    expected = zeroed_graph_reference(reference, x, keep)
    assert torch.allclose(ours, expected, atol=1e-5)
    ours.pow(2).sum().backward()
    expected.pow(2).sum().backward()
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        assert torch.allclose(p.grad, q.grad, atol=1e-5, rtol=1e-4), name
    for (name, b), c in zip(model.named_buffers(), reference.buffers()):
        assert torch.allclose(b.float(), c.float()), name  # BatchNorm running statistics


@pytest.mark.parametrize("removal", ["cut", "zero"])
def test_gradients_reach_every_parameter(removal):
    model = STGCN(TINY, load_layout("ntu25")).train()
    model(torch.randn(4, 3, 16, 25, 2), torch.rand(4, 25) > 0.3, removal).pow(2).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


# ---- ST-GCN's graph (net/utils/graph.py, as shipped in PSTL's module/gcn/utils/graph.py) --------

def stgcn_hop_distance(num_node, edges, max_hop):
    a = np.zeros((num_node, num_node))
    for i, j in edges:
        a[j, i] = a[i, j] = 1
    hop_dis = np.zeros((num_node, num_node)) + np.inf
    arrive = np.stack([np.linalg.matrix_power(a, d) for d in range(max_hop + 1)]) > 0
    for d in range(max_hop, -1, -1):
        hop_dis[arrive[d]] = d
    return hop_dis


def stgcn_spatial_graph(num_node, edges, center, max_hop):
    """ST-GCN's Graph(strategy='spatial') with its own normalize_digraph, written out."""
    hop_dis = stgcn_hop_distance(num_node, edges, max_hop)
    adjacency = (hop_dis <= 1).astype(float)  # valid_hop = range(0, 2): hops 0 and 1
    normalized = adjacency @ np.diag(1.0 / adjacency.sum(0))
    out = []
    for hop in (0, 1):
        root, close, further = (np.zeros((num_node, num_node)) for _ in range(3))
        for i in range(num_node):
            for j in range(num_node):
                if hop_dis[j, i] == hop:
                    if hop_dis[j, center] == hop_dis[i, center]:
                        root[j, i] = normalized[j, i]
                    elif hop_dis[j, center] > hop_dis[i, center]:
                        close[j, i] = normalized[j, i]
                    else:
                        further[j, i] = normalized[j, i]
        out += [root] if hop == 0 else [root + close, further]
    return np.stack(out)


NTU_RGBD_EDGES = [(1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21), (10, 9),
                  (11, 10), (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18),
                  (20, 19), (22, 23), (23, 8), (24, 25), (25, 12)]  # ST-GCN's 'ntu-rgb+d', 1-based


def ntu_reference(max_hop):
    return stgcn_spatial_graph(25, [(i - 1, j - 1) for i, j in NTU_RGBD_EDGES], center=20, max_hop=max_hop)


def test_spatial_partition_is_stgcns_with_true_distances_to_the_centre():
    """ST-GCN's algorithm with hop distances over the whole body (the paper's centripetal and
    centrifugal sets)."""
    assert np.allclose(spatial_partition(load_layout("ntu25")), ntu_reference(max_hop=25), atol=1e-6)


def test_stgcn_code_default_max_hop_only_moves_edges_between_the_two_neighbour_sets():
    """ST-GCN's code (and PSTL's config) build the graph with max_hop=1: joints two or more bones
    from the centre are then 'inf' away and compare equal, so their edges all land in the root +
    centripetal set (open-mmlab/mmskeleton#367). Same neighbourhoods, same normalisation: only
    the split of the neighbour edges between partitions 1 and 2 differs."""
    ours, code_default = spatial_partition(load_layout("ntu25")), ntu_reference(max_hop=1)
    assert np.allclose(ours[0], code_default[0]) and np.allclose(ours.sum(0), code_default.sum(0), atol=1e-6)
    assert not np.allclose(ours[2], code_default[2])


def test_max_hop1_partition_is_the_graph_pstl_builds():
    """encoder.partition=spatial_max_hop1 (the paper preset) gives ST-GCN's code's graph exactly."""
    layout = load_layout("ntu25")
    assert np.allclose(spatial_partition(layout, "spatial_max_hop1"), ntu_reference(max_hop=1), atol=1e-6)
    # directed links per partition (root, centripetal, centrifugal), as docs/method.md quotes them
    assert [int((a > 0).sum()) for a in spatial_partition(layout)] == [25, 24, 24]
    assert [int((a > 0).sum()) for a in spatial_partition(layout, "spatial_max_hop1")] == [25, 40, 8]
    encoder = STGCN(TINY.model_copy(update={"partition": "spatial_max_hop1"}), layout)
    assert np.allclose(encoder.adjacency.numpy(), ntu_reference(max_hop=1), atol=1e-6)
    assert np.allclose(STGCN(TINY, layout).adjacency.numpy(),
                       ntu_reference(max_hop=25), atol=1e-6)
    with pytest.raises(ValueError, match="spatial_max_hop1"):
        spatial_partition(layout, "uniform")


# ---- graph convolution order -------------------------------------------------------------------

def test_aggregate_then_mix_equals_stgcns_mix_then_aggregate():
    """ConvTemporalGraphical: conv to K * C_out channels, then einsum('nkctv,kvw->nctw'). Ours
    aggregates first and mixes K * C_in channels: the same linear map, bias aside (ST-GCN's bias is
    summed through A, so it varies by joint; ours is one constant per channel)."""
    torch.manual_seed(0)
    c_in, c_out, k = 5, 7, 3
    adjacency = torch.from_numpy(spatial_partition(load_layout("ntu25")))
    ours = GraphConv(c_in, c_out, k)
    nn.init.zeros_(ours.mix.bias)
    stgcn_conv = nn.Conv2d(c_in, c_out * k, 1, bias=False)
    weight = ours.mix.weight.view(c_out, k, c_in)  # mix input channel index: partition * C_in + c
    with torch.no_grad():
        stgcn_conv.weight.copy_(weight.permute(1, 0, 2).reshape(k * c_out, c_in, 1, 1))
    x = torch.randn(2, c_in, 6, 25)
    y = stgcn_conv(x).view(2, k, c_out, 6, 25)
    reference = torch.einsum("nkctv,kvw->nctw", y, adjacency)
    assert torch.allclose(ours(x, adjacency), reference, atol=1e-5)


def test_fast_dropout_is_inverted_dropout():
    from asma.models.stgcn import FastDropout

    drop = FastDropout(0.5).train()
    x = torch.ones(200_000)
    y = drop(x)
    assert set(y.unique().tolist()) == {0.0, 2.0}
    assert (y == 0).float().mean().item() == pytest.approx(0.5, abs=0.01)
    assert torch.equal(drop.eval()(x), x) and torch.equal(FastDropout(0.0).train()(x), x)
