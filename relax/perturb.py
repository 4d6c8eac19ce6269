"""Displaced copies of crystals, for checking that a relaxation finds its way back."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pymatgen.core import Structure


def rattle_and_strain(
    structures: Sequence[Structure], sigma: float = 0.1, strain: float = 0.05, seed: int = 0
) -> list[Structure]:
    """Copies with every Cartesian coordinate moved by a normal draw of std ``sigma`` (Å)
    and the lattice stretched by ``strain`` (0.05: every length +5 %)."""
    rng = np.random.default_rng(seed)
    moved = []
    for structure in structures:
        shaken = Structure(
            structure.lattice,
            structure.species,
            structure.cart_coords + rng.normal(0, sigma, (len(structure), 3)),
            coords_are_cartesian=True,
        )
        shaken.apply_strain(strain)
        moved.append(shaken)
    return moved
