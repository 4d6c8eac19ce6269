"""Known crystals with the descriptors that novelty classes and template sources need.

Per crystal: reduced formula, framework (pymatgen's anonymised formula, e.g. ABC3),
primitive-cell site count, its prototype (space group and the Wyckoff letters each
element occupies, elements left anonymous) and, for template sources (``full``), the
space group at 0.1 Å and, where pymatgen's ICSD-based guess finds an integral
charge-neutral one, an oxidation state per element. Novelty needs only the first four,
which take half the time. The full descriptors of the 9,047 MP-20 training crystals take
about a minute on 2 cores. Descriptors are kept on disk per crystal (keyed by its id,
formula and cell volume), one store per kind: a set that shares crystals with one
described earlier (the novelty reference holds the template crystals) describes only
the new ones, novelty reads the full store too, and a worker loads them in a second.
"""

from __future__ import annotations

import json
import warnings
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

from joblib import Parallel, delayed
from pymatgen.core import Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from gendesign.data.cache import write_atomically
from gendesign.data.crystal_set import CrystalSet
from gendesign.paths import resolve_cache_dir

SYMPREC = 0.1  # Å, as the audit's space group column
# Bump when a descriptor's definition changes.
DESCRIPTOR_VERSION = 6
# Below this many crystals, worker start-up costs more than it saves.
_MIN_FOR_WORKERS = 500


@dataclass(frozen=True)
class CrystalDescriptor:
    """What is known about one crystal without comparing it to others."""

    formula: str  # reduced formula
    framework: str  # anonymised formula, e.g. "ABC3"
    primitive_sites: int
    prototype: str = ""  # see prototype_label
    spacegroup: int | None = None  # at SYMPREC; 0 when spglib finds none; None: not asked
    oxidation_states: dict[str, int] | None = None  # element → charge; None: no neutral guess


def reduced_cell(structure: Structure) -> Structure:
    """The primitive, Niggli-reduced cell StructureMatcher compares; reducing once lets a
    structure be fitted against many others without redoing it per pair."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    return StructureMatcher._get_reduced_structure(structure, primitive_cell=True, niggli=True)


def prototype_label(structure: Structure) -> str:
    """The structure type in the AFLOW sense, with the elements left anonymous: the space
    group at :data:`SYMPREC` and, per element, the Wyckoff letters of the orbits it
    occupies (e.g. ``221:a|b|c`` for a cubic perovskite ABX3). Two crystals with
    different labels are different frameworks to a crystallographer; "0" when spglib
    finds no symmetry."""
    try:
        dataset = SpacegroupAnalyzer(structure, symprec=SYMPREC).get_symmetry_dataset()
    except Exception:  # spglib gives up on some degenerate cells
        dataset = None
    if dataset is None:
        return "0"
    orbits: dict[str, list[str]] = defaultdict(list)
    for site, (representative, letter) in enumerate(
        zip(dataset.equivalent_atoms, dataset.wyckoffs, strict=True)
    ):
        if site == representative:
            orbits[structure[site].species_string].append(letter)
    occupied = sorted("".join(sorted(letters)) for letters in orbits.values())
    return f"{dataset.number}:{'|'.join(occupied)}"


def describe(structure: Structure, full: bool = True) -> CrystalDescriptor:
    """The descriptors of one crystal (see the module docstring); without ``full``, no
    space group and no oxidation states."""
    composition = structure.composition
    reduced = reduced_cell(structure)
    prototype = prototype_label(reduced)
    if not full:
        return CrystalDescriptor(
            composition.reduced_formula, composition.anonymized_formula, len(reduced), prototype
        )
    return CrystalDescriptor(
        formula=composition.reduced_formula,
        framework=composition.anonymized_formula,
        # the prototype's space group: the reduced cell is the same crystal, and spglib's
        # search is the slowest step here
        spacegroup=int(prototype.split(":")[0]),
        primitive_sites=len(reduced),
        prototype=prototype,
        oxidation_states=guess_oxidation_states(structure),
    )


def guess_oxidation_states(structure: Structure) -> dict[str, int] | None:
    """pymatgen's most probable charge-neutral oxidation state per element (ICSD
    statistics), or None when there is none or it is not integral (mixed valence)."""
    return composition_oxidation_states(structure.composition)


def composition_oxidation_states(composition) -> dict[str, int] | None:
    """:func:`guess_oxidation_states` for a composition."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        guesses = composition.oxi_state_guesses(max_sites=-50)
    if not guesses:
        return None
    best = guesses[0]
    if any(abs(charge - round(charge)) > 1e-6 for charge in best.values()):
        return None
    return {symbol: int(round(charge)) for symbol, charge in best.items()}


@dataclass
class KnownCrystals:
    """Crystals a candidate is compared with (and drawn from), with their descriptors."""

    label: str  # e.g. "mp20:train"
    ids: list[str]
    structures: list[Structure]
    descriptors: list[CrystalDescriptor]
    # per crystal, the set it belongs to (e.g. "mp20:val"); None: all belong to ``label``
    splits: list[str] | None = None

    def __len__(self) -> int:
        return len(self.structures)

    def split_of(self, index: int) -> str:
        """The set crystal ``index`` belongs to."""
        return self.splits[index] if self.splits is not None else self.label

    @property
    def formulas(self) -> list[str]:
        return [d.formula for d in self.descriptors]

    def by_framework(self) -> dict[tuple[str, int], list[int]]:
        """Indices grouped by (framework, primitive sites): the only crystals a structure
        can match with species ignored."""
        groups: dict[tuple[str, int], list[int]] = defaultdict(list)
        for index, d in enumerate(self.descriptors):
            groups[(d.framework, d.primitive_sites)].append(index)
        return dict(groups)


def known_crystals(
    crystals: CrystalSet,
    label: str,
    cache_dir: str | Path | None = None,
    workers: int = 2,
    splits: list[str] | None = None,
    full: bool = True,
) -> KnownCrystals:
    """``crystals`` with their descriptors, each from the on-disk store when described
    before; ``splits`` names the set each crystal belongs to (default: ``label`` for all);
    ``full=False`` leaves out what only template sources need (see :func:`describe`)."""
    keys = [_crystal_key(i, s) for i, s in zip(crystals.ids, crystals.structures, strict=True)]
    kinds = ("full",) if full else ("novelty", "full")  # a full descriptor serves novelty too
    known: dict[str, dict] = {}
    for kind in reversed(kinds):  # the store of the asked kind wins
        known |= _read_store(_store_path(kind, cache_dir))
    missing = [k for k, key in enumerate(keys) if key not in known]
    if missing:
        structures = [crystals.structures[k] for k in missing]
        if workers > 1 and len(structures) >= _MIN_FOR_WORKERS:
            fresh = Parallel(n_jobs=workers, batch_size=64)(
                delayed(describe)(s, full) for s in structures
            )
        else:
            fresh = [describe(s, full) for s in structures]
        added = {keys[k]: asdict(d) for k, d in zip(missing, fresh, strict=True)}
        known |= added
        path = _store_path(kinds[0], cache_dir)
        stored = _read_store(path) | added  # read again: another process may have added some
        write_atomically(path, lambda tmp: Path(tmp).write_text(json.dumps(stored)))
    descriptors = [_descriptor(known[key], full) for key in keys]
    return KnownCrystals(label, list(crystals.ids), list(crystals.structures), descriptors, splits)


def _crystal_key(item_id: str, structure: Structure) -> str:
    """A crystal's key in the store: a changed crystal under the same id misses it."""
    return f"{item_id}:{structure.formula}:{structure.volume:.4f}"


def _store_path(kind: str, cache_dir: str | Path | None) -> Path:
    return resolve_cache_dir(cache_dir) / "known" / f"descriptors-v{DESCRIPTOR_VERSION}-{kind}.json"


def _read_store(path: Path) -> dict[str, dict]:
    """The stored descriptors by crystal key; empty when absent or unreadable (then the
    crystals are described again)."""
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return stored if isinstance(stored, dict) else {}


def _descriptor(row: dict, full: bool) -> CrystalDescriptor:
    if full:
        return CrystalDescriptor(**row)
    return CrystalDescriptor(
        row["formula"], row["framework"], row["primitive_sites"], row.get("prototype", "")
    )
