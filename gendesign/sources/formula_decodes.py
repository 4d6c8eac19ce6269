"""A chosen formula decoded through the known frameworks of its stoichiometry.

The flow decodes a formula into whatever arrangement its training suggests; a
chemist asked for MgAl2O4 first tries the spinel, the framework hundreds of AB2X4
compounds share, and for LiFePO4 the olivine. Here a formula's *frameworks* are the
known crystals of its stoichiometry type (MgAl2O4, ZnCr2S4: one atom, two, four),
grouped by prototype (space group and Wyckoff letters per element,
:func:`gendesign.data.known_crystals.prototype_label`), the most common first.
Decoding the formula through one of them puts each of its elements on the sites of
the template element with the same share of the formula and, among equal shares, the
same rank by oxidation state (then electronegativity): Li⁺ Fe²⁺ P⁵⁺ on the olivine
NaMnPO4's Na⁺ Mn²⁺ P⁵⁺ sites. The cell is rescaled by ionic radii
(:func:`gendesign.sources.redecoration.redecorated`).

Frameworks come from the model's training crystals and, for larger cells than
those hold (the olivine's 28 atoms), from MPTS-52's DFT-relaxed crystals of the
same stoichiometry, parsed only for the formulas asked for.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from dataclasses import dataclass

import pandas as pd
from pymatgen.core import Composition, Element, Structure

from gendesign.data.crystal_set import CrystalSet
from gendesign.data.known_crystals import (
    KnownCrystals,
    composition_oxidation_states,
    known_crystals,
)
from gendesign.model.common.constraints import Constraints
from gendesign.sources.hull_compositions import stoichiometry_type
from gendesign.sources.redecoration import Drawn, Ion, redecorated


@dataclass(frozen=True)
class Framework:
    """One prototype of a stoichiometry: the crystal that lends its cell (for one formula:
    the member whose ions are closest in size to the formula's), how many known crystals
    share it, and that closest member's mean ionic-radius mismatch."""

    label: str  # e.g. "227:a|c|e" (space group: Wyckoff letters per element)
    template: int  # index into the decoder's known crystals
    members: int
    mismatch: float = 0.0  # Å, mean |r(template ion) - r(formula ion)| over the elements


class FormulaDecoder:
    """Decodes formulas through the frameworks of their stoichiometry (module docstring).

    ``known``: crystals with full descriptors (oxidation states); ``leave_out``: chemical
    systems (e.g. ``{"Al-Mg-O"}``) whose own crystals may not lend a framework, so a
    benchmark can ask whether a system's known phase is found without being shown it."""

    def __init__(
        self,
        known: KnownCrystals,
        constraints: Constraints | None = None,
        leave_out: set[str] | frozenset[str] = frozenset(),
    ):
        self.known = known
        self.constraints = constraints or Constraints()
        groups: dict[tuple, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
        for index, descriptor in enumerate(known.descriptors):
            system = "-".join(sorted(Composition(descriptor.formula).chemical_system.split("-")))
            atoms = len(known.structures[index])
            if (
                not descriptor.oxidation_states
                or system in leave_out
                or not self.constraints.atoms.contains(float(atoms))
            ):
                continue
            kind = stoichiometry_type(descriptor.formula)
            groups[kind][descriptor.prototype].append(index)
        self._groups = {kind: dict(by_label) for kind, by_label in groups.items()}
        self._cache: dict[str, list[Framework]] = {}

    def frameworks(self, composition: Composition) -> list[Framework]:
        """The frameworks of ``composition``'s stoichiometry that its ions can take, each
        lent by its member with the closest ionic radii; ordered as a chemist would try
        them: by that size mismatch in steps of 0.1 Å (Goldschmidt's reasoning: ions of
        the right sizes pick the structure type), then the most common first."""
        formula = composition.reduced_formula
        if formula not in self._cache:
            ions = composition_oxidation_states(composition)
            found = []
            kind = stoichiometry_type(formula)
            for label, members in self._groups.get(kind, {}).items():
                scored = [
                    (_mismatch(self.known, index, composition, ions), index) for index in members
                ]
                scored = [(m, index) for m, index in scored if m is not None]
                if scored:
                    mismatch, best = min(scored)
                    found.append(Framework(label, best, len(members), mismatch))
            self._cache[formula] = sorted(
                found, key=lambda f: (round(f.mismatch, 1), -f.members, f.label)
            )
        return self._cache[formula]

    def decode(self, composition: Composition, framework: Framework) -> Drawn | None:
        """``composition``'s elements on ``framework``'s sites; None when their oxidation
        states cannot take the template's sites (a cation on an anion's site)."""
        template = self.known.structures[framework.template]
        old = self.known.descriptors[framework.template].oxidation_states or {}
        new = composition_oxidation_states(composition)
        if new is None:
            return None
        mapping = _assign(Composition(template.composition.reduced_formula), old, composition, new)
        if mapping is None:
            return None
        structure = redecorated(template, old, mapping)
        parent = self.known.ids[framework.template]
        how = (
            f"{framework.label} of {template.composition.reduced_formula} "
            f"({framework.members} known): "
            + ", ".join(f"{a}→{b}" for a, (b, _) in mapping.items() if a != b)
        )
        return Drawn(structure, parent, how.rstrip(": "), {"framework": framework.label})


def _radius(symbol: str, charge: int) -> float:
    """Shannon ionic radius (Å) of the ion, else the element's atomic radius."""
    from pymatgen.core import Species

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            radius = Species(symbol, charge).ionic_radius
        except (ValueError, KeyError):
            radius = None
        return float(radius or Element(symbol).atomic_radius or 1.5)


def _mismatch(known: KnownCrystals, index: int, composition: Composition, ions) -> float | None:
    """Mean ionic-radius difference (Å) of ``composition`` placed on crystal ``index``'s
    sites; None when its ions cannot take them."""
    if ions is None:
        return None
    old = known.descriptors[index].oxidation_states or {}
    template = Composition(known.descriptors[index].formula)
    mapping = _assign(template, old, composition, ions)
    if mapping is None:
        return None
    differences = [abs(_radius(a, old[a]) - _radius(b, q)) for a, (b, q) in mapping.items()]
    return sum(differences) / len(differences)


def _rank_key(symbol: str, charge: int) -> tuple[float, float]:
    return (charge, Element(symbol).X)


def _assign(
    template: Composition, old: dict[str, int], target: Composition, new: dict[str, int]
) -> dict[str, Ion] | None:
    """Template element → (target element, its charge): equal shares of the reduced
    formula pair up, ranked by charge then electronegativity; None when a pair's charges
    differ in sign."""
    by_share: dict[float, list[str]] = defaultdict(list)
    target_share: dict[float, list[str]] = defaultdict(list)
    reduced = target.reduced_composition
    for element in template.elements:
        by_share[round(template.get_atomic_fraction(element), 6)].append(element.symbol)
    for element in reduced.elements:
        target_share[round(reduced.get_atomic_fraction(element), 6)].append(element.symbol)
    if sorted((k, len(v)) for k, v in by_share.items()) != sorted(
        (k, len(v)) for k, v in target_share.items()
    ):
        return None
    mapping: dict[str, Ion] = {}
    for share, olds in by_share.items():
        olds = sorted(olds, key=lambda s: _rank_key(s, old[s]))
        news = sorted(target_share[share], key=lambda s: _rank_key(s, new[s]))
        for a, b in zip(olds, news, strict=True):
            if (old[a] > 0) != (new[b] > 0) or (old[a] < 0) != (new[b] < 0):
                return None
            mapping[a] = (b, new[b])
    return mapping


def framework_crystals(
    kinds: set[tuple[int, ...]],
    training: KnownCrystals,
    data_root: str | None = None,
) -> KnownCrystals:
    """``training`` plus MPTS-52's crystals of the stoichiometry types ``kinds`` (the
    only ones parsed), described for template use."""
    from gendesign.data.energy_tables import MPTS52_SPLITS, read_mpts52

    ids, structures = [], []
    for split in MPTS52_SPLITS:
        table = read_mpts52(split, data_root)
        wanted = table[[stoichiometry_type(f) in kinds for f in table["formula"]]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for row in wanted.itertuples():
                ids.append(f"mpts52:{row.material_id}")
                structures.append(Structure.from_str(row.cif, fmt="cif"))
    extra = known_crystals(CrystalSet(ids, structures), "mpts52")
    return KnownCrystals(
        f"{training.label}+mpts52",
        [*training.ids, *extra.ids],
        [*training.structures, *extra.structures],
        [*training.descriptors, *extra.descriptors],
        [training.split_of(k) for k in range(len(training))] + ["mpts52"] * len(extra),
    )


# Of a formula's samples, every other one goes to its next framework (most common
# first) until MAX_FRAMEWORKS are used; the rest are the flow's.
MAX_FRAMEWORKS = 6


def framework_plan(
    compositions: list[Composition], decoder: FormulaDecoder | None
) -> list[Framework | None]:
    """Per planned composition, the framework that decodes it (None: the flow does)."""
    if decoder is None:
        return [None] * len(compositions)
    seen: dict[str, int] = defaultdict(int)
    used: dict[str, int] = defaultdict(int)
    plan: list[Framework | None] = []
    for composition in compositions:
        formula = composition.reduced_formula
        frameworks = decoder.frameworks(composition)[:MAX_FRAMEWORKS]
        turn = seen[formula]
        seen[formula] += 1
        if turn % 2 == 0 and used[formula] < len(frameworks):
            plan.append(frameworks[used[formula]])
            used[formula] += 1
        else:
            plan.append(None)
    return plan


def sample_planned(
    generator,
    compositions: list[Composition],
    seed: int,
    constraints: Constraints,
    sampling,
    decoder: FormulaDecoder | None,
    steering_steps: int = 300,
    progress=None,
) -> tuple[list[Structure], pd.DataFrame]:
    """A crystal per planned composition, decoded through a framework of its
    stoichiometry (:func:`framework_plan`) or by the flow, in the given order; the
    table's ``decoder`` column says which (``flow`` or ``framework``), ``made_by`` how."""
    plan = framework_plan(compositions, decoder)
    drawn = [
        decoder.decode(c, framework) if framework is not None and decoder is not None else None
        for c, framework in zip(compositions, plan, strict=True)
    ]
    by_flow = [k for k, item in enumerate(drawn) if item is None]  # a failed decode goes too
    structures: list[Structure | None] = [None] * len(compositions)
    rows: list[dict | None] = [None] * len(compositions)
    if by_flow:
        flow, table = generator.sample_table(
            len(by_flow), seed, constraints, sampling, steering_steps=steering_steps,
            compositions=[compositions[k] for k in by_flow], progress=progress,
        )  # fmt: skip
        for k, structure, row in zip(by_flow, flow, table.to_dict("records"), strict=True):
            structures[k], rows[k] = structure, {**row, "decoder": "flow", "made_by": ""}
    for k, item in enumerate(drawn):
        if item is None:
            continue
        structure = item.structure
        structures[k] = structure
        rows[k] = {
            "formula": structure.composition.reduced_formula,
            "n_atoms": len(structure),
            "charge_balanced": True,
            "decoder": "framework",
            "made_by": item.how,
            "parent": item.parent,
            **constraints.report(structure, {}),
        }
        if progress:
            progress(1)
    table = pd.DataFrame(rows)
    table["id"] = [f"sample-{seed}-{k:05d}" for k in range(len(rows))]
    return structures, table
