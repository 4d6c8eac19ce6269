"""Checks that a structure is usable before it enters the pipeline.

Each check raises :class:`StructureError` with a one-sentence reason. Readers
call :func:`check_structure` on everything they load.
"""

from __future__ import annotations

import numpy as np
from pymatgen.core import DummySpecies, Element, Species, Structure

from gendesign.errors import StructureError

# Below this volume (Å³) a cell is treated as degenerate (collinear/coplanar vectors).
MIN_CELL_VOLUME_A3 = 0.1
# Beyond these a cell is no bulk crystal (a molecule or a slab in vacuum, or a unit error),
# and a periodic neighbour list of it would need more memory than any machine has.
MAX_CELL_LENGTH_A = 500.0
MAX_VOLUME_PER_ATOM_A3 = 1000.0  # bulk crystals hold 5-100 Å³ per atom
# A single species at this occupancy or more is a rounding artefact of database exports
# (0.999 for 1), read as a fully occupied site.
NEAR_FULL_OCCUPANCY = 0.99


def check_geometry(lattice_matrix: np.ndarray, coords: np.ndarray) -> None:
    """Raise StructureError unless the lattice (rows, Å) and coordinates (fractional or
    Cartesian) are finite and the cell has volume; run it before building a Structure
    too, since pymatgen cannot build one from a singular cell."""
    if not np.all(np.isfinite(lattice_matrix)):
        raise StructureError(
            "the lattice has NaN or infinite entries (degenerate cell parameters?)"
        )
    if not np.all(np.isfinite(coords)):
        bad = int(np.argwhere(~np.isfinite(coords))[0, 0])
        raise StructureError(f"site {bad} has NaN or infinite coordinates")
    with np.errstate(over="ignore", invalid="ignore"):  # huge entries: named below
        volume = abs(float(np.linalg.det(lattice_matrix)))
        longest = float(np.linalg.norm(lattice_matrix, axis=1).max())
    if volume < MIN_CELL_VOLUME_A3:
        raise StructureError(
            f"the lattice is degenerate (cell volume {volume:.3g} Å³ < {MIN_CELL_VOLUME_A3} Å³)"
        )
    if longest > MAX_CELL_LENGTH_A:
        raise StructureError(
            f"a cell vector is {longest:.3g} Å long, beyond the {MAX_CELL_LENGTH_A:g} Å of a "
            "bulk crystal cell (a molecule or slab in vacuum, or lengths in the wrong unit?)"
        )
    per_atom = volume / max(len(coords), 1)
    if per_atom > MAX_VOLUME_PER_ATOM_A3:
        raise StructureError(
            f"the cell holds {per_atom:.3g} Å³ per atom, beyond the {MAX_VOLUME_PER_ATOM_A3:g} "
            "Å³ of a bulk crystal (mostly vacuum, or lengths in the wrong unit?)"
        )


def check_structure(structure: Structure) -> Structure:
    """Return ``structure`` if it is usable (with near-full sites made full, see
    :func:`fill_near_full_sites`), else raise StructureError."""
    structure = fill_near_full_sites(structure)
    if len(structure) == 0:
        raise StructureError("the structure has no atoms")
    check_geometry(structure.lattice.matrix, structure.frac_coords)
    for index, site in enumerate(structure):
        if not site.is_ordered:
            raise StructureError(
                f"site {index} is disordered or partially occupied ({site.species.formula}); "
                "only ordered structures are supported"
            )
        specie = site.specie
        if isinstance(specie, DummySpecies) or not isinstance(specie, Element | Species):
            raise StructureError(f"site {index} has unknown element symbol {specie.symbol!r}")
    return structure


def fill_near_full_sites(structure: Structure) -> Structure:
    """``structure`` with each site that holds one species at an occupancy of at least
    ``NEAR_FULL_OCCUPANCY`` made fully occupied, and a note of it in
    ``structure.properties["read_note"]``; the structure itself when there is none."""
    near = [
        index
        for index, site in enumerate(structure)
        if not site.is_ordered
        and len(site.species) == 1
        and NEAR_FULL_OCCUPANCY <= site.species.num_atoms <= 1
    ]
    if not near:
        return structure
    lowest = min(structure[index].species.num_atoms for index in near)
    structure = structure.copy()
    for index in near:
        (specie,) = structure[index].species
        structure.replace(index, specie)
    structure.properties["read_note"] = (
        f"{len(near)} site(s) with occupancies from {lowest:g} to 1 read as fully occupied"
    )
    return structure


def strip_oxidation_states(structure: Structure) -> Structure:
    """Plain elements on every site (readers keep charges out of the pipeline)."""
    if any(not isinstance(site.specie, Element) for site in structure):
        structure = structure.copy()
        structure.remove_oxidation_states()
    return structure


NOT_AUDITED = "not audited"  # the reason's start for a readable structure left out


def too_many_atoms(atoms: int, limit: int) -> str:
    """Why a cell is declined: one sentence naming its size, the limit and how to raise it."""
    return (
        f"{NOT_AUDITED}: {atoms:,} atoms, more than the limit of {limit:,} "
        "(raise it with --max-atoms, audit option max_atoms)"
    )
