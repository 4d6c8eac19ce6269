"""Energy above the convex hull of the MP-20 DFT formation energies.

The reference is every MP-20 material with a formation energy: the 27,136
training materials (compositions and energies ship without positions), val and
test. Formation energies are relative to the elements, so each element sits at
0 eV/atom. A candidate's hull is built from the reference entries inside its
own chemical system (pymatgen ``PhaseDiagram``), once per system.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
from pymatgen.core import Composition, Element

from gendesign.data.readers import read_mattergen_compositions
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
        self._hull = lru_cache(maxsize=4096)(self._build_hull)

    def __len__(self) -> int:
        return sum(len(entries) for entries in self.by_system.values())

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
        hull = self._hull(symbols)
        entry = PDEntry(composition, formation_energy_per_atom * composition.num_atoms)
        decomposition, e_hull = hull.get_decomp_and_e_above_hull(entry, allow_negative=True)
        phases = " + ".join(
            f"{fraction:.3g} {phase.composition.reduced_formula}"
            for phase, fraction in sorted(decomposition.items(), key=lambda item: -item[1])
        )
        return HullResult("ok", float(e_hull), phases)

    def _build_hull(self, symbols: frozenset[str]) -> PhaseDiagram:
        entries = [PDEntry(Composition({s: 1}), 0.0) for s in symbols]  # the elements
        for size in range(1, len(symbols) + 1):
            for subsystem in itertools.combinations(sorted(symbols), size):
                entries += self.by_system.get(frozenset(subsystem), [])
        return PhaseDiagram(entries, elements=[Element(s) for s in sorted(symbols)])


@lru_cache(maxsize=4)
def mp20_hull_reference(data_root: str | Path | None = None) -> HullReference:
    """The MP-20 reference hull (all three splits) under the resolved data root."""
    root = resolve_data_root(data_root)
    entries = []
    warnings.filterwarnings("ignore", message="No Pauling electronegativity")
    for split in MP20_SPLITS:
        _, compositions, table = read_mattergen_compositions(
            root / MP20_CACHE / split, ["formation_energy_per_atom"]
        )
        for composition, energy in zip(
            compositions, table["formation_energy_per_atom"], strict=True
        ):
            if energy == energy:  # not NaN
                entries.append(PDEntry(composition, float(energy) * composition.num_atoms))
    return HullReference(entries, "MP-20")
