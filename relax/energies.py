"""Formation energies from a potential's total energies, through fitted element references.

A potential's total energy is on its own scale; the hull is built from DFT
formation energies. The bridge is one energy per element, μ_el (eV/atom), fitted
by least squares so that ``E_pot - Σ_el n_el μ_el ≈ N · E_form(DFT)`` over
structures whose DFT formation energy is known. The table is stored per potential
(name and weights checksum) as a small JSON file with its fit residual.

The built-in potentials' tables ship with the package (``relax/references``). Any other
potential (a plug-in, a user's MACE file) gets its table fitted on first use
(:func:`element_references`) on a few thousand MP-20 crystals that cover every element,
with its error on MP-20 test crystals the fit never saw, and cached in the user cache.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from pymatgen.core import Composition, Structure
from pymatgen.io.ase import AseAtomsAdaptor

from gendesign.data.fetching import data_path
from gendesign.data.registry import MP20_CACHE
from gendesign.errors import InputError
from gendesign.paths import resolve_cache_dir
from relax.potentials import Potential

log = logging.getLogger(__name__)

REFERENCES_DIR = Path(__file__).parent / "references"
FIRST_USE_FIT = 2000  # MP-20 crystals a first-use fit relaxes nothing of: single points only
FIRST_USE_CHECK = 300  # MP-20 test crystals the fitted table is checked on


@dataclass
class ElementReferences:
    """Fitted per-element energies μ (eV/atom) for one potential."""

    potential: str
    weights_sha256: str
    mu: dict[str, float]  # element symbol -> eV/atom
    fit_mae: float  # eV/atom, on the fitting structures
    n_structures: int
    source: str  # which structures were fitted, e.g. "mp20 train split"
    check_mae: float | None = None  # eV/atom, on MP-20 test crystals outside the fit
    n_check: int = 0

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
    return REFERENCES_DIR / _table_name(potential)


def cached_references_path(potential: Potential) -> Path:
    """Where a first-use fit of ``potential`` is cached (user cache)."""
    return resolve_cache_dir() / "element_references" / _table_name(potential)


def _table_name(potential: Potential) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", potential.info.name)
    return f"{safe}-{potential.info.weights_sha256[:12]}.json"


def element_references(
    potential: Potential, data_root: str | Path | None = None, fit: bool = True
) -> ElementReferences | None:
    """The μ table of ``potential``: bundled, else cached from an earlier first use, else
    (when ``fit``) fitted now on MP-20 (see the module docstring) and cached."""
    for path in (references_path(potential), cached_references_path(potential)):
        if path.is_file():
            return ElementReferences.load(path)
    if not fit:
        return None
    log.warning(
        "%s has no element reference energies yet: fitting them on %d MP-20 crystals "
        "(first use; cached in %s)",
        potential.info.name,
        FIRST_USE_FIT,
        cached_references_path(potential).parent,
    )
    try:
        references = fit_on_mp20_sample(potential, data_root)
    except InputError as err:  # e.g. no MP-20 crystal of the elements it knows
        log.warning("%s: no element reference energies (%s)", potential.info.name, err)
        return None
    references.save(cached_references_path(potential))
    return references


def fit_on_mp20_sample(
    potential: Potential,
    data_root: str | Path | None = None,
    n_fit: int = FIRST_USE_FIT,
    n_check: int = FIRST_USE_CHECK,
    seed: int = 0,
) -> ElementReferences:
    """μ of ``potential`` from single points on ``n_fit`` MP-20 val crystals (every element
    the potential knows among them, the rest drawn at random), checked on ``n_check`` MP-20
    test crystals of those elements."""
    from gendesign.data.readers import read_mattergen_cache, read_mattergen_compositions

    val = data_path(MP20_CACHE / "val", data_root)
    properties = ["formation_energy_per_atom"]
    _, compositions, _ = read_mattergen_compositions(val)
    chosen = _covering_sample(compositions, potential, n_fit, seed)
    if not chosen:
        raise InputError(f"no MP-20 crystal holds only elements {potential.info.name} knows")
    fit_set = read_mattergen_cache(val, properties, chosen)
    energies = single_point_energies(fit_set.structures, potential)
    references = fit_element_references(
        [s.composition for s in fit_set.structures],
        energies,
        fit_set.properties["formation_energy_per_atom"].to_numpy(float),
        potential,
        source=f"{len(chosen)} MP-20 val crystals covering every element (seed {seed}), "
        "single points on DFT structures",
    )
    test = data_path(MP20_CACHE / "test", data_root)
    _, compositions, _ = read_mattergen_compositions(test)
    usable = [
        i
        for i, c in enumerate(compositions)
        if not references.missing(c) and not potential.unsupported_elements(_numbers(c))
    ]
    picked = sorted(np.random.default_rng(seed).permutation(usable)[:n_check].tolist())
    check_set = read_mattergen_cache(test, properties, picked)
    check_energies = single_point_energies(check_set.structures, potential)
    predicted = np.array(
        [
            references.formation_energy_per_atom(s.composition, e)
            for s, e in zip(check_set.structures, check_energies, strict=True)
        ]
    )
    truth = check_set.properties["formation_energy_per_atom"].to_numpy(float)
    finite = np.isfinite(predicted)
    check = float(np.abs(predicted[finite] - truth[finite]).mean()) if finite.any() else None
    return ElementReferences(
        **{**asdict(references), "check_mae": check, "n_check": int(finite.sum())}
    )


def _numbers(composition: Composition) -> list[int]:
    return [element.Z for element in composition.elements]


def _covering_sample(
    compositions: Sequence[Composition], potential: Potential, n: int, seed: int
) -> list[int]:
    """Indices of ``n`` compositions of elements ``potential`` knows: for every element, a
    few crystals holding it (rare elements first), then random ones."""
    rng = np.random.default_rng(seed)
    usable = [
        i for i, c in enumerate(compositions) if not potential.unsupported_elements(_numbers(c))
    ]
    holding: dict[int, list[int]] = {}
    for i in rng.permutation(usable).tolist():
        for z in _numbers(compositions[i]):
            holding.setdefault(z, []).append(i)
    chosen: set[int] = set()
    for z in sorted(holding, key=lambda z: len(holding[z])):
        chosen.update(holding[z][:5])
    rest = [i for i in rng.permutation(usable).tolist() if i not in chosen]
    chosen.update(rest[: max(0, n - len(chosen))])
    return sorted(chosen)


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
