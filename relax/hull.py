"""Energy above the convex hull of the MP-20 DFT formation energies.

The reference is every MP-20 material with a formation energy: the 27,136
training materials (compositions and energies ship without positions), val and
test. Formation energies are relative to the elements, so each element sits at
0 eV/atom.

The hull energy at a composition is the lowest energy any mix of reference
entries of that chemical system (its subsystems included) can reach at that
composition: a small linear program (scipy's HiGHS). It gives the same E_hull
and decomposition as pymatgen's ``PhaseDiagram`` but needs no hull of the whole
system, whose cost explodes with the number of elements: generated candidates
with eight or ten elements took minutes each that way.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from pymatgen.analysis.phase_diagram import PDEntry
from pymatgen.core import Composition
from scipy.optimize import linprog

from gendesign.data.readers import read_mattergen_compositions
from gendesign.notices import quiet_third_party
from gendesign.paths import resolve_data_root

MP20_SPLITS = ("train", "val", "test")
MP20_CACHE = Path("mp_20") / "mattergen_cache"


@dataclass(frozen=True)
class HullResult:
    """Where a composition at a formation energy sits against the reference hull."""

    status: str  # "ok", or "no reference" (an element absent from the reference data)
    e_above_hull: float  # eV/atom; negative: below the reference hull (a new ground state)
    decomposition: str  # the hull phases it would decompose into, e.g. "0.5 NaCl + 0.5 Cl2"
    reason: str = ""


class HullReference:
    """DFT formation energies (eV/atom) by composition, and hulls per chemical system."""

    def __init__(self, entries: list[PDEntry], label: str):
        self.label = label
        self.by_system: dict[frozenset[str], list[PDEntry]] = {}
        for entry in entries:
            system = frozenset(el.symbol for el in entry.composition.elements)
            self.by_system.setdefault(system, []).append(entry)
        self.elements = frozenset(symbol for system in self.by_system for symbol in system)
        self._system = lru_cache(maxsize=4096)(self._system_entries)

    def __len__(self) -> int:
        return sum(len(entries) for entries in self.by_system.values())

    def with_entries(self, extra: list[PDEntry], label: str) -> HullReference:
        """This reference with ``extra`` phases added (a fuller hull), as a new reference."""
        mine = [entry for entries in self.by_system.values() for entry in entries]
        return HullReference(mine + list(extra), label)

    def e_above_hull(
        self, composition: Composition, formation_energy_per_atom: float
    ) -> HullResult:
        """E_hull (eV/atom) of ``composition`` at ``formation_energy_per_atom`` (eV/atom)."""
        symbols = frozenset(el.symbol for el in composition.elements)
        missing = sorted(symbols - self.elements)
        if missing:
            return HullResult(
                "no reference", float("nan"), "",
                f"element(s) {', '.join(missing)} absent from the {self.label} reference",
            )  # fmt: skip
        order, formulas, fractions, energies = self._system(symbols)
        target = np.array([composition.get_atomic_fraction(symbol) for symbol in order])
        # min Σ x_i e_i  subject to  Σ x_i f_i = target, x ≥ 0 (x: atom fractions of phases)
        solution = linprog(
            energies, A_eq=fractions.T, b_eq=target, bounds=(0, None), method="highs"
        )
        if not solution.success:
            return HullResult(
                "no reference", float("nan"), "", f"hull not solvable: {solution.message}"
            )
        mix: dict[str, float] = defaultdict(float)
        for k in np.flatnonzero(solution.x > 1e-9):
            mix[formulas[k]] += float(solution.x[k])
        phases = " + ".join(
            f"{fraction:.3g} {formula}"
            for formula, fraction in sorted(mix.items(), key=lambda i: -i[1])
        )
        return HullResult("ok", float(formation_energy_per_atom - solution.fun), phases)

    def system_entries(self, symbols: frozenset[str]) -> list[PDEntry]:
        """Every reference entry inside the chemical system of ``symbols`` (its subsystems
        included), each element first at 0 eV/atom."""
        order = sorted(symbols)
        entries = [PDEntry(Composition({s: 1}), 0.0, name=s) for s in order]
        for size in range(1, len(order) + 1):
            for subsystem in itertools.combinations(order, size):
                entries += self.by_system.get(frozenset(subsystem), [])
        return entries

    def _system_entries(self, symbols: frozenset[str]):
        """Element order, reduced formulas, atom fractions (entries × elements) and formation
        energies (eV/atom) of every reference entry inside the system, elements included."""
        order = sorted(symbols)
        entries = self.system_entries(symbols)
        formulas = [entry.composition.reduced_formula for entry in entries]
        fractions = np.array(
            [[entry.composition.get_atomic_fraction(s) for s in order] for entry in entries]
        )
        energies = np.array([entry.energy_per_atom for entry in entries])
        return order, formulas, fractions, energies


@lru_cache(maxsize=4)
def mp20_hull_reference(
    data_root: str | Path | None = None, splits: tuple[str, ...] = MP20_SPLITS
) -> HullReference:
    """The MP-20 reference hull (by default of all three splits) under the resolved data
    root; a benchmark that measures against held-out splits builds it from train alone."""
    root = resolve_data_root(data_root)
    entries = []
    quiet_third_party()  # noble gases in the compositions
    for split in splits:
        _, compositions, table = read_mattergen_compositions(
            root / MP20_CACHE / split, ["formation_energy_per_atom"]
        )
        for composition, energy in zip(
            compositions, table["formation_energy_per_atom"], strict=True
        ):
            if energy == energy:  # not NaN
                entries.append(PDEntry(composition, float(energy) * composition.num_atoms))
    label = "MP-20" if splits == MP20_SPLITS else f"MP-20 {'+'.join(splits)}"
    return HullReference(entries, label)
