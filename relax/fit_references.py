"""Fit and store a potential's element reference energies μ on MP-20.

    python -m relax.fit_references --potential chgnet-0.3.0 [--data-root DIR]

Single-point energies of the split's DFT structures against their DFT formation
energies (see :mod:`relax.energies`). The table lands where
:func:`relax.energies.references_path` looks for it, so every later relaxation
with the same weights reports formation energies and energies above hull.
Keep the MP-20 test split out of the fit: it is what the fit is judged on.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from gendesign.data.crystal_set import CrystalSet
from gendesign.data.datasets import load_dataset
from relax.energies import (
    ElementReferences,
    fit_element_references,
    references_path,
    single_point_energies,
)
from relax.potentials import Potential, load_potential

log = logging.getLogger(__name__)


def fit_mp20_references(
    potential: Potential,
    data_root: str | Path | None = None,
    batch_atoms: int | None = None,
) -> ElementReferences:
    """μ of ``potential`` fitted on MP-20's training crystals (the train and holdout splits
    of the mp20-reduced protocol: MP-20's val file), DFT structures and formation energies."""
    dataset = load_dataset("mp20", data_root=data_root)
    crystals = CrystalSet.concat([dataset.crystal_set("train"), dataset.crystal_set("holdout")])
    energies = single_point_energies(crystals.structures, potential, batch_atoms)
    return fit_element_references(
        [s.composition for s in crystals.structures],
        energies,
        crystals.properties["formation_energy_per_atom"].to_numpy(dtype=float),
        potential,
        source="mp20 val file (train + holdout splits), single points on DFT structures",
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--potential", default="auto", help="a built-in, a registered plug-in or module:factory"
    )
    parser.add_argument("--potential-path", default=None, help="a MACE .model file")
    parser.add_argument("--data-root", default=None)
    parser.add_argument(
        "--out", default=None, help="default: the bundled location for these weights"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    potential = load_potential(args.potential, args.potential_path)
    start = time.perf_counter()
    references = fit_mp20_references(potential, args.data_root)
    path = references.save(args.out or references_path(potential))
    log.info(
        "%s: μ for %d elements from %d structures, fit MAE %.4f eV/atom, %.0f s",
        path,
        len(references.mu),
        references.n_structures,
        references.fit_mae,
        time.perf_counter() - start,
    )


if __name__ == "__main__":
    main()
