"""Noise levels and periodic coordinate noise for denoising score matching.

Coordinates are noised in Cartesian space (σ in Å) and wrapped back into the
cell; the clean-minus-noisy displacement is taken to the nearest periodic image,
so the score target is the shortest way home.
"""

from __future__ import annotations

import math

import torch


def geometric_levels(begin: float, end: float, num: int) -> torch.Tensor:
    """``num`` values from ``begin`` down to ``end``, evenly spaced in log."""
    return torch.exp(torch.linspace(math.log(begin), math.log(end), num))


def to_cartesian(frac: torch.Tensor, lattice: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
    """Fractional (N, 3) → Cartesian Å with per-crystal ``lattice`` rows (B, 3, 3)."""
    return torch.einsum("ni,nij->nj", frac, lattice[batch])


def to_fractional(cart: torch.Tensor, lattice: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
    """Cartesian Å (N, 3) → fractional, not wrapped."""
    return torch.einsum("ni,nij->nj", cart, torch.linalg.inv(lattice)[batch])


def add_coordinate_noise(
    frac: torch.Tensor,
    lattice: torch.Tensor,
    batch: torch.Tensor,
    sigma_per_atom: torch.Tensor,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy fractional coordinates (wrapped to [0, 1)) and the Cartesian displacement
    (Å) from each noisy atom back to its clean position, nearest image."""
    noise = torch.randn(frac.shape, generator=generator, device=frac.device, dtype=frac.dtype)
    noisy = (frac + to_fractional(noise * sigma_per_atom[:, None], lattice, batch)) % 1.0
    return noisy, minimum_image_displacement(noisy, frac, lattice, batch)


def minimum_image_displacement(
    start: torch.Tensor, end: torch.Tensor, lattice: torch.Tensor, batch: torch.Tensor
) -> torch.Tensor:
    """Cartesian vector (Å) from fractional ``start`` to the nearest image of ``end``.

    Rounding the fractional difference is exact for the near-orthogonal cells that
    Niggli reduction gives and a close approximation for skewed ones.
    """
    shift = end - start
    shift = shift - torch.round(shift)
    return to_cartesian(shift, lattice, batch)
