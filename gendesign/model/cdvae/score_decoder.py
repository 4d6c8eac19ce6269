"""The score network: given a noisy crystal and its latent z, where should each atom
move and what element is it?

Inputs are E(3)-invariant (element, z, noise level, interatomic distances on the
periodic neighbour graph); the coordinate output is a sum of learned scalars times
unit edge vectors, so it rotates with the crystal. The output per atom, in Å/σ
units, approximates σ times the score of the noisy coordinate distribution.
"""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.utils import scatter

from gendesign.graphs.neighbors import periodic_radius_graph
from gendesign.model.cdvae.config import DecoderConfig
from gendesign.model.cdvae.noise import to_cartesian
from gendesign.nn.blocks import GaussianDistanceExpansion, mlp


class InteractionLayer(nn.Module):
    """Messages from neighbours (their features and the distance) update each atom."""

    def __init__(self, channels: int, num_radial: int):
        super().__init__()
        self.message = mlp(2 * channels + num_radial, channels, channels)
        self.update = mlp(2 * channels, channels, channels)
        self.norm = nn.LayerNorm(channels)

    def forward(self, h, edge_index, radial):
        source, target = edge_index
        messages = self.message(torch.cat([h[target], h[source], radial], dim=1))
        pooled = scatter(messages, target, 0, dim_size=h.size(0), reduce="mean")
        return h + self.update(torch.cat([self.norm(h), pooled], dim=1))


class ScoreNetwork(nn.Module):
    """(z, noisy crystal, σ) → per-atom coordinate score (Å/σ) and element logits."""

    def __init__(self, config: DecoderConfig, latent_dim: int, num_elements: int):
        super().__init__()
        self.config = config
        c = config.hidden_channels
        self.element_embedding = nn.Embedding(num_elements, c)
        self.latent_projection = nn.Linear(latent_dim, c)
        self.noise_projection = mlp(16, c, c)
        self.radial = GaussianDistanceExpansion(config.cutoff, config.num_radial)
        self.layers = nn.ModuleList(
            InteractionLayer(c, config.num_radial) for _ in range(config.num_layers)
        )
        self.edge_scalar = mlp(2 * c + config.num_radial, c, 1)
        self.element_head = mlp(c, c, num_elements)

    def forward(
        self,
        z: torch.Tensor,
        frac: torch.Tensor,
        lattice: torch.Tensor,
        element_index: torch.Tensor,
        num_atoms: torch.Tensor,
        batch: torch.Tensor,
        sigma: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``sigma`` (B,) is each crystal's coordinate noise level in Å.

        Returns the coordinate output (N, 3) and element logits (N, num_elements).
        """
        cart = to_cartesian(frac, lattice, batch)
        graph = periodic_radius_graph(
            cart, lattice, num_atoms, self.config.cutoff, self.config.max_neighbors
        )
        radial = self.radial(graph.distances)
        edge_index = graph.edge_index
        h = (
            self.element_embedding(element_index)
            + self.latent_projection(z)[batch]
            + self.noise_projection(_noise_features(sigma))[batch]
        )
        for layer in self.layers:
            h = layer(h, edge_index, radial)
        source, target = edge_index
        weights = self.edge_scalar(torch.cat([h[target], h[source], radial], dim=1))
        directions = graph.vectors / graph.distances.clamp(min=1e-6)[:, None]  # centre → neighbour
        score = scatter(weights * directions, target, 0, dim_size=h.size(0), reduce="mean")
        return score, self.element_head(h)


def _noise_features(sigma: torch.Tensor) -> torch.Tensor:
    """(B,) σ → (B, 16) sinusoidal features of log σ."""
    frequencies = torch.arange(1, 9, device=sigma.device, dtype=sigma.dtype)
    angle = torch.log(sigma)[:, None] * frequencies
    return torch.cat([angle.sin(), angle.cos()], dim=1)
