"""Energy above a convex hull of DFT formation energies, with where each phase came from.

A :class:`HullReference` holds phases (reduced formula, formation energy in eV/atom
relative to the elements, source, id) and answers, for a composition at a formation
energy, how far above the hull it lies and what it would decompose into. Which phases
make the project's reference, and how they are aligned, is :mod:`relax.reference_hull`.

The hull energy at a composition is the lowest energy any mix of reference phases of
that chemical system (its subsystems included) can reach at that composition: a small
linear program (scipy's HiGHS). It gives the same E_hull and decomposition as pymatgen's
``PhaseDiagram`` but needs no hull of the whole system, whose cost explodes with the
number of elements: generated candidates with eight or ten elements took minutes each
that way.

Two questions a chemist asks of an E_hull are answered here too:

- *Was the crystal itself part of the hull?* ``leave_out`` scores a known crystal
  against the hull without its own entry (by id, and, for sources without ids, the
  entries of its formula within :data:`ANONYMOUS_MATCH` of its energy).
- *Does the reference know the competing phases?* :meth:`HullReference.coverage` names
  the subsystems with no compound in the reference, and the binaries among them that
  common oxidation states say should exist (Zn-I: ZnI2). Where one is missing, the
  E_hull is only a lower bound: the hull there is too high.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import NamedTuple

import numpy as np
from pymatgen.analysis.phase_diagram import PDEntry
from pymatgen.core import Composition
from scipy.optimize import linprog

# A source without entry ids (composition-level data): a scored crystal's own entry is
# any entry of its formula this close to its energy (eV/atom).
ANONYMOUS_MATCH = 0.05
# Source → the tag a decomposition shows beside its phases (MP-20's phases carry none).
SOURCE_TAGS = {"mp20": "", "mpts52": "MPTS-52", "mp_e_form": "MP", "extra": "", "hand-made": ""}
_SYMBOL = re.compile(r"[A-Z][a-z]?")


class HullPhase(NamedTuple):
    """One reference phase."""

    formula: str  # reduced formula
    energy_per_atom: float  # formation energy, eV/atom
    source: str  # "mp20", "mpts52", "mp_e_form", ...
    entry_id: str  # e.g. "mp-1234"; "" for a source without ids


@dataclass(frozen=True)
class HullResult:
    """Where a composition at a formation energy sits against the reference hull."""

    status: str  # "ok", or "no reference" (an element absent from the reference data)
    e_above_hull: float  # eV/atom; negative: below the reference hull (a new ground state)
    decomposition: str  # the hull phases it would decompose into, e.g. "0.5 NaCl + 0.5 Cl2"
    reason: str = ""


@dataclass(frozen=True)
class HullCoverage:
    """Which subsystems of a composition's elements the reference knows no compound of."""

    empty_subsystems: tuple[str, ...]  # e.g. ("Br-Zn", "I-Zn"): no compound in the reference
    expected: tuple[str, ...]  # binaries of those that oxidation states balance, e.g. ("ZnI2",)

    @property
    def lower_bound(self) -> bool:
        """Whether the E_hull is only a lower bound (a compound that should compete is absent)."""
        return bool(self.expected)

    def note(self) -> str:
        """One sentence for reports; empty when nothing the reference lacks should exist."""
        if not self.expected:
            return ""
        systems = [s for s in self.empty_subsystems if len(s.split("-")) == 2]
        return (
            f"E_hull is a lower bound: the reference holds no {', '.join(systems)} compound, "
            f"though oxidation states balance {', '.join(self.expected)}"
        )


def formula_elements(formula: str) -> frozenset[str]:
    """The element symbols of a formula, without parsing it into a Composition."""
    return frozenset(_SYMBOL.findall(formula))


@lru_cache(maxsize=200_000)
def _composition(formula: str) -> Composition:
    return Composition(formula)


class HullReference:
    """DFT formation energies (eV/atom) by chemical system, and hulls per system.

    ``name`` says which reference it is ("full", "mp20", ...); ``sources`` what it was
    built from, in words; ``version`` a hash of its phases (computed when not given)."""

    def __init__(
        self,
        phases: Iterable[HullPhase],
        name: str,
        sources: tuple[str, ...] = (),
        version: str | None = None,
    ):
        self.name = name
        self.sources = sources
        self.by_system: dict[frozenset[str], list[HullPhase]] = defaultdict(list)
        for phase in phases:
            self.by_system[formula_elements(phase.formula)].append(phase)
        self.by_system = dict(self.by_system)
        self.elements = frozenset(symbol for system in self.by_system for symbol in system)
        self._version = version
        self._system = lru_cache(maxsize=4096)(self._system_arrays)

    @classmethod
    def from_entries(cls, entries: Iterable[PDEntry], name: str) -> HullReference:
        """A reference from pymatgen entries (total formation energies, eV), e.g. hand-made."""
        return cls(
            (
                HullPhase(e.composition.reduced_formula, e.energy_per_atom, "hand-made", "")
                for e in entries
            ),
            name,
            ("hand-made",),
        )

    def __len__(self) -> int:
        return sum(len(phases) for phases in self.by_system.values())

    @cached_property
    def version(self) -> str:
        """A short hash of every phase (formula, energy to 1 µeV, source)."""
        if self._version:
            return self._version
        digest = hashlib.sha256()
        for phase in sorted(p for phases in self.by_system.values() for p in phases):
            digest.update(f"{phase.formula}|{phase.energy_per_atom:.6f}|{phase.source};".encode())
        return digest.hexdigest()[:10]

    @property
    def tag(self) -> str:
        """The short name every stored E_hull carries, e.g. ``full@1a2b3c4d5e``."""
        return f"{self.name}@{self.version}"

    @property
    def label(self) -> str:
        """The reference in words: name, sources, size and version."""
        sources = f"{' + '.join(self.sources)}; " if self.sources else ""
        return f"{self.name} hull ({sources}{len(self):,} phases; {self.version})"

    def known_energy(self, formula: str) -> float | None:
        """The lowest formation energy (eV/atom) the reference holds for reduced ``formula``;
        None when it holds no phase of that formula."""
        phases = self.by_system.get(formula_elements(formula), [])
        energies = [p.energy_per_atom for p in phases if p.formula == formula]
        return min(energies) if energies else None

    def with_phases(self, extra: Iterable[HullPhase], name: str) -> HullReference:
        """This reference with ``extra`` phases added, as a new reference sharing the rest."""
        joined = HullReference((), name, (*self.sources, "extra phases"))
        joined.by_system = dict(self.by_system)
        for phase in extra:
            system = formula_elements(phase.formula)
            joined.by_system[system] = [*joined.by_system.get(system, []), phase]
        joined.elements = frozenset(s for system in joined.by_system for s in system)
        return joined

    def e_above_hull(
        self,
        composition: Composition,
        formation_energy_per_atom: float,
        leave_out: str | None = None,
    ) -> HullResult:
        """E_hull (eV/atom) of ``composition`` at ``formation_energy_per_atom`` (eV/atom).

        ``leave_out``: the id of a known crystal being scored; its own entries are left out
        of the hull (see the module docstring)."""
        symbols = frozenset(el.symbol for el in composition.elements)
        missing = sorted(symbols - self.elements)
        if missing:
            return HullResult(
                "no reference", float("nan"), "",
                f"element(s) {', '.join(missing)} absent from the {self.name} reference",
            )  # fmt: skip
        order, phases, fractions, energies = self._system(symbols)
        keep = np.ones(len(phases), dtype=bool)
        if leave_out is not None:
            formula = composition.reduced_formula
            for k, phase in enumerate(phases):
                own = phase.entry_id == leave_out or (
                    not phase.entry_id
                    and phase.formula == formula
                    and abs(phase.energy_per_atom - formation_energy_per_atom) <= ANONYMOUS_MATCH
                )
                keep[k] = not own
        target = np.array([composition.get_atomic_fraction(symbol) for symbol in order])
        # min Σ x_i e_i  subject to  Σ x_i f_i = target, x ≥ 0 (x: atom fractions of phases)
        solution = linprog(
            energies[keep], A_eq=fractions[keep].T, b_eq=target, bounds=(0, None), method="highs"
        )
        if not solution.success:
            return HullResult(
                "no reference", float("nan"), "", f"hull not solvable: {solution.message}"
            )
        kept = [phase for phase, k in zip(phases, keep, strict=True) if k]
        mix: dict[str, float] = defaultdict(float)
        for k in np.flatnonzero(solution.x > 1e-9):
            mix[_tagged(kept[k])] += float(solution.x[k])
        decomposition = " + ".join(
            f"{fraction:.3g} {name}" for name, fraction in sorted(mix.items(), key=lambda i: -i[1])
        )
        return HullResult("ok", float(formation_energy_per_atom - solution.fun), decomposition)

    def coverage(self, composition: Composition, policy: str = "common") -> HullCoverage:
        """The proper subsystems (two elements or more) of ``composition``'s elements that hold
        no compound in the reference, and the binaries among them whose elements balance
        under the oxidation-state ``policy`` (the compound that should exist, smallest
        formula first)."""
        from gendesign.audit.composition import charge_balanced

        symbols = sorted(el.symbol for el in composition.elements)
        empty, expected = [], []
        for size in range(2, len(symbols)):
            for subsystem in itertools.combinations(symbols, size):
                if frozenset(subsystem) in self.by_system:
                    continue
                empty.append("-".join(subsystem))
                if size == 2:
                    formula = _ionic_binary(subsystem, policy, charge_balanced)
                    if formula:
                        expected.append(formula)
        return HullCoverage(tuple(empty), tuple(expected))

    def system_entries(self, symbols: frozenset[str]) -> list[PDEntry]:
        """Every reference phase inside the chemical system of ``symbols`` (its subsystems
        included) as pymatgen entries, each element first at 0 eV/atom."""
        order = sorted(symbols)
        entries = [PDEntry(Composition({s: 1}), 0.0, name=s) for s in order]
        for phase in self._phases_within(order):
            composition = _composition(phase.formula)
            entries.append(
                PDEntry(
                    composition, phase.energy_per_atom * composition.num_atoms, name=phase.formula
                )
            )
        return entries

    def _phases_within(self, order: list[str]) -> list[HullPhase]:
        phases = []
        for size in range(1, len(order) + 1):
            for subsystem in itertools.combinations(order, size):
                phases += self.by_system.get(frozenset(subsystem), [])
        return phases

    def _system_arrays(self, symbols: frozenset[str]):
        """Element order, phases, atom fractions (phases × elements) and formation energies
        (eV/atom) of every reference phase inside the system, the elements first."""
        order = sorted(symbols)
        phases = [HullPhase(s, 0.0, "element", "") for s in order] + self._phases_within(order)
        fractions = np.array(
            [[_composition(p.formula).get_atomic_fraction(s) for s in order] for p in phases]
        )
        energies = np.array([p.energy_per_atom for p in phases])
        return order, phases, fractions, energies


def _tagged(phase: HullPhase) -> str:
    tag = SOURCE_TAGS.get(phase.source, phase.source)
    return f"{phase.formula} [{tag}]" if tag else phase.formula


def _ionic_binary(pair: tuple[str, str], policy: str, balanced) -> str:
    """The smallest charge-balanced formula of two elements, one a cation and one an anion
    under ``policy`` (not an alloy of two metals); empty when none exists."""
    import smact

    if all(symbol in smact.metals for symbol in pair):
        return ""
    for total in range(2, 9):
        for a in range(1, total):
            counts = (a, total - a)
            if np.gcd(*counts) == 1 and balanced(pair, counts, policy):
                return Composition(dict(zip(pair, counts, strict=True))).reduced_formula
    return ""
