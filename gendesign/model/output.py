"""Writing a sampling run: ``cifs/<id>.cif``, ``structures.extxyz`` and ``samples.csv``.

The folder is a generation run folder that ``gendesign audit`` (and the relaxation
and prediction commands) read directly.

When a bundled property predictor exists for the model's dataset, the table
also carries its ensemble estimate (``<property>_gnn`` ± ``<property>_gnn_std``)
and target checks use that estimate rather than the latent head's.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from ase.io import write
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from gendesign.audit.inputs import GENERATED_STRUCTURES_FILE
from gendesign.model.constraints import Constraints, in_range
from gendesign.model.generator import Generator

log = logging.getLogger(__name__)


def write_samples(
    out: str | Path,
    structures: list[Structure],
    table: pd.DataFrame,
    generator: Generator,
    constraints: Constraints,
    drop_misses: bool = False,
) -> pd.DataFrame:
    """Write the run's files; returns the table as written. ``drop_misses`` keeps only
    the samples that meet every constraint (``meets_*`` all true)."""
    out = Path(out)
    table = add_predictor_estimates(table, structures, generator.checkpoint.dataset, constraints)
    if drop_misses:
        met = table.filter(like="meets_").all(axis=1).to_numpy()
        structures = [s for s, keep in zip(structures, met, strict=True) if keep]
        table = table[met].reset_index(drop=True)
    (out / "cifs").mkdir(parents=True, exist_ok=True)
    frames = []
    for item_id, structure in zip(table["id"], structures, strict=True):
        structure.to(filename=str(out / "cifs" / f"{item_id}.cif"))
        atoms = AseAtomsAdaptor.get_atoms(structure)
        atoms.info["id"] = item_id
        frames.append(atoms)
    write(out / GENERATED_STRUCTURES_FILE, frames, format="extxyz")
    table.to_csv(out / "samples.csv", index=False)
    return table


def add_predictor_estimates(
    table: pd.DataFrame, structures: list[Structure], dataset: str, constraints: Constraints
) -> pd.DataFrame:
    """Columns from the bundled predictor of ``dataset`` (if any); targets it covers are
    judged on its mean."""
    from predictors.inference import Predictor, pretrained_names

    if dataset not in pretrained_names() or not structures:
        return table
    predictor = Predictor.pretrained(dataset, device="cpu")
    estimates = predictor.predict(structures)  # rows in input order
    table = table.copy()
    for name in predictor.targets:
        table[f"{name}_gnn"] = estimates[f"{name}_mean"].to_numpy()
        table[f"{name}_gnn_std"] = estimates[f"{name}_std"].to_numpy()
        if name in constraints.targets:
            table[f"meets_{name}"] = [
                in_range(value, constraints.targets[name]) for value in table[f"{name}_gnn"]
            ]
    return table
