"""Geometric sanity: the lattice and the smallest periodic interatomic distance."""

from __future__ import annotations

from pymatgen.core import Structure

from gendesign.data.validation import check_geometry
from gendesign.errors import StructureError

# CDVAE's structural-validity rule: no two atoms closer than this (Å).
MIN_INTERATOMIC_DISTANCE_A = 0.5
# Cell angles this close to 0° or 180° describe a collapsed cell (degrees).
MIN_CELL_ANGLE_DEG = 1.0
_FIRST_SEARCH_RADIUS_A = 3.0


def lattice_problem(structure: Structure) -> str:
    """Why the lattice is not sane (one sentence), or "" when it is."""
    lattice = structure.lattice
    try:  # finite entries and a cell volume, as every reader requires
        check_geometry(lattice.matrix, structure.frac_coords)
    except StructureError as err:
        return err.reason
    for name, length in zip("abc", lattice.abc, strict=True):
        if not length > 0:
            return f"lattice length {name} = {length:.3g} Å is not positive"
    alpha, beta, gamma = lattice.angles
    for name, angle in zip(("alpha", "beta", "gamma"), (alpha, beta, gamma), strict=True):
        if not MIN_CELL_ANGLE_DEG <= angle <= 180.0 - MIN_CELL_ANGLE_DEG:
            return f"lattice angle {name} = {angle:.3g}° is degenerate"
    return ""


def min_periodic_distance(structure: Structure) -> float:
    """Smallest distance (Å) between any two atoms, periodic images included.

    An atom's own images count too (a lattice vector shorter than the rule is
    as unphysical as two overlapping atoms); CDVAE compared distinct sites only.
    """
    shortest_lattice_vector = min(structure.lattice.abc)
    # Searching up to the shortest lattice vector always finds at least a self-image.
    radius = min(_FIRST_SEARCH_RADIUS_A, shortest_lattice_vector + 1e-6)
    _, _, _, distances = structure.get_neighbor_list(radius)
    distances = distances[distances > 1e-8] if len(distances) else distances
    if len(distances) == 0:
        return float(shortest_lattice_vector)
    return float(min(distances.min(), shortest_lattice_vector))
