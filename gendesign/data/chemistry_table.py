"""Position-free crystal records: integer stoichiometry, reduced lattice, properties.

The parts of a generator that decide *what* a crystal is made of and the shape
of its cell need no atom positions, so they can learn from every MP-20 crystal,
including the 27,136 train crystals whose positions are not available here.
A :class:`ChemistryTable` holds, per crystal, its elements in canonical order
(increasing Pauling electronegativity, ties by atomic number: cations before
anions, as a chemist writes a formula), their integer counts in the cell, the
Niggli-reduced lattice (Å, degrees) and its property values.

Which crystals: ``mp20`` learns from the MP-20 train split (compositions and
lattices only) plus the mp20-reduced training crystals (val minus its seeded
holdout), and keeps that same holdout for early stopping, so no holdout or test
crystal is ever trained on.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import torch
from pymatgen.core import Element, Lattice

from gendesign.data.arrays import CrystalArrays
from gendesign.data.cache import DatasetCache, cache_key
from gendesign.data.datasets import get_dataset_spec, load_dataset
from gendesign.data.fetching import data_path
from gendesign.data.lattice import params_from_matrix
from gendesign.data.readers import _read_property_json
from gendesign.data.registry import MP20_CACHE
from gendesign.errors import InputError
from gendesign.paths import resolve_cache_dir

# Where a dataset keeps crystals that have compositions and lattices but no positions.
POSITIONLESS_SOURCES = {"mp20": MP20_CACHE / "train"}


@cache
def element_order_key(atomic_number: int) -> tuple[float, int]:
    """Canonical position of an element in a formula: Pauling electronegativity (noble
    gases, which have none, last), then atomic number."""
    with warnings.catch_warnings():  # noble gases: pymatgen warns that X is NaN
        warnings.simplefilter("ignore")
        electronegativity = Element.from_Z(atomic_number).X
    return (electronegativity if math.isfinite(electronegativity) else 5.0, atomic_number)


def canonical_elements(atomic_numbers: list[int]) -> list[int]:
    """``atomic_numbers`` sorted into canonical formula order."""
    return sorted(atomic_numbers, key=element_order_key)


@dataclass
class ChemistryTable:
    """M crystals as padded arrays; element slot k of crystal i is ``elements[i, k]``
    (0 = empty) with ``counts[i, k]`` atoms, slots in canonical order."""

    ids: list[str]
    elements: np.ndarray  # (M, K) int64 atomic numbers, 0-padded
    counts: np.ndarray  # (M, K) int64 atoms per element in the cell
    lengths: np.ndarray  # (M, 3) float64, Å, Niggli-reduced cell
    angles: np.ndarray  # (M, 3) float64, degrees
    properties: np.ndarray  # (M, P) float64, NaN = missing
    property_names: list[str]

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def num_atoms(self) -> np.ndarray:
        return self.counts.sum(1)

    @property
    def num_species(self) -> np.ndarray:
        return (self.elements > 0).sum(1)

    def subset(self, index: np.ndarray | list[int]) -> ChemistryTable:
        index = np.asarray(index, dtype=np.int64)
        return ChemistryTable(
            [self.ids[i] for i in index],
            self.elements[index],
            self.counts[index],
            self.lengths[index],
            self.angles[index],
            self.properties[index],
            self.property_names,
        )

    @classmethod
    def concatenate(cls, tables: list[ChemistryTable]) -> ChemistryTable:
        width = max(t.elements.shape[1] for t in tables)

        def padded(array: np.ndarray) -> np.ndarray:
            return np.pad(array, ((0, 0), (0, width - array.shape[1])))

        return cls(
            [i for t in tables for i in t.ids],
            np.concatenate([padded(t.elements) for t in tables]),
            np.concatenate([padded(t.counts) for t in tables]),
            np.concatenate([t.lengths for t in tables]),
            np.concatenate([t.angles for t in tables]),
            np.concatenate([t.properties for t in tables]),
            tables[0].property_names,
        )

    @classmethod
    def from_atom_lists(
        cls,
        ids: list[str],
        atom_lists: list[np.ndarray],
        lengths: np.ndarray,
        angles: np.ndarray,
        properties: np.ndarray,
        property_names: list[str],
    ) -> ChemistryTable:
        """From each crystal's atomic numbers (one per atom, any order)."""
        rows = []
        for numbers in atom_lists:
            unique, amounts = np.unique(np.asarray(numbers), return_counts=True)
            amount = dict(zip(unique.tolist(), amounts.tolist(), strict=True))
            ordered = canonical_elements(list(amount))
            rows.append((ordered, [amount[z] for z in ordered]))
        width = max(len(r[0]) for r in rows)
        elements = np.zeros((len(rows), width), dtype=np.int64)
        counts = np.zeros((len(rows), width), dtype=np.int64)
        for i, (ordered, amounts) in enumerate(rows):
            elements[i, : len(ordered)] = ordered
            counts[i, : len(ordered)] = amounts
        return cls(ids, elements, counts, lengths, angles, properties, property_names)

    @classmethod
    def from_crystal_arrays(
        cls, arrays: CrystalArrays, property_names: list[str]
    ) -> ChemistryTable:
        offsets = np.concatenate([[0], np.cumsum(arrays.num_atoms.numpy())])
        types = arrays.atom_types.numpy()
        atom_lists = [types[offsets[i] : offsets[i + 1]] for i in range(len(arrays.ids))]
        lengths, angles = params_from_matrix(arrays.lattice)
        columns = [arrays.property_names.index(name) for name in property_names]
        return cls.from_atom_lists(
            list(arrays.ids),
            atom_lists,
            lengths.numpy(),
            angles.numpy(),
            arrays.properties[:, columns].numpy(),
            property_names,
        )

    def state_dict(self) -> dict:
        return {
            "ids": self.ids,
            "elements": torch.from_numpy(self.elements),
            "counts": torch.from_numpy(self.counts),
            "lengths": torch.from_numpy(self.lengths),
            "angles": torch.from_numpy(self.angles),
            "properties": torch.from_numpy(self.properties),
            "property_names": self.property_names,
        }

    @classmethod
    def from_state_dict(cls, state: dict) -> ChemistryTable:
        return cls(
            list(state["ids"]),
            state["elements"].numpy(),
            state["counts"].numpy(),
            state["lengths"].numpy(),
            state["angles"].numpy(),
            state["properties"].numpy(),
            list(state["property_names"]),
        )


def read_positionless_split(
    folder: Path, property_columns: dict[str, str], max_atoms: int | None
) -> ChemistryTable:
    """A MatterGen cache split without ``pos.npy``: compositions, Niggli-reduced lattices
    and properties (``property_columns``: our name -> file stem)."""
    required = ("num_atoms.npy", "atomic_numbers.npy", "cell.npy", "structure_id.npy")
    absent = [name for name in required if not (folder / name).exists()]
    if absent:
        raise InputError(f"{folder}: not a MatterGen cache folder (missing {', '.join(absent)})")
    num_atoms = np.load(folder / "num_atoms.npy")
    numbers = np.load(folder / "atomic_numbers.npy")
    cells = np.load(folder / "cell.npy")
    ids = [str(x) for x in np.load(folder / "structure_id.npy")]
    values = np.stack(
        [_read_property_json(folder / f"{stem}.json") for stem in property_columns.values()], 1
    )
    keep = np.arange(len(ids)) if max_atoms is None else np.flatnonzero(num_atoms <= max_atoms)
    atom_lists = np.split(numbers, np.cumsum(num_atoms)[:-1])
    lengths, angles = np.zeros((len(keep), 3)), np.zeros((len(keep), 3))
    for row, i in enumerate(keep):
        reduced = Lattice(cells[i]).get_niggli_reduced_lattice()
        lengths[row], angles[row] = reduced.abc, reduced.angles
    return ChemistryTable.from_atom_lists(
        [ids[i] for i in keep],
        [atom_lists[i] for i in keep],
        lengths,
        angles,
        values[keep],
        list(property_columns),
    )


@dataclass
class ChemistryData:
    """Train and holdout tables for the composition/lattice stage, plus where they came from."""

    train: ChemistryTable
    holdout: ChemistryTable
    positionless_crystals: int  # of train, those without positions
    dataset_hash: str


def load_chemistry_data(
    dataset: str = "mp20",
    property_names: list[str] | None = None,
    data_root: str | None = None,
    include_positionless: bool = True,
) -> ChemistryData:
    """The composition/lattice training data of ``dataset`` (cached after the first load)."""
    spec = get_dataset_spec(dataset)
    names = list(property_names if property_names is not None else spec.targets)
    prepared = load_dataset(dataset, data_root=data_root)
    prepared.require_properties(names, "properties")
    extra_folder = POSITIONLESS_SOURCES.get(dataset) if include_positionless else None
    sources = {"positions": prepared.cache_path} if prepared.cache_path else {}
    if extra_folder:
        sources["positionless"] = data_path(extra_folder, data_root)
    key = cache_key(f"{dataset}-chemistry", sources, {"properties": names, "version": 1})
    store = DatasetCache(resolve_cache_dir())
    payload = store.load(f"{dataset}-chemistry", key)
    if payload is None:
        train = ChemistryTable.from_crystal_arrays(prepared.splits["train"], names)
        holdout = ChemistryTable.from_crystal_arrays(prepared.splits["holdout"], names)
        extra = None
        if extra_folder:
            columns = {p.name: p.source_column for p in spec.properties if p.name in names}
            extra = read_positionless_split(sources["positionless"], columns, spec.max_atoms)
        payload = {
            "train": ChemistryTable.concatenate([train, extra] if extra else [train]).state_dict(),
            "holdout": holdout.state_dict(),
            "positionless": len(extra) if extra else 0,
        }
        store.save(f"{dataset}-chemistry", key, payload)
    return ChemistryData(
        ChemistryTable.from_state_dict(payload["train"]),
        ChemistryTable.from_state_dict(payload["holdout"]),
        int(payload["positionless"]),
        key,
    )
