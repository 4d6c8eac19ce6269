"""Snapping a generated crystal onto the space group it nearly has.

A decoder's raw positions are a little off any symmetric arrangement, so spglib
at a tight tolerance sees P1. Here the structure is replaced by spglib's
idealised standard primitive cell (or, when that changes the atom count beyond
what the constraints allow, its conventional refined cell) found at ``symprec``
Å, reduced to the Niggli cell, and kept only when no two atoms are closer than
``min_distance`` Å. Whoever calls it keeps the raw structure too, so raw and
symmetrised figures can be reported apart.
"""

from __future__ import annotations

import numpy as np
import spglib
from pymatgen.core import Structure

ANGLE_TOLERANCE = 5.0  # degrees, as pymatgen's SpacegroupAnalyzer


def symmetrise(
    structure: Structure,
    symprec: float = 0.1,
    min_distance: float = 0.5,
    atoms: tuple[int, int] = (1, 10**6),
) -> Structure | None:
    """The symmetrised structure, or None when no acceptable one exists.

    spglib is called directly, at most three times (space group, standard primitive, and
    the conventional cell only when the primitive one is refused): each search costs
    milliseconds, and a sampler snaps every crystal it draws."""
    species = sorted(set(structure.species), key=str)
    index = {element: k for k, element in enumerate(species)}
    cell = (
        structure.lattice.matrix,
        structure.frac_coords,
        [index[element] for element in structure.species],
    )
    settings = {"symprec": symprec, "angle_tolerance": ANGLE_TOLERANCE}
    try:
        dataset = spglib.get_symmetry_dataset(cell, **settings)
        if dataset is None or dataset.number == 1:
            return None
        for to_primitive in (True, False):
            standard = spglib.standardize_cell(cell, to_primitive=to_primitive, **settings)
            accepted = _acceptable(standard, species, min_distance, atoms)
            if accepted is not None:
                return accepted
    except Exception:  # spglib gives up on some distorted cells: keep the raw one
        return None
    return None


def _acceptable(
    standard, species: list, min_distance: float, atoms: tuple[int, int]
) -> Structure | None:
    """spglib's standard cell as a Niggli-reduced structure, if it meets the limits."""
    if standard is None:
        return None
    lattice, frac, numbers = standard
    if not atoms[0] <= len(numbers) <= atoms[1]:
        return None
    candidate = Structure(lattice, [species[n] for n in numbers], frac).get_reduced_structure()
    if closest_pair(candidate) < min_distance:
        return None
    return Structure(candidate.lattice, candidate.species, candidate.frac_coords % 1.0)


def closest_pair(structure: Structure) -> float:
    """Shortest interatomic distance (Å, periodic images included; inf for one atom)."""
    if len(structure) < 2:
        return float("inf")
    return float(structure.distance_matrix[np.triu_indices(len(structure), 1)].min())
