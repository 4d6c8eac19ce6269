"""Preprocessing options and per-structure preprocessing (reduction, filtering)."""

from __future__ import annotations

from pydantic import Field
from pymatgen.core import Lattice, Structure

from gendesign.config import StrictConfig
from gendesign.data.crystal_set import CrystalSet, SkippedItem
from gendesign.errors import StructureError


class DataConfig(StrictConfig):
    """Which dataset to load and how to preprocess it."""

    dataset: str = "mp20"  # a named dataset (mp20, perov5, carbon24, mpts52, supercon)
    data_root: str | None = (
        None  # mirror folder or URL; None: GENDESIGN_DATA, ../shared/data, else fetched
    )
    cache_dir: str | None = None  # None: GENDESIGN_CACHE, then ~/.cache/gendesign
    niggli: bool = True  # Niggli-reduce every cell
    primitive: bool = False  # reduce to the primitive cell first
    canonical_lattice: bool = True  # rebuild the lattice from (a, b, c, α, β, γ), c along z
    max_atoms: int | None = Field(default=None, ge=1)  # None: the dataset's own limit
    holdout_fraction: float = Field(default=0.05, ge=0.0, lt=1.0)  # of train, for early stopping
    seed: int = 42  # holdout draw

    def content_options(self, max_atoms: int | None) -> dict:
        """The options that change the processed tensors (they key the cache)."""
        return {
            "niggli": self.niggli,
            "primitive": self.primitive,
            "canonical_lattice": self.canonical_lattice,
            "max_atoms": max_atoms,
            "holdout_fraction": self.holdout_fraction,
            "seed": self.seed,
        }


def preprocess_structure(
    structure: Structure,
    *,
    niggli: bool = True,
    primitive: bool = False,
    canonical_lattice: bool = True,
) -> Structure:
    """Reduce and canonicalise one structure (sites wrapped into [0, 1))."""
    try:
        if primitive:
            structure = structure.get_primitive_structure()
        if niggli:
            structure = structure.get_reduced_structure(reduction_algo="niggli")
    except Exception as err:  # spglib/numpy failures on pathological cells
        raise StructureError(f"cell reduction failed ({err})") from None
    if canonical_lattice:
        lattice = Lattice.from_parameters(*structure.lattice.abc, *structure.lattice.angles)
        structure = Structure(lattice, structure.species, structure.frac_coords)
    frac = structure.frac_coords % 1.0
    return Structure(structure.lattice, structure.species, frac)


def preprocess(crystals: CrystalSet, config: DataConfig, max_atoms: int | None) -> CrystalSet:
    """Apply ``config`` to every crystal; the ones dropped go to ``skipped`` with a reason."""
    kept, structures, skipped = [], [], list(crystals.skipped)
    for row, (item_id, structure) in enumerate(zip(crystals.ids, crystals.structures, strict=True)):
        try:
            reduced = preprocess_structure(
                structure,
                niggli=config.niggli,
                primitive=config.primitive,
                canonical_lattice=config.canonical_lattice,
            )
        except StructureError as err:
            skipped.append(SkippedItem(crystals.source, item_id, err.reason))
            continue
        # Checked after reduction: a primitive cell may bring a crystal under the limit.
        if max_atoms is not None and len(reduced) > max_atoms:
            reason = f"more than max_atoms={max_atoms} atoms"
            skipped.append(SkippedItem(crystals.source, item_id, reason))
            continue
        structures.append(reduced)
        kept.append(row)
    return CrystalSet(
        ids=[crystals.ids[r] for r in kept],
        structures=structures,
        properties=crystals.properties.iloc[kept],
        skipped=skipped,
        source=crystals.source,
    )
