"""Coordinate-flow training paths that keep a crystal's own space group.

Sampling decodes most cells inside a space-group template (:mod:`gendesign.model.crystalflow.spacegroup_templates`):
the noise is made symmetric and every Euler step is followed by :func:`constrain`.
A flow trained only on free paths (uniform noise, each atom on its own geodesic)
never sees such states. Here a training crystal can take its own template's path
instead: symmetric noise f₀ = constrain(u) and, per orbit, one displacement d_r
along the free directions of its representative's Wyckoff position, carried to
every atom of the orbit by that atom's operation (d_j = R_j d_r). Every
f_t = f₀ + t·d then has the template's symmetry and f₁ is the crystal. The
velocity target is d, as on a free path; a cell without a template is the
identity template, whose path is the usual shortest geodesic.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from pymatgen.core import Structure

from gendesign.data.arrays import CrystalArrays
from gendesign.data.crystal_set import CrystalSet
from gendesign.model.crystalflow.spacegroup_templates import (
    BatchSymmetry,
    SymmetryTemplate,
    along_free_directions,
    constrain,
    template_and_cell,
)


@dataclass
class TemplatedCrystals:
    """Training crystals in the cells their templates describe (spglib's idealised,
    Niggli-reduced primitive cell, atoms in template order), aligned with the source
    crystals; a crystal spglib gives no template keeps its own cell and ``None``."""

    arrays: CrystalArrays
    templates: list[SymmetryTemplate | None]

    @classmethod
    def of(cls, arrays: CrystalArrays) -> TemplatedCrystals:
        crystals = arrays.to_crystal_set()
        structures: list[Structure] = []
        templates: list[SymmetryTemplate | None] = []
        for structure in crystals.structures:
            found = template_and_cell(structure)
            templates.append(found[0] if found else None)
            structures.append(found[1] if found else structure)
        cells = CrystalSet(crystals.ids, structures, crystals.properties)
        return cls(CrystalArrays.from_crystal_set(cells, arrays.property_names), templates)

    @property
    def share_with_template(self) -> float:
        return sum(t is not None for t in self.templates) / max(1, len(self.templates))


class SymmetricPath:
    """``path(noise, end) -> (start, displacement)`` for :func:`flow_matching_loss`:
    the noise made symmetric and the orbit-shared displacement to ``end`` (N, 3)."""

    def __init__(self, symmetry: BatchSymmetry):
        self.symmetry = symmetry

    def __call__(self, noise: torch.Tensor, end: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        start = constrain(noise, self.symmetry)
        return start, symmetric_displacement(start, end, self.symmetry).to(end.dtype)


def symmetric_displacement(
    start: torch.Tensor, end: torch.Tensor, symmetry: BatchSymmetry
) -> torch.Tensor:
    """(N, 3) fractional displacement from ``start`` to ``end`` (both with the batch's
    symmetry): each orbit's shortest offset along its Wyckoff position's free
    directions, d_r, and for each atom its image R_j d_r."""
    rep = symmetry.representative
    offset = end.double()[rep] - start.double()[rep]  # the representative's, per atom
    along = along_free_directions(offset, symmetry.projector)
    return torch.einsum("nij,nj->ni", symmetry.rotation, along)
