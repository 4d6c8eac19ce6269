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
    volume = abs(float(np.linalg.det(lattice_matrix)))
    if volume < MIN_CELL_VOLUME_A3:
        raise StructureError(
            f"the lattice is degenerate (cell volume {volume:.3g} Å³ < {MIN_CELL_VOLUME_A3} Å³)"
        )


def check_structure(structure: Structure) -> Structure:
    """Return ``structure`` unchanged if it is usable, else raise StructureError."""
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


def strip_oxidation_states(structure: Structure) -> Structure:
    """Plain elements on every site (readers keep charges out of the pipeline)."""
    if any(not isinstance(site.specie, Element) for site in structure):
        structure = structure.copy()
        structure.remove_oxidation_states()
    return structure
