"""Writing a sampling run: ``cifs/<id>.cif``, ``structures.extxyz`` and ``samples.csv``.

The folder is a generation run folder that ``gendesign audit`` (and the relaxation
and prediction commands) read directly.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from ase.io import write
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from gendesign.data.inputs import GENERATED_STRUCTURES_FILE


def write_samples(out: str | Path, structures: list[Structure], table: pd.DataFrame) -> Path:
    """Write the run's files (one table row per structure, with an ``id`` column); returns
    the folder."""
    out = Path(out)
    (out / "cifs").mkdir(parents=True, exist_ok=True)
    frames = []
    for item_id, structure in zip(table["id"], structures, strict=True):
        structure.to(filename=str(out / "cifs" / f"{item_id}.cif"))
        atoms = AseAtomsAdaptor.get_atoms(structure)
        atoms.info["id"] = item_id
        frames.append(atoms)
    write(out / GENERATED_STRUCTURES_FILE, frames, format="extxyz")
    table.to_csv(out / "samples.csv", index=False)
    return out
