"""Steering latents toward property targets (CDVAE's latent optimisation).

Starting latents (random draws from the prior, or encodings of seed crystals)
take Adam steps on the property head's distance to each target range, in
standardised units, plus a small pull toward the prior so that they stay where
the decoder has learned to build crystals. Works for any generator with a latent
property head (:class:`LatentPropertyModel`).
"""

from __future__ import annotations

from typing import Protocol

import torch

from gendesign.ranges import Range


class LatentPropertyModel(Protocol):
    property_names: list[str]
    property_mean: torch.Tensor
    property_std: torch.Tensor

    def property_values(self, z: torch.Tensor) -> torch.Tensor: ...


def range_penalty(values: torch.Tensor, bounds: list[Range]) -> torch.Tensor:
    """(B,) summed distance of each column of ``values`` (B, P) outside its range."""
    penalty = values.new_zeros(len(values))
    for k, bound in enumerate(bounds):
        if bound.min is not None:
            penalty = penalty + torch.relu(bound.min - values[:, k])
        if bound.max is not None:
            penalty = penalty + torch.relu(values[:, k] - bound.max)
    return penalty


def steer_latents(
    model: LatentPropertyModel,
    z: torch.Tensor,
    targets: dict[str, Range],
    steps: int = 300,
    learning_rate: float = 1e-2,
    prior_weight: float = 1e-3,
) -> torch.Tensor:
    """``z`` (B, latent_dim) moved so that the property head lands in ``targets``
    (property -> (low, high) in physical units)."""
    if not targets:
        return z
    columns = [model.property_names.index(name) for name in targets]
    mean, std = model.property_mean[columns], model.property_std[columns]
    bounds = [
        target.scaled(float(mean[k]), float(std[k])) for k, target in enumerate(targets.values())
    ]
    z = z.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=learning_rate)
    with torch.enable_grad():
        for _ in range(steps):
            optimizer.zero_grad()
            values = model.property_values(z)[:, columns]
            loss = (range_penalty(values, bounds) + prior_weight * 0.5 * (z**2).sum(1)).sum()
            loss.backward()
            optimizer.step()
    return z.detach()


def minimise_property(
    model: LatentPropertyModel,
    z: torch.Tensor,
    name: str,
    steps: int = 5000,
    learning_rate: float = 1e-3,
) -> torch.Tensor:
    """CDVAE's optimisation protocol: Adam steps on ``z`` that lower the property head's
    prediction of ``name``."""
    column = model.property_names.index(name)
    z = z.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=learning_rate)
    with torch.enable_grad():
        for _ in range(steps):
            optimizer.zero_grad()
            model.property_values(z)[:, column].sum().backward()
            optimizer.step()
    return z.detach()
