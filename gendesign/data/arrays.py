"""Columnar tensors for many crystals, and the per-crystal ``CrystalGraph``.

``CrystalArrays`` is what the dataset cache stores and what models iterate
over: atoms of all crystals concatenated, with ``num_atoms`` giving each
crystal's share. Indexing it yields a ``CrystalGraph`` (a torch-geometric
``Data``) so the PyG ``DataLoader`` batches it directly. Edges are not stored:
every model builds them on the fly with :mod:`gendesign.graphs.neighbors`,
which keeps them differentiable with respect to positions and lattice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from pymatgen.core import Lattice, Structure
from torch_geometric.data import Data

from gendesign.data.crystal_set import CrystalSet
from gendesign.data.lattice import params_from_matrix


class CrystalGraph(Data):
    """One crystal as a PyG ``Data``; batches concatenate atoms and stack crystals.

    Per atom:    ``frac_coords`` (n, 3) fractional, ``atom_types`` (n,) atomic numbers.
    Per crystal: ``lattice`` (1, 3, 3) rows in Å, ``lengths`` (1, 3) Å, ``angles`` (1, 3) degrees,
                 ``num_atoms`` (1,), ``y`` (1, P) property values (NaN where missing),
                 ``y_mask`` (1, P) True where a value is present, ``material_id`` (str).
    """

    @property
    def cart_coords(self) -> torch.Tensor:
        """Cartesian positions in Å (for a batch as well: uses ``batch`` when present)."""
        return cartesian_coords(self.frac_coords, self.lattice, getattr(self, "batch", None))


def cartesian_coords(
    frac_coords: torch.Tensor, lattice: torch.Tensor, batch: torch.Tensor | None = None
) -> torch.Tensor:
    """Fractional (N, 3) -> Cartesian (N, 3) Å, with ``lattice`` (B, 3, 3) and ``batch`` (N,)."""
    if batch is None:
        batch = torch.zeros(len(frac_coords), dtype=torch.long, device=frac_coords.device)
    return torch.einsum("ni,nij->nj", frac_coords, lattice[batch])


@dataclass
class CrystalArrays:
    """Many crystals as flat tensors (float64 geometry, atomic numbers as types)."""

    ids: list[str]
    num_atoms: torch.Tensor  # (M,) long
    atom_types: torch.Tensor  # (N,) long, atomic numbers
    frac_coords: torch.Tensor  # (N, 3) float64
    lattice: torch.Tensor  # (M, 3, 3) float64, rows in Å
    properties: torch.Tensor  # (M, P) float64, NaN = missing
    property_names: list[str]

    def __post_init__(self) -> None:
        self.offsets = torch.cat([torch.zeros(1, dtype=torch.long), self.num_atoms.cumsum(0)])
        self.lengths, self.angles = params_from_matrix(self.lattice)

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_crystal_set(
        cls, crystals: CrystalSet, property_names: Sequence[str] | None = None
    ) -> CrystalArrays:
        """Pack a CrystalSet; ``property_names`` selects and orders the property columns."""
        names = list(crystals.property_names if property_names is None else property_names)
        table = crystals.properties.reindex(columns=names)
        structures = crystals.structures
        num_atoms = torch.tensor([len(s) for s in structures], dtype=torch.long)
        if structures:
            types = np.concatenate([s.atomic_numbers for s in structures])
            frac = np.concatenate([s.frac_coords for s in structures])
            matrices = np.stack([s.lattice.matrix for s in structures])
        else:
            types, frac, matrices = np.zeros(0), np.zeros((0, 3)), np.zeros((0, 3, 3))
        return cls(
            ids=list(crystals.ids),
            num_atoms=num_atoms,
            atom_types=torch.as_tensor(types, dtype=torch.long),
            frac_coords=torch.as_tensor(frac, dtype=torch.float64),
            lattice=torch.as_tensor(matrices, dtype=torch.float64),
            properties=torch.as_tensor(
                table.to_numpy(dtype=float, copy=True), dtype=torch.float64
            ).reshape(len(structures), len(names)),
            property_names=names,
        )

    def state_dict(self) -> dict:
        return {
            "ids": self.ids,
            "num_atoms": self.num_atoms,
            "atom_types": self.atom_types,
            "frac_coords": self.frac_coords,
            "lattice": self.lattice,
            "properties": self.properties,
            "property_names": self.property_names,
        }

    @classmethod
    def from_state_dict(cls, state: dict) -> CrystalArrays:
        return cls(**state)

    # ------------------------------------------------------------------ access

    def __len__(self) -> int:
        return len(self.ids)

    def atom_slice(self, index: int) -> slice:
        return slice(int(self.offsets[index]), int(self.offsets[index + 1]))

    def __getitem__(self, index: int) -> CrystalGraph:
        """The crystal at ``index`` as a float32 CrystalGraph (PyG Dataset protocol)."""
        atoms = self.atom_slice(index)
        y = self.properties[index : index + 1].to(torch.float32)
        return CrystalGraph(
            frac_coords=self.frac_coords[atoms].to(torch.float32),
            atom_types=self.atom_types[atoms],
            lattice=self.lattice[index : index + 1].to(torch.float32),
            lengths=self.lengths[index : index + 1].to(torch.float32),
            angles=self.angles[index : index + 1].to(torch.float32),
            num_atoms=self.num_atoms[index : index + 1],
            y=y,
            y_mask=torch.isfinite(y),
            material_id=self.ids[index],
            num_nodes=int(self.num_atoms[index]),
        )

    def structure(self, index: int) -> Structure:
        atoms = self.atom_slice(index)
        return Structure(
            Lattice(self.lattice[index].numpy()),
            self.atom_types[atoms].tolist(),
            self.frac_coords[atoms].numpy(),
        )

    def to_crystal_set(self, source: str = "") -> CrystalSet:
        """Rebuild pymatgen Structures (the public boundary form)."""
        frame = pd.DataFrame(self.properties.numpy(), columns=self.property_names)
        structures = [self.structure(i) for i in range(len(self))]
        return CrystalSet(list(self.ids), structures, frame, source=source)

    def subset(self, indices: Sequence[int] | torch.Tensor) -> CrystalArrays:
        """The crystals at ``indices``, in that order."""
        index = torch.as_tensor(indices, dtype=torch.long).reshape(-1)
        atom_index = (
            torch.cat([torch.arange(self.offsets[i], self.offsets[i + 1]) for i in index.tolist()])
            if len(index)
            else torch.zeros(0, dtype=torch.long)
        )
        return CrystalArrays(
            ids=[self.ids[i] for i in index.tolist()],
            num_atoms=self.num_atoms[index],
            atom_types=self.atom_types[atom_index],
            frac_coords=self.frac_coords[atom_index],
            lattice=self.lattice[index],
            properties=self.properties[index],
            property_names=list(self.property_names),
        )

    def lattice_params(self) -> torch.Tensor:
        """(M, 6): lengths a, b, c in Å then angles alpha, beta, gamma in degrees."""
        return torch.cat([self.lengths, self.angles], dim=1)
