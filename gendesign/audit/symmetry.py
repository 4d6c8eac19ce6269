"""Space group of a structure by spglib, at the tolerances the audit reports."""

from __future__ import annotations

import os

# spglib prints C-level warnings to stderr for cells it cannot symmetrise; we report those as
# "no space group" instead.
os.environ.setdefault("SPGLIB_WARNING", "OFF")
import numpy as np  # noqa: E402
import spglib  # noqa: E402
from pymatgen.core import Structure  # noqa: E402

# Loose and tight symmetry tolerances (Å), as reported per structure.
SYMPRECS = (0.1, 0.01)

# Last space-group number of each crystal system (International Tables order).
_CRYSTAL_SYSTEMS = (
    (2, "triclinic"),
    (15, "monoclinic"),
    (74, "orthorhombic"),
    (142, "tetragonal"),
    (167, "trigonal"),
    (194, "hexagonal"),
    (230, "cubic"),
)


def crystal_system(space_group_number: int) -> str:
    """Crystal system of a space group number (1–230)."""
    for last, name in _CRYSTAL_SYSTEMS:
        if space_group_number <= last:
            return name
    raise ValueError(f"space group number {space_group_number} is outside 1-230")


def _symmetry_dataset(structure: Structure, symprec: float) -> spglib.SpglibDataset | None:
    cell = (
        structure.lattice.matrix,
        structure.frac_coords,
        [site.specie.Z for site in structure],
    )
    return spglib.get_symmetry_dataset(cell, symprec=symprec)


def space_group(structure: Structure, symprec: float) -> tuple[int, str] | None:
    """(number, Hermann–Mauguin symbol) at ``symprec`` Å, or None when spglib finds none."""
    dataset = _symmetry_dataset(structure, symprec)
    if dataset is None:
        return None
    return int(dataset.number), str(dataset.international)


def equivalent_atoms(structure: Structure, symprec: float) -> np.ndarray:
    """For each site, the index of a symmetry-equivalent representative site, shape (n,).

    Sites map to themselves when spglib finds no symmetry (every site its own orbit).
    """
    try:
        dataset = _symmetry_dataset(structure, symprec)
    except Exception:  # spglib rejects some degenerate cells outright
        dataset = None
    if dataset is None:
        return np.arange(len(structure))
    return np.asarray(dataset.equivalent_atoms, dtype=np.int64)


def symmetry_columns(structure: Structure) -> dict[str, object]:
    """Per-structure symmetry columns: ``spacegroup_<tol>``, ``spacegroup_symbol_<tol>``
    for each tolerance and the crystal system at the loosest one."""
    row: dict[str, object] = {}
    for symprec in SYMPRECS:
        found = space_group(structure, symprec)
        row[f"spacegroup_{symprec:g}"] = found[0] if found else None
        row[f"spacegroup_symbol_{symprec:g}"] = found[1] if found else None
    loose = row[f"spacegroup_{SYMPRECS[0]:g}"]
    row["crystal_system"] = crystal_system(loose) if loose else None
    return row
