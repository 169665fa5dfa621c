"""ST-GCN adjacency with the `spatial` partition strategy, derived from a layout."""
from __future__ import annotations

from typing import Literal, get_args

import numpy as np

from asma.skeleton.layout import Layout


def hop_distance(adjacency: np.ndarray) -> np.ndarray:
    """(V, V) shortest path length in bones; `inf` where two joints are not connected."""
    v = adjacency.shape[0]
    dist = np.full((v, v), np.inf)
    np.fill_diagonal(dist, 0)
    reach = np.eye(v, dtype=bool)
    step = adjacency > 0
    for d in range(1, v):
        new = (reach.astype(np.int64) @ step.astype(np.int64) > 0) & ~reach
        if not new.any():
            break
        dist[new] = d
        reach |= new
    return dist


Partition = Literal["spatial", "spatial_max_hop1"]  # encoder.partition
PARTITIONS = get_args(Partition)


def spatial_partition(layout: Layout, partition: Partition = "spatial") -> np.ndarray:
    """(3, V, V) adjacency of ST-GCN's spatial strategy: root, centripetal, centrifugal.

    Entry [k, j, i] weighs the message from joint j to joint i; each column is normalised by the
    receiving joint's degree (self loop included), as in ST-GCN's `Graph(strategy="spatial")`.
    `spatial` measures distances to the centre over the whole body (the ST-GCN paper);
    `spatial_max_hop1` is the graph ST-GCN's code and PSTL build (`max_hop=1`): joints two or more
    bones from the centre are all `inf` away, so the edges between them join the centripetal set.
    """
    if partition not in PARTITIONS:
        raise ValueError(f"unknown partition {partition!r}; choose from {', '.join(PARTITIONS)}")
    hop = hop_distance(layout.adjacency)
    linked = hop <= 1
    col_sum = linked.sum(axis=0).astype(np.float64)
    normalized = linked / col_sum[None, :]  # A @ D^-1: mean over the receiver's neighbourhood
    to_center = hop[:, layout.center]
    if partition == "spatial_max_hop1":
        to_center = np.where(to_center <= 1, to_center, np.inf)
    dj, di = to_center[:, None], to_center[None, :]
    root = np.where((hop <= 1) & (dj == di), normalized, 0.0)
    closer = np.where((hop == 1) & (dj > di), normalized, 0.0)
    further = np.where((hop == 1) & (dj < di), normalized, 0.0)
    # hop 0 entries are all `root`; ST-GCN puts hop-1 equal-distance links with the centripetal set
    self_links = np.where(hop == 0, normalized, 0.0)
    same_distance_links = root - self_links
    return np.stack([self_links, same_distance_links + closer, further]).astype(np.float32)
