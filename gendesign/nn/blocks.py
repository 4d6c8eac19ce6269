"""Network blocks shared by every model family: the crystal graph network (the
property predictor's body and the generative encoder), its distance expansion and
the plain MLP.

Crystal graph networks run on the shared periodic neighbour graph.

Atoms are embedded by atomic number and edges carry Gaussian-expanded
distances (Å). Two message-passing schemes share everything else:

- ``cgcnn``: gated convolutions (torch-geometric's ``CGConv``, Xie & Grossman
  2018); edge features stay fixed.
- ``edge_gated``: residual edge-gated convolutions (Bresson & Laurent 2017, as
  in ALIGNN without its line graph): edge features are updated every layer and
  gate the messages, which lets the network learn which neighbours matter.

A mean over each crystal's atoms feeds one small MLP head per target, so one
network learns several properties at once.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn
from torch_geometric.nn import CGConv, global_mean_pool
from torch_geometric.utils import scatter

from gendesign.config import StrictConfig
from gendesign.graphs.neighbors import has_neighbor_graph, radius_graph_for_batch

MAX_ATOMIC_NUMBER = 118


class CrystalGraphNetworkConfig(StrictConfig):
    """Architecture of :class:`CrystalGraphNetwork` (lengths in Å)."""

    # "cgcnn": gated convolutions; "edge_gated": residual edge-gated convolutions that also
    # update edge features
    architecture: Literal["cgcnn", "edge_gated"] = "cgcnn"
    hidden_channels: int = Field(64, gt=0)  # width of atom features
    num_layers: int = Field(3, gt=0)  # message-passing layers
    cutoff: float = Field(8.0, gt=0)  # Å, neighbour search radius
    max_neighbors: int | None = Field(12, gt=0)  # nearest neighbours kept per atom; None: all
    num_gaussians: int = Field(64, gt=1)  # Gaussians expanding each distance
    head_hidden: int = Field(128, gt=0)  # width of each target's head


def mlp(inputs: int, hidden: int, outputs: int, layers: int = 2) -> nn.Sequential:
    """``layers`` linear maps with SiLU between them."""
    sizes = [inputs] + [hidden] * (layers - 1) + [outputs]
    modules: list[nn.Module] = []
    for k in range(len(sizes) - 1):
        modules.append(nn.Linear(sizes[k], sizes[k + 1]))
        if k < len(sizes) - 2:
            modules.append(nn.SiLU())
    return nn.Sequential(*modules)


class GaussianDistanceExpansion(nn.Module):
    """Distances (Å) → ``num_gaussians`` Gaussian features centred on [0, cutoff]."""

    def __init__(self, cutoff: float, num_gaussians: int):
        super().__init__()
        centres = torch.linspace(0.0, cutoff, num_gaussians)
        self.register_buffer("centres", centres)
        self.width = float(centres[1] - centres[0])

    def forward(self, distances: torch.Tensor) -> torch.Tensor:
        return torch.exp(-(((distances[:, None] - self.centres) / self.width) ** 2))


class EdgeGatedConvolution(nn.Module):
    """One residual edge-gated layer: updates atom features ``h`` and edge features ``e``.

    For an edge j → i, ``ê = A h_i + B h_j + C e``; its gate σ(ê) weighs the
    message ``V h_j``, normalised over i's neighbours. Atoms and edges then take
    residual SiLU(BatchNorm(·)) steps.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.center = nn.Linear(channels, channels)  # A
        self.neighbor = nn.Linear(channels, channels)  # B
        self.edge = nn.Linear(channels, channels)  # C
        self.self_update = nn.Linear(channels, channels)  # U
        self.message = nn.Linear(channels, channels)  # V
        self.atom_norm = nn.BatchNorm1d(channels)
        self.edge_norm = nn.BatchNorm1d(channels)

    def forward(
        self, h: torch.Tensor, e: torch.Tensor, edge_index: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        source, target = edge_index
        edge_state = self.center(h)[target] + self.neighbor(h)[source] + self.edge(e)
        gate = torch.sigmoid(edge_state)
        weighted = scatter(gate * self.message(h)[source], target, 0, h.size(0), reduce="sum")
        normaliser = scatter(gate, target, 0, h.size(0), reduce="sum") + 1e-6
        h = h + nn.functional.silu(self.atom_norm(self.self_update(h) + weighted / normaliser))
        e = e + nn.functional.silu(self.edge_norm(edge_state))
        return h, e


class CrystalGraphNetwork(nn.Module):
    """Crystal → one value per target (in the targets' standardised units)."""

    def __init__(self, num_targets: int, config: CrystalGraphNetworkConfig | None = None):
        super().__init__()
        self.config = config or CrystalGraphNetworkConfig()
        c = self.config
        self.num_targets = num_targets
        self.embedding = nn.Embedding(MAX_ATOMIC_NUMBER + 1, c.hidden_channels)
        self.expansion = GaussianDistanceExpansion(c.cutoff, c.num_gaussians)
        if c.architecture == "cgcnn":
            self.convolutions = nn.ModuleList(
                CGConv(c.hidden_channels, dim=c.num_gaussians, aggr="add", batch_norm=True)
                for _ in range(c.num_layers)
            )
        else:
            self.edge_embedding = nn.Linear(c.num_gaussians, c.hidden_channels)
            self.convolutions = nn.ModuleList(
                EdgeGatedConvolution(c.hidden_channels) for _ in range(c.num_layers)
            )
        self.heads = nn.ModuleList(
            nn.Sequential(
                nn.Linear(c.hidden_channels, c.head_hidden),
                nn.Softplus(),
                nn.Linear(c.head_hidden, 1),
            )
            for _ in range(num_targets)
        )

    @property
    def message_passing(self) -> nn.ModuleList:
        """The layers that turn neighbourhoods into atom features (frozen when fine-tuning
        with ``freeze_message_passing``); the embedding and heads are not among them."""
        layers = [self.convolutions]
        if self.config.architecture == "edge_gated":
            layers.append(self.edge_embedding)
        return nn.ModuleList(layers)

    def crystal_features(self, batch) -> torch.Tensor:
        """(crystals, hidden_channels) pooled atom features; the heads' input."""
        if has_neighbor_graph(batch):
            edge_index, distances = batch.edge_index, batch.edge_distance
        else:
            graph = radius_graph_for_batch(batch, self.config.cutoff, self.config.max_neighbors)
            edge_index, distances = graph.edge_index, graph.distances
        edges = self.expansion(distances)
        atoms = self.embedding(batch.atom_types)
        if self.config.architecture == "cgcnn":
            for convolution in self.convolutions:
                atoms = convolution(atoms, edge_index, edges)
        else:
            edges = self.edge_embedding(edges)
            for convolution in self.convolutions:
                atoms, edges = convolution(atoms, edges, edge_index)
        return global_mean_pool(atoms, batch.batch, size=batch.num_graphs)

    def forward(self, batch) -> torch.Tensor:
        """(crystals, num_targets) predictions for a batched CrystalGraph."""
        crystals = self.crystal_features(batch)
        return torch.cat([head(crystals) for head in self.heads], dim=1)
