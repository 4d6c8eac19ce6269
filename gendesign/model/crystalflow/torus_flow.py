"""The coordinate stage: flow matching of fractional coordinates on the 3-torus.

Given a cell's elements and lattice, atoms start at uniform random fractional
positions f₀ and follow a learned velocity field to the crystal f₁. Training
uses the torus geodesic f_t = f₀ + t·w(f₁ − f₀) (``w`` wraps into [−½, ½)), whose
velocity w(f₁ − f₀) the network regresses; a common shift of every atom is not
a different crystal, so the per-cell mean of target and prediction is removed.

The network sees only what does not depend on how the crystal is placed: each
atom's element and the time; for every pair of atoms in the cell (no cutoff, no
neighbour search: cells have ≤ 20 atoms here) sin/cos(2πk·Δf) of their
fractional offset, which is periodic and unchanged when all atoms translate;
and the lattice as lengths and angles, unchanged when the cell rotates. Its
output is a velocity in fractional units, so it is invariant to rotations of
the Cartesian frame and equivariant to atom permutations.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import torch
from torch import nn
from torch_geometric.utils import scatter

from gendesign.model.crystalflow.chemistry_vae import sinusoidal
from gendesign.model.crystalflow.config import CoordinateFlowConfig
from gendesign.nn.blocks import mlp


def wrap(delta: torch.Tensor) -> torch.Tensor:
    """Fractional offsets wrapped into [−½, ½)."""
    return delta - torch.floor(delta + 0.5)


@cache
def _pairs(n: int) -> torch.Tensor:
    index = torch.arange(n)
    source, target = torch.meshgrid(index, index, indexing="ij")
    keep = source != target
    return torch.stack([source[keep], target[keep]])


def cell_pairs(num_atoms: torch.Tensor) -> torch.Tensor:
    """(2, E) every ordered pair (i, j), i ≠ j, of atoms in the same cell (flat atom indices)."""
    offsets = torch.cumsum(num_atoms, 0) - num_atoms
    parts = [
        _pairs(int(n)) + int(o) for n, o in zip(num_atoms.tolist(), offsets.tolist(), strict=True)
    ]
    return torch.cat(parts, 1).to(num_atoms.device) if parts else num_atoms.new_zeros((2, 0))


def lattice_invariants(lengths: torch.Tensor, angles: torch.Tensor, num_atoms) -> torch.Tensor:
    """(B, 6) rotation-invariant lattice features: log(length / n^(1/3)) and cos(angle)."""
    scale = num_atoms.to(lengths.dtype).pow(1 / 3)[:, None]
    return torch.cat([torch.log(lengths / scale), torch.cos(torch.deg2rad(angles))], 1).float()


class PairLayer(nn.Module):
    def __init__(self, hidden: int, pair_features: int):
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.message = mlp(2 * hidden + pair_features + 6, hidden, hidden, 2)
        self.update = mlp(3 * hidden, hidden, hidden, 2)

    def forward(self, h, time, pair_features, lattice, pairs, atoms):
        x = self.norm(h)
        source, target = pairs
        # The message MLP's first layer acts on [x_target, x_source, pair, lattice]; applying
        # its weight blocks to atoms and cells before gathering onto pairs gives the same
        # numbers at a fraction of the cost (pairs outnumber atoms ~10:1).
        first, activation, second = self.message
        hidden = x.shape[1]
        w = first.weight
        w_target, w_source = w[:, :hidden], w[:, hidden : 2 * hidden]
        w_pair, w_lattice = w[:, 2 * hidden : -6], w[:, -6:]
        per_target = x @ w_target.T + lattice @ w_lattice.T + first.bias
        pre = per_target[target] + (x @ w_source.T)[source] + pair_features @ w_pair.T
        messages = second(activation(pre))
        pooled = scatter(messages, target, dim=0, dim_size=len(h), reduce="mean")
        return h + self.update(torch.cat([x, pooled, time], 1))


class CoordinateFlow(nn.Module):
    """Velocity field v(f, t | elements, lattice) in fractional units per unit time."""

    def __init__(self, config: CoordinateFlowConfig, num_elements: int):
        super().__init__()
        self.config = config
        hidden = config.hidden
        self.element = nn.Embedding(num_elements, hidden)
        self.time = mlp(32, hidden, hidden, 2)
        self.register_buffer(
            "frequencies", 2 * torch.pi * torch.arange(1, config.frequencies + 1).float()
        )
        pair_features = 6 * config.frequencies
        self.layers = nn.ModuleList(
            PairLayer(hidden, pair_features) for _ in range(config.num_layers)
        )
        self.out = nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, 3))

    def forward(self, frac, t, species, lattice, num_atoms, atoms, pairs) -> torch.Tensor:
        """``frac`` (N, 3), ``t`` (B,), ``species`` (N,) vocabulary indices, ``lattice``
        (B, 6) invariants, ``atoms`` (N,) cell of each atom, ``pairs`` from :func:`cell_pairs`."""
        time = self.time(sinusoidal(t))[atoms]
        h = self.element(species) + time
        source, target = pairs
        delta = (frac[source] - frac[target])[..., None] * self.frequencies  # (E, 3, K)
        features = torch.cat([delta.sin(), delta.cos()], 2).flatten(1)
        atom_lattice = lattice[atoms]
        for layer in self.layers:
            h = layer(h, time, features, atom_lattice, pairs, atoms)
        return remove_cell_mean(self.out(h), atoms, len(num_atoms))


def remove_cell_mean(vectors: torch.Tensor, atoms: torch.Tensor, cells: int) -> torch.Tensor:
    """``vectors`` (N, 3) minus their mean over each cell (a common shift is no change)."""
    return vectors - scatter(vectors, atoms, dim=0, dim_size=cells, reduce="mean")[atoms]


# path(noise, crystal) -> (start, displacement), both (N, 3) fractional
Path = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def free_path(noise: torch.Tensor, end: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each atom from its noise position along the shortest torus geodesic to ``end``."""
    return noise, wrap(end - noise)


def flow_matching_loss(
    model: CoordinateFlow, frac, species, lattice, num_atoms, generator=None,
    path: Path = free_path,
) -> torch.Tensor:  # fmt: skip
    """Mean squared velocity error (fractional units) on one batch of crystals, each
    on the straight path from noise that ``path`` gives (default: the free geodesic)."""
    atoms = torch.repeat_interleave(torch.arange(len(num_atoms), device=frac.device), num_atoms)
    noise = torch.rand(frac.shape, generator=generator, device=frac.device)
    t = torch.rand(len(num_atoms), generator=generator, device=frac.device)
    start, direction = path(noise, frac)
    noisy = (start + t[atoms, None] * direction) % 1.0
    target = remove_cell_mean(direction, atoms, len(num_atoms))
    predicted = model(noisy, t, species, lattice, num_atoms, atoms, cell_pairs(num_atoms))
    return ((predicted - target) ** 2).sum(1).mean()


@torch.inference_mode()
def integrate(
    model: CoordinateFlow,
    species: torch.Tensor,
    lattice: torch.Tensor,
    num_atoms: torch.Tensor,
    steps: int,
    anneal_slope: float | torch.Tensor = 0.0,
    generator: torch.Generator | None = None,
    constrain: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Fractional coordinates (N, 3) in [0, 1) after ``steps`` Euler steps from uniform
    noise; ``anneal_slope`` s, one for all cells or (B,) one per cell, scales the
    velocity by 1 + s·t (sharper late steps).
    ``constrain`` (e.g. a space-group template's) is applied to the noise and after
    every step, so the path stays on the configurations it allows."""
    constrain = constrain or (lambda frac: frac)
    device = lattice.device
    atoms = torch.repeat_interleave(torch.arange(len(num_atoms), device=device), num_atoms)
    pairs = cell_pairs(num_atoms)
    slope = torch.as_tensor(anneal_slope, dtype=lattice.dtype, device=device)
    slope = slope[atoms, None] if slope.dim() else slope
    frac = constrain(torch.rand((len(species), 3), generator=generator, device=device))
    dt = 1.0 / steps
    for k in range(steps):
        t = torch.full((len(num_atoms),), k * dt, device=device)
        velocity = model(frac, t, species, lattice, num_atoms, atoms, pairs)
        frac = constrain((frac + dt * (1 + slope * k * dt) * velocity) % 1.0)
    return frac
