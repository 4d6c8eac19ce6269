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
from pymatgen.core import Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer


def symmetrise(
    structure: Structure,
    symprec: float = 0.1,
    min_distance: float = 0.5,
    atoms: tuple[int, int] = (1, 10**6),
) -> Structure | None:
    """The symmetrised structure, or None when no acceptable one exists."""
    try:
        analyzer = SpacegroupAnalyzer(structure, symprec=symprec)
        if analyzer.get_space_group_number() == 1:
            return None
        candidates = [analyzer.find_primitive(), analyzer.get_refined_structure()]
    except Exception:  # spglib gives up on some distorted cells: keep the raw one
        return None
    for candidate in candidates:
        if candidate is None or not atoms[0] <= len(candidate) <= atoms[1]:
            continue
        candidate = candidate.get_reduced_structure()
        if closest_pair(candidate) < min_distance:
            continue
        return Structure(candidate.lattice, candidate.species, candidate.frac_coords % 1.0)
    return None


def closest_pair(structure: Structure) -> float:
    """Shortest interatomic distance (Å, periodic images included; inf for one atom)."""
    if len(structure) < 2:
        return float("inf")
    return float(structure.distance_matrix[np.triu_indices(len(structure), 1)].min())
