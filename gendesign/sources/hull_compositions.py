"""Stability-aware compositions for the generative model: which formulas to decode.

Decoding a crystal costs a flow integration, relaxing it far more; a composition
whose every crystal would sit far above the convex hull is a waste of both. Before
any structure exists, each candidate composition gets a cheap E_hull estimate: the
composition-only formation-energy model (:mod:`predictors.composition`, Magpie
features, holdout MAE about 0.06 eV/atom) minus the hull of the MP-20 DFT
formation energies at that composition (:mod:`relax.hull`). Compositions are then
drawn with weight ``exp(-max(E_hull, 0) / temperature)``, at most ``max_share``
of the samples per reduced formula, so the hull steers without collapsing onto a
few formulas.

Where the candidates come from:

- **Given elements** (``--elements``): every charge-balanced formula over all of them
  (with ``--within``: over two or more of them) with at most ``MAX_FORMULA_ATOMS``
  atoms per formula unit is
  enumerated, each taken at a formula-unit multiple that fits the atom-count
  constraint. The chemistry model is not asked: under a narrow element set it
  proposes few balanced formulas (Li-Fe-P-O: 81 of 100 under common oxidation
  states, half of them odd), while enumeration covers every plausible stoichiometry.
- **Open element set**: the chemistry model proposes ``pool`` times as many
  compositions as are wanted, balanced ones are kept and reweighted by the estimate:
  the model's own distribution, tilted toward the hull.

The formation-energy model is also the campaign's independent property judge; a
campaign that targets formation energy and plans compositions with it therefore
gets a formation-energy verdict that is no longer independent (its report says so).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from math import gcd

import numpy as np
from pymatgen.core import Composition, Element

from gendesign.audit.composition import charge_balanced
from gendesign.data.fetching import data_path
from gendesign.data.readers import read_mattergen_compositions
from gendesign.data.registry import MP20_CACHE
from gendesign.errors import ConfigError
from gendesign.model.common.constraints import Constraints
from predictors.composition import CompositionJudge
from relax.hull import HullPhase, HullReference

# Atoms per formula unit of enumerated formulas; MP-20's cells hold at most 20.
MAX_FORMULA_ATOMS = 20


@dataclass(frozen=True)
class PlannedComposition:
    """A composition chosen for decoding, with the estimate that chose it."""

    composition: Composition  # the cell's, integer counts
    e_form_estimate: float  # eV/atom, composition model
    e_hull_estimate: float  # eV/atom, against the planner's hull (NaN: no reference)


@dataclass
class HullCompositionPlanner:
    """Draws compositions toward the hull; see the module docstring."""

    energy_model: CompositionJudge
    hull: HullReference
    temperature: float = 0.05  # eV/atom
    max_share: float = 0.1  # of the samples, per reduced formula
    # the same cap within one chemical system (``--elements``): a system has a few
    # plausible formulas, and its known ground state deserves several decodes
    system_max_share: float = 0.3
    pool: int = 4  # open element sets: proposals per wanted sample

    def estimates(self, formulas: Sequence[Composition]) -> dict[str, tuple[float, float]]:
        """reduced formula → (formation energy, E_hull) estimates, eV/atom. A formula the
        hull holds gets its known (DFT) values: its best phase's energy and E_hull, 0 for a
        ground state; a model's guess has no business overruling a measurement."""
        unique = {c.reduced_formula: c.reduced_composition for c in formulas}
        known = {name: self.hull.known_energy(name) for name in unique}
        result = {
            name: (energy, self.hull.e_above_hull(unique[name], energy).e_above_hull)
            for name, energy in known.items()
            if energy is not None
        }
        unique = {name: c for name, c in unique.items() if known[name] is None}
        if not unique:
            return result
        names = list(unique)
        table = self.energy_model.predict([unique[name] for name in names])
        # one ensemble σ above the mean: formulas the model is unsure of (far from any
        # training composition, e.g. Li2Fe, σ 0.22 eV/atom) sink instead of floating up
        energies = table["formation_energy_per_atom"].to_numpy(dtype=float) + table[
            "formation_energy_per_atom_std"
        ].to_numpy(dtype=float)
        # The candidates join the hull with their estimates: a formula is judged against
        # its rivals too, not only against the reference, whose sparse systems would
        # otherwise put most estimates below the hull.
        hull = self.hull.with_phases(
            [
                HullPhase(name, float(energy), "estimate", "")
                for name, energy in zip(names, energies, strict=True)
            ],
            f"{self.hull.name} + estimates",
        )
        for name, energy in zip(names, energies, strict=True):
            e_hull = hull.e_above_hull(unique[name], float(energy)).e_above_hull
            result[name] = (float(energy), float(e_hull))
        return result

    def choose(
        self,
        candidates: Sequence[Composition],
        n: int,
        rng: np.random.Generator,
        prior: Callable[[Composition], float] | None = None,
        max_share: float | None = None,
    ) -> list[PlannedComposition]:
        """``n`` of ``candidates`` (cell compositions) drawn toward the hull, each formula
        capped at ``max_share`` (default: the planner's). A formula's prior weight is ``prior(formula)``, or without
        one how often it occurs among the candidates (the proposals' own frequency)."""
        if not candidates:
            return []
        estimates = self.estimates(candidates)
        by_formula: dict[str, list[Composition]] = {}
        for composition in candidates:
            by_formula.setdefault(composition.reduced_formula, []).append(composition)
        names = list(by_formula)
        weights = np.array(
            [
                (prior(by_formula[name][0]) if prior else len(by_formula[name]))
                * _boltzmann(estimates[name][1], self.temperature)
                for name in names
            ]
        )
        if not weights.sum() > 0:
            weights = np.ones(len(names))
        cap = max(1, math.ceil((max_share or self.max_share) * n))
        if cap * len(names) < n:  # too few formulas for the cap: share them out evenly
            cap = math.ceil(n / len(names))
        taken = np.zeros(len(names), dtype=int)
        chosen = []
        for _ in range(n):
            open_weights = np.where(taken < cap, weights, 0.0)
            k = int(rng.choice(len(names), p=open_weights / open_weights.sum()))
            taken[k] += 1
            cells = by_formula[names[k]]
            cell = cells[int(rng.integers(len(cells)))]
            chosen.append(PlannedComposition(cell, *estimates[names[k]]))
        return chosen

    def enumerate_cells(self, constraints: Constraints, max_atoms: int) -> list[Composition]:
        """Every charge-balanced cell composition over all the given elements (with
        ``within``: over two or more of them; see the module docstring); one per formula
        and formula-unit multiple."""
        elements = [e for e in constraints.elements if e not in constraints.exclude]
        fewest, most = constraints.atom_bounds(max_atoms)
        per_unit = min(MAX_FORMULA_ATOMS, most)
        cells = []
        sizes = range(2, len(elements) + 1) if constraints.within else [len(elements)]
        for size in sizes:
            for subset in itertools.combinations(elements, size):
                for counts in _positive_counts(size, per_unit):
                    if gcd(*counts) != 1:
                        continue
                    symbols, ordered = _by_atomic_number(subset, counts)
                    if not charge_balanced(symbols, ordered, constraints.oxidation_states):
                        continue
                    unit = sum(counts)
                    for multiple in range(1, most // unit + 1):
                        if unit * multiple >= fewest:
                            cells.append(
                                Composition(
                                    {s: c * multiple for s, c in zip(subset, counts, strict=True)}
                                )
                            )
        return cells


@lru_cache(maxsize=2)
def formula_unit_prior(data_root: str | None = None) -> dict[tuple[int, int], float]:
    """(elements, atoms per formula unit) → share among MP-20's training crystals with that
    many elements (add-one smoothed): how often chemistry picks a stoichiometry that
    size. Ternaries of 4 to 7 atoms per unit are common, Li9PO6's 16 rare."""
    _, compositions, _ = read_mattergen_compositions(data_path(MP20_CACHE / "train", data_root))
    counts = Counter((len(c.elements), int(c.reduced_composition.num_atoms)) for c in compositions)
    totals = Counter()
    for (elements, _), count in counts.items():
        totals[elements] += count
    return {
        (elements, unit): (counts.get((elements, unit), 0) + 1)
        / (totals[elements] + MAX_FORMULA_ATOMS)
        for elements in range(1, 9)
        for unit in range(1, MAX_FORMULA_ATOMS + 1)
    }


def unit_prior_of(table: dict[tuple[int, int], float]) -> Callable[[Composition], float]:
    """A ``choose`` prior from a :func:`formula_unit_prior` table."""

    def prior(composition: Composition) -> float:
        key = (len(composition.elements), int(composition.reduced_composition.num_atoms))
        return table.get(key, min(table.values()))

    return prior


# How many known formulas a stoichiometry's own count is worth against the back-off to
# its size (elements, atoms per unit): a stoichiometry no known compound has keeps a
# small weight, one hundreds of compounds share (AB2C4, ABCD4) leads.
_BACKOFF_WEIGHT = 5.0


def _whole(counts: Sequence[float]) -> tuple[int, ...]:
    """Atom counts scaled to the smallest whole numbers, order kept."""
    scale = 1.0
    while any(abs(c * scale - round(c * scale)) > 1e-6 for c in counts) and scale < 100:
        scale += 1.0
    whole = [int(round(c * scale)) for c in counts]
    divisor = gcd(*whole)
    return tuple(c // divisor for c in whole)


@lru_cache(maxsize=1 << 16)  # framework libraries ask for tens of thousands of formulas
def stoichiometry_type(formula: str) -> tuple[int, ...]:
    """A formula's atoms per element, ascending: MgAl2O4 and ZnCr2S4 are both (1, 2, 4),
    the spinel stoichiometry; element identity is left out. Parsed by pymatgen, so
    grouped formulas count whole: LiFe(PO3)2 is (1, 1, 2, 6)."""
    return tuple(sorted(role_type(Composition(formula))))


def role_type(composition: Composition) -> tuple[int, ...]:
    """Atoms per element in order of electronegativity, the most electropositive first
    and the anion last: the stoichiometry with each element's role kept. LiFePO4 is
    (1, 1, 1, 4) like NaMnPO4; Li6FeP2O is (6, 1, 2, 1), which no known oxide shares,
    although its ascending type (1, 1, 2, 6) is common."""
    with warnings.catch_warnings():  # noble gases have no electronegativity: sorted last
        warnings.simplefilter("ignore")
        elements = sorted(
            composition.elements,
            key=lambda el: (el.X if math.isfinite(el.X) else math.inf, el.Z),
        )
    return _whole([composition[el] for el in elements])


@lru_cache(maxsize=4)
def _stoichiometry_counts(hull: HullReference) -> tuple[Counter, Counter, Counter]:
    """(stoichiometry type → known formulas of it, role type → known formulas of it,
    element count → known formulas)."""
    formulas = {phase.formula for phases in hull.by_system.values() for phase in phases}
    roles = Counter(role_type(Composition(formula)) for formula in formulas)
    types = Counter()
    for role, count in roles.items():
        types[tuple(sorted(role))] += count
    sizes = Counter()
    for kind, count in types.items():
        sizes[len(kind)] += count
    return types, roles, sizes


def stoichiometry_prior(
    hull: HullReference, data_root: str | None = None
) -> Callable[[Composition], float]:
    """A ``choose`` prior: how common a formula's role type (:func:`role_type`) is among
    the known compounds with as many elements (the formulas of ``hull``), backed off to
    its ascending stoichiometry type, and that to :func:`formula_unit_prior` for types no
    known compound has. Chemistry repeats its stoichiometries: Mg-Al-O's known ternary
    is the spinel MgAl2O4, one of hundreds of AB2X4 compounds, not a Mg7Al2O10 on the
    MgO-MgAl2O4 tie line; Li-Fe-P-O's is the phosphate LiFePO4 (ABCX4), not the
    phosphide oxide Li6FeP2O."""
    types, roles, sizes = _stoichiometry_counts(hull)
    unit = unit_prior_of(formula_unit_prior(data_root))

    def prior(composition: Composition) -> float:
        role = role_type(composition)
        known = sizes.get(len(role), 0)
        by_type = (types.get(tuple(sorted(role)), 0) + _BACKOFF_WEIGHT * unit(composition)) / (
            known + _BACKOFF_WEIGHT
        )
        return (roles.get(role, 0) + _BACKOFF_WEIGHT * by_type) / (known + _BACKOFF_WEIGHT)

    return prior


def _boltzmann(e_hull: float, temperature: float) -> float:
    """Weight of an estimate: 1 on or below the hull, falling by e every ``temperature``
    eV/atom above it; compositions without a reference estimate get the weight of 0.1."""
    if not math.isfinite(e_hull):
        e_hull = 0.1
    return math.exp(-max(e_hull, 0.0) / temperature)


def _positive_counts(size: int, total_max: int):
    """Every tuple of ``size`` positive integers summing to at most ``total_max``."""
    for total in range(size, total_max + 1):
        for cuts in itertools.combinations(range(1, total), size - 1):
            bounds = (0, *cuts, total)
            yield tuple(bounds[k + 1] - bounds[k] for k in range(size))


def _by_atomic_number(symbols, counts) -> tuple[tuple[str, ...], tuple[int, ...]]:
    pairs = sorted(zip(symbols, counts, strict=True), key=lambda pair: Element(pair[0]).Z)
    return tuple(s for s, _ in pairs), tuple(c for _, c in pairs)


def plan_compositions(
    planner: HullCompositionPlanner,
    n: int,
    seed: int,
    constraints: Constraints,
    max_atoms: int,
    propose: Callable[[int, int], list[tuple[Composition, bool]]],
    data_root: str | None = None,
) -> list[PlannedComposition]:
    """``n`` compositions for the model to decode under ``constraints``: enumerated when
    the elements are given, else from ``propose(count, seed)`` (the chemistry model's
    (composition, balanced) proposals). One sentence when nothing qualifies."""
    rng = np.random.default_rng(seed)
    prior, share = None, None
    if constraints.elements:
        share = planner.system_max_share
        candidates = planner.enumerate_cells(constraints, max_atoms)
        where = f"over {'-'.join(constraints.elements)}"
        prior = stoichiometry_prior(planner.hull, data_root)
    else:
        proposals = propose(planner.pool * n, seed)
        candidates = [composition for composition, balanced in proposals if balanced]
        where = f"among {len(proposals)} proposals of the chemistry model"
    if not candidates:
        raise ConfigError(
            f"no composition {where} is charge balanced under "
            f"{constraints.oxidation_states} oxidation states within the atom-count limits"
        )
    return planner.choose(candidates, n, rng, prior, share)
