"""Formation energies from a potential's total energies, through fitted element references.

A potential's total energy is on its own scale; the hull is built from DFT
formation energies. The bridge is one energy per element, μ_el (eV/atom), fitted
by least squares so that ``E_pot - Σ_el n_el μ_el ≈ N · E_form(DFT)`` over
structures whose DFT formation energy is known. The table is stored per potential
(name and weights checksum) as a small JSON file with its fit residual.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from pymatgen.core import Composition, Structure
from pymatgen.io.ase import AseAtomsAdaptor

from gendesign.errors import InputError
from relax.potentials import Potential

REFERENCES_DIR = Path(__file__).parent / "references"


@dataclass
class ElementReferences:
    """Fitted per-element energies μ (eV/atom) for one potential."""

    potential: str
    weights_sha256: str
    mu: dict[str, float]  # element symbol -> eV/atom
    fit_mae: float  # eV/atom, on the fitting structures
    n_structures: int
    source: str  # which structures were fitted, e.g. "mp20 train split"

    def formation_energy_per_atom(self, composition: Composition, energy: float) -> float:
        """E_form (eV/atom) of a structure of ``composition`` with total energy ``energy`` (eV);
        NaN when an element has no fitted μ."""
        amounts = composition.get_el_amt_dict()
        if any(symbol not in self.mu for symbol in amounts):
            return float("nan")
        reference = sum(n * self.mu[symbol] for symbol, n in amounts.items())
        return (energy - reference) / composition.num_atoms

    def missing(self, composition: Composition) -> list[str]:
        return sorted(s for s in composition.get_el_amt_dict() if s not in self.mu)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> ElementReferences:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: element reference table not found")
        return cls(**json.loads(path.read_text()))


def references_path(potential: Potential) -> Path:
    """Where the bundled μ table of ``potential`` lives (name + weights checksum)."""
    return REFERENCES_DIR / f"{potential.info.name}-{potential.info.weights_sha256[:12]}.json"


def single_point_energies(
    structures: Sequence[Structure], potential: Potential, batch_atoms: int | None = None
) -> np.ndarray:
    """Total energies (eV) of ``structures`` as given, evaluated in batches of at most
    ``batch_atoms`` atoms; NaN where the potential fails or lacks an element."""
    from relax.batched import batch_capacity, chunk_by_atoms, torch_sim_energies
    from relax.torchsim_models import batched_model

    energies = np.full(len(structures), np.nan)
    usable = [
        i for i, s in enumerate(structures) if not potential.unsupported_elements(s.atomic_numbers)
    ]
    capacity = batch_capacity(potential, batch_atoms)
    model = batched_model(potential, forces=False)  # built once, reused for every chunk
    for chunk in chunk_by_atoms([len(structures[i]) for i in usable], capacity):
        indices = [usable[k] for k in chunk]
        try:
            energies[indices] = torch_sim_energies([structures[i] for i in indices], model)
        except Exception:  # one structure broke the batch: evaluate them one by one
            energies[indices] = [_ase_energy(structures[i], potential) for i in indices]
    return energies


def _ase_energy(structure: Structure, potential: Potential) -> float:
    atoms = AseAtomsAdaptor.get_atoms(structure)
    atoms.calc = potential.calculator
    try:
        return float(atoms.get_potential_energy())
    except Exception:  # one bad structure must not stop a fit over thousands
        return float("nan")


def fit_element_references(
    compositions: Sequence[Composition],
    energies: np.ndarray,
    dft_formation_energies: np.ndarray,
    potential: Potential,
    source: str,
) -> ElementReferences:
    """Least-squares μ from potential total ``energies`` (eV) and DFT formation energies
    (eV/atom) of the same structures; rows with a NaN are left out."""
    usable = np.isfinite(energies) & np.isfinite(dft_formation_energies)
    compositions = [c for c, keep in zip(compositions, usable, strict=True) if keep]
    energies, dft = energies[usable], dft_formation_energies[usable]
    symbols = sorted({s for c in compositions for s in c.get_el_amt_dict()})
    column = {s: k for k, s in enumerate(symbols)}
    counts = np.zeros((len(compositions), len(symbols)))
    for row, composition in enumerate(compositions):
        for symbol, amount in composition.get_el_amt_dict().items():
            counts[row, column[symbol]] = amount
    atoms = counts.sum(axis=1)
    mu, *_ = np.linalg.lstsq(counts, energies - atoms * dft, rcond=None)
    residual = (energies - counts @ mu) / atoms - dft
    return ElementReferences(
        potential=potential.info.name,
        weights_sha256=potential.info.weights_sha256,
        mu={s: float(m) for s, m in zip(symbols, mu, strict=True)},
        fit_mae=float(np.abs(residual).mean()),
        n_structures=int(usable.sum()),
        source=source,
    )
