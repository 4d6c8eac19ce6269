"""Turning what the user points the audit at into a CrystalSet."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pymatgen.core import Structure

from gendesign.audit.reference import load_dataset_split, parse_dataset_spec
from gendesign.data.crystal_set import CrystalSet
from gendesign.data.readers import read_structures

# A generation run folder keeps its samples in this file (one extxyz frame each).
GENERATED_STRUCTURES_FILE = "structures.extxyz"

AuditInput = str | Path | CrystalSet | Sequence[Structure]


def load_audit_input(source: AuditInput, data_root: str | Path | None = None) -> CrystalSet:
    """A CrystalSet from structures, a dataset split ("mp20:test"), a generation run
    folder, or any path :func:`read_structures` reads."""
    if isinstance(source, CrystalSet):
        return source
    if isinstance(source, str | Path):
        parsed = parse_dataset_spec(str(source))
        if parsed is not None:
            return load_dataset_split(*parsed, data_root)
        path = Path(source)
        if path.is_dir() and (path / GENERATED_STRUCTURES_FILE).is_file():
            return read_structures(path / GENERATED_STRUCTURES_FILE)
        return read_structures(path)
    structures = list(source)
    return CrystalSet(ids=[str(i) for i in range(len(structures))], structures=structures)
