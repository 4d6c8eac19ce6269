"""Lattice conversions in torch (batched, differentiable).

Lattice matrices hold the lattice vectors as rows, in Å. Angles are in degrees.
``matrix_from_params`` follows pymatgen's ``Lattice.from_parameters`` orientation
(c along z), so a canonical lattice built here equals pymatgen's.
"""

from __future__ import annotations

import torch


def params_from_matrix(matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(..., 3, 3) lattice rows -> lengths (..., 3) in Å and angles alpha, beta, gamma in degrees."""
    lengths = matrix.norm(dim=-1)
    a, b, c = matrix.unbind(dim=-2)
    la, lb, lc = lengths.unbind(dim=-1)

    def angle(u: torch.Tensor, v: torch.Tensor, nu: torch.Tensor, nv: torch.Tensor) -> torch.Tensor:
        cosine = (u * v).sum(-1) / (nu * nv)
        return torch.rad2deg(torch.arccos(cosine.clamp(-1.0, 1.0)))

    angles = torch.stack([angle(b, c, lb, lc), angle(a, c, la, lc), angle(a, b, la, lb)], dim=-1)
    return lengths, angles


def matrix_from_params(lengths: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Lengths (..., 3) Å and angles (..., 3) degrees -> (..., 3, 3) lattice rows."""
    alpha, beta, gamma = torch.deg2rad(angles).unbind(dim=-1)
    cos_a, cos_b, cos_g = alpha.cos(), beta.cos(), gamma.cos()
    sin_a, sin_b = alpha.sin(), beta.sin()
    # Angle between b* and c* (reciprocal gamma*), clamped for round-off.
    cos_gstar = ((cos_a * cos_b - cos_g) / (sin_a * sin_b)).clamp(-1.0, 1.0)
    sin_gstar = torch.sqrt(1.0 - cos_gstar**2)
    a, b, c = lengths.unbind(dim=-1)
    zero = torch.zeros_like(a)
    vec_a = torch.stack([a * sin_b, zero, a * cos_b], dim=-1)
    vec_b = torch.stack([-b * sin_a * cos_gstar, b * sin_a * sin_gstar, b * cos_a], dim=-1)
    vec_c = torch.stack([zero, zero, c], dim=-1)
    return torch.stack([vec_a, vec_b, vec_c], dim=-2)


def volume(matrix: torch.Tensor) -> torch.Tensor:
    """Cell volume in Å³ (absolute value of the determinant)."""
    return torch.linalg.det(matrix).abs()


def cell_angles(angles: torch.Tensor, min_volume_factor: float = 0.05) -> torch.Tensor:
    """Angles (B, 3) in degrees, clamped to 30°–150° and, where the three cannot span a
    cell with volume (the factor √(1 − Σcos² + 2Πcos) below ``min_volume_factor``),
    moved toward 90° until they can."""
    angles = angles.clamp(30.0, 150.0)
    for _ in range(8):
        cos = torch.cos(torch.deg2rad(angles))
        factor = 1 - (cos**2).sum(1) + 2 * cos.prod(1)
        flat = factor < min_volume_factor**2
        if not flat.any():
            break
        angles = torch.where(flat[:, None], 90.0 + 0.5 * (angles - 90.0), angles)
    return angles
