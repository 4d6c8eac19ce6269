"""CGCNN-style crystal graph network on the shared periodic neighbour graph.

Atoms are embedded by atomic number, edges carry Gaussian-expanded distances
(Å), and gated convolutions (torch-geometric's ``CGConv``, Xie & Grossman 2018)
update the atoms. A mean over each crystal's atoms feeds one small MLP head per
target, so one network learns several properties at once.
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn
from torch_geometric.nn import CGConv, global_mean_pool

from gendesign.config import StrictConfig
from gendesign.graphs.neighbors import radius_graph_for_batch

MAX_ATOMIC_NUMBER = 118


class CrystalGraphNetworkConfig(StrictConfig):
    """Architecture of :class:`CrystalGraphNetwork` (lengths in Å)."""

    hidden_channels: int = Field(64, gt=0)
    num_layers: int = Field(3, gt=0)
    cutoff: float = Field(8.0, gt=0)
    max_neighbors: int | None = Field(12, gt=0)
    num_gaussians: int = Field(64, gt=1)
    head_hidden: int = Field(128, gt=0)


class GaussianDistanceExpansion(nn.Module):
    """Distances (Å) → ``num_gaussians`` Gaussian features centred on [0, cutoff]."""

    def __init__(self, cutoff: float, num_gaussians: int):
        super().__init__()
        centres = torch.linspace(0.0, cutoff, num_gaussians)
        self.register_buffer("centres", centres)
        self.width = float(centres[1] - centres[0])

    def forward(self, distances: torch.Tensor) -> torch.Tensor:
        return torch.exp(-(((distances[:, None] - self.centres) / self.width) ** 2))


class CrystalGraphNetwork(nn.Module):
    """Crystal → one value per target (in the targets' standardised units)."""

    def __init__(self, num_targets: int, config: CrystalGraphNetworkConfig | None = None):
        super().__init__()
        self.config = config or CrystalGraphNetworkConfig()
        c = self.config
        self.num_targets = num_targets
        self.embedding = nn.Embedding(MAX_ATOMIC_NUMBER + 1, c.hidden_channels)
        self.expansion = GaussianDistanceExpansion(c.cutoff, c.num_gaussians)
        self.convolutions = nn.ModuleList(
            CGConv(c.hidden_channels, dim=c.num_gaussians, aggr="add", batch_norm=True)
            for _ in range(c.num_layers)
        )
        self.heads = nn.ModuleList(
            nn.Sequential(
                nn.Linear(c.hidden_channels, c.head_hidden),
                nn.Softplus(),
                nn.Linear(c.head_hidden, 1),
            )
            for _ in range(num_targets)
        )

    def forward(self, batch) -> torch.Tensor:
        """(crystals, num_targets) predictions for a batched CrystalGraph."""
        graph = radius_graph_for_batch(batch, self.config.cutoff, self.config.max_neighbors)
        edge_features = self.expansion(graph.distances)
        atoms = self.embedding(batch.atom_types)
        for convolution in self.convolutions:
            atoms = convolution(atoms, graph.edge_index, edge_features)
        crystals = global_mean_pool(atoms, batch.batch, size=batch.num_graphs)
        return torch.cat([head(crystals) for head in self.heads], dim=1)
