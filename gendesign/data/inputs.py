"""Turning what the user points a command at into a CrystalSet: structures, a file or
folder, a generation run folder, or a dataset split such as ``mp20:test``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pymatgen.core import Structure

from gendesign.data.crystal_set import CrystalSet
from gendesign.data.datasets import DATASETS, PreparedDataset, load_dataset
from gendesign.data.readers import read_structures

# A generation run folder keeps its samples in this file (one extxyz frame each).
GENERATED_STRUCTURES_FILE = "structures.extxyz"

AuditInput = str | Path | CrystalSet | Sequence[Structure]


def parse_dataset_spec(text: str) -> tuple[str, str] | None:
    """``"mp20"`` → ("mp20", "test"); ``"mp20:train"`` → ("mp20", "train"); None when
    ``text`` is not a dataset name (or is an existing path)."""
    if Path(text).exists():
        return None
    name, _, split = text.partition(":")
    if name not in DATASETS:
        return None
    return name, split or "test"


def load_dataset_split(name: str, split: str, data_root: str | Path | None) -> CrystalSet:
    """One split of a named dataset (see :func:`dataset_split`)."""
    return dataset_split(load_dataset(name, data_root=data_root), split)


def dataset_split(prepared: PreparedDataset, split: str) -> CrystalSet:
    """One split as a CrystalSet; ``train`` includes the holdout (the whole published
    training split)."""
    if split == "train":
        parts = [prepared.crystal_set(s) for s in ("train", "holdout") if s in prepared.splits]
        return CrystalSet.concat(parts, source=f"{prepared.name}/train")
    return prepared.crystal_set(split)


def load_audit_input(
    source: AuditInput, data_root: str | Path | None = None, max_atoms: int | None = None
) -> CrystalSet:
    """A CrystalSet from structures, a dataset split ("mp20:test"), a generation run
    folder, or any path :func:`read_structures` reads (``max_atoms``: see there)."""
    if isinstance(source, CrystalSet):
        return source
    if isinstance(source, str | Path):
        parsed = parse_dataset_spec(str(source))
        if parsed is not None:
            return load_dataset_split(*parsed, data_root)
        path = Path(source)
        if path.is_dir() and (path / GENERATED_STRUCTURES_FILE).is_file():
            return read_structures(path / GENERATED_STRUCTURES_FILE, max_atoms)
        return read_structures(path, max_atoms)
    structures = list(source)
    return CrystalSet(ids=[str(i) for i in range(len(structures))], structures=structures)
