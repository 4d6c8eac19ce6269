"""Crystals known without atom positions, matched by formula and cell.

MP-20's train split ships atomic numbers, atom counts and lattices but no
positions, so StructureMatcher cannot compare a candidate with it. A candidate
counts as one of these crystals when

- the reduced formulas agree,
- the known cell holds as many atoms as the candidate's primitive cell,
- the volumes per atom agree within ``volume_per_atom`` (relative), and
- the lattices map onto each other at equal volume (pymatgen's ``find_mapping``,
  lengths within ``length`` relative, angles within ``angle`` degrees), which is
  blind to how either cell was reduced.

Set on MP-20 val against test, where StructureMatcher's verdict on the positions is
the truth (``python -m benchmarks.novelty``; BENCHMARKS.md, "Novelty against every
known crystal"): of 1,572 same-formula pairs, this finds 137 of the 142 that
StructureMatcher matches and calls 15 % of the others a match, nearly all of them
distinct arrangements in the same cell, which no test without positions can tell
apart. A known cell holding a multiple of the candidate's atoms is not taken as a
match: among those 269 pairs StructureMatcher matched none.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
from pymatgen.core import Lattice, Structure

from gendesign.data.registry import MP20_CACHE
from gendesign.errors import InputError


@dataclass(frozen=True)
class CellTolerances:
    """How close a cell must be to count as the same crystal (see the module docstring)."""

    volume_per_atom: float = 0.10  # relative; leaves room for a relaxed cell's volume error
    length: float = 0.10  # relative, lattice vector lengths at equal volume
    angle: float = 5.0  # degrees


def cells_match(
    primitive: Structure, lattice: Lattice, n_atoms: int, tolerances: CellTolerances
) -> bool:
    """Whether a known cell (``lattice`` holding ``n_atoms`` atoms, same reduced formula)
    is the crystal whose primitive cell is ``primitive``."""
    if n_atoms != len(primitive):
        return False
    volume_per_atom = primitive.volume / len(primitive)
    if abs(lattice.volume / n_atoms / volume_per_atom - 1) > tolerances.volume_per_atom:
        return False
    scaled = lattice.scale(primitive.volume)
    found = primitive.lattice.find_mapping(scaled, ltol=tolerances.length, atol=tolerances.angle)
    return found is not None


@dataclass
class KnownCells:
    """Crystals known by formula and cell only (ids, formulas, lattices, atom counts)."""

    label: str  # e.g. "mp20:train"
    ids: list[str]
    formulas: list[str]  # reduced
    lattices: np.ndarray  # (M, 3, 3) Å, rows are lattice vectors
    n_atoms: np.ndarray  # (M,)
    tolerances: CellTolerances = field(default_factory=CellTolerances)
    _by_formula: dict[str, list[int]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        groups: dict[str, list[int]] = defaultdict(list)
        for index, formula in enumerate(self.formulas):
            groups[formula].append(index)
        self._by_formula = dict(groups)

    def __len__(self) -> int:
        return len(self.ids)

    def match(self, primitive: Structure) -> int | None:
        """The index of the first known crystal that ``primitive`` (a primitive cell) is,
        or None."""
        candidates = self._by_formula.get(primitive.composition.reduced_formula, [])
        return next(
            (
                k
                for k in candidates
                if cells_match(
                    primitive, Lattice(self.lattices[k]), int(self.n_atoms[k]), self.tolerances
                )
            ),
            None,
        )


MP20_TRAIN_CACHE = MP20_CACHE / "train"


@cache
def mattergen_cells(folder: Path, label: str) -> KnownCells:
    """The cells of a MatterGen cache split (positions not needed)."""
    from gendesign.data.readers import read_mattergen_compositions

    if not (folder / "cell.npy").exists():
        raise InputError(f"{folder}: not a MatterGen cache folder (missing cell.npy)")
    ids, compositions, _ = read_mattergen_compositions(folder)
    formulas = [composition.reduced_formula for composition in compositions]
    counts = np.array([int(round(composition.num_atoms)) for composition in compositions])
    return KnownCells(label, ids, formulas, np.load(folder / "cell.npy"), counts)
