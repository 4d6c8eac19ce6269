"""The ``prototypes`` source: charge-balanced decoration of common known frameworks.

A prototype is a (framework, space group) pair, e.g. ABC3 in Pm-3m, shared by at
least ``MIN_MEMBERS`` known compounds with oxidation states (elements' structures
and triclinic cells are left out); its first member lends
the cell and the sites. A decoration gives each of its elements a new ion of the
same charge sign, drawn by how often that ion occurs among the known crystals,
with the last ion chosen so that the charges cancel exactly; SMACT (both
oxidation-state lists, Pauling's electronegativity order) must then agree, the
elements stay distinct, and a formula the prototype already holds is redrawn.
Prototypes are drawn in proportion to their number of members.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np
from pymatgen.symmetry.groups import sg_symbol_from_int_number

from gendesign.data.known_crystals import KnownCrystals
from gendesign.model.common.constraints import Constraints
from gendesign.sources import redecoration

MIN_MEMBERS = 5  # known crystals a framework needs to count as a prototype


@dataclass(frozen=True)
class Prototype:
    """A common framework: its label, the template that lends its cell, how many known
    crystals share it, and the formulas they have (a decoration must be new)."""

    label: str  # e.g. "ABC3 Pm-3m"
    template: int  # index into the known crystals
    members: int
    formulas: frozenset[str]


def _sign(charge: int) -> int:
    return (charge > 0) - (charge < 0)


def find_prototypes(known: KnownCrystals, templates: list[int]) -> list[Prototype]:
    """Frameworks shared by at least MIN_MEMBERS of ``templates``, largest first."""
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    for index in templates:
        d = known.descriptors[index]
        groups[(d.framework, d.spacegroup)].append(index)
    prototypes = []
    for (framework, number), members in groups.items():
        if len(members) < MIN_MEMBERS or number <= 2 or len(framework) == 1:
            continue  # rare, triclinic (no framework to speak of), or an element's structure
        symbol = sg_symbol_from_int_number(number)
        formulas = frozenset(known.descriptors[k].formula for k in members)
        prototypes.append(Prototype(f"{framework} {symbol}", members[0], len(members), formulas))
    return sorted(prototypes, key=lambda p: (-p.members, p.label))


class PrototypeDecoration(redecoration.TemplateSource):
    """Draws decorated prototypes from ``known`` under ``constraints``."""

    def __init__(self, known: KnownCrystals, constraints: Constraints):
        super().__init__(known, constraints)
        templates = redecoration.template_indices(known, constraints)
        frequency = Counter(
            ion for k in templates for ion in redecoration.ions_of(known, k).items()
        )
        # allowed ions by charge sign, with how many known crystals hold each
        self.pool: dict[int, tuple[list[redecoration.Ion], np.ndarray]] = {}
        for sign in (-1, 0, 1):
            ions = sorted(
                ion
                for ion in frequency
                if _sign(ion[1]) == sign and redecoration.allowed_element(ion[0], constraints)
            )
            self.pool[sign] = (ions, np.array([frequency[ion] for ion in ions], dtype=float))
        self.prototypes = [p for p in find_prototypes(known, templates) if self._feasible(p)]
        members = np.array([p.members for p in self.prototypes], dtype=float)
        self._prototype_odds = members / members.sum() if len(members) else members

    def _feasible(self, prototype: Prototype) -> bool:
        """Every sign the template's ions have is available in enough distinct elements."""
        needed = Counter(
            _sign(q) for q in redecoration.ions_of(self.known, prototype.template).values()
        )
        return all(len({e for e, _ in self.pool[s][0]}) >= n for s, n in needed.items())

    def _can_draw(self) -> bool:
        return bool(self.prototypes)

    def _choose(self, rng: np.random.Generator) -> Prototype:
        return self.prototypes[int(rng.choice(len(self.prototypes), p=self._prototype_odds))]

    def _try(self, prototype: Prototype, rng: np.random.Generator) -> redecoration.Drawn | None:
        old = redecoration.ions_of(self.known, prototype.template)
        template = self.known.structures[prototype.template]
        counts = template.composition.get_el_amt_dict()
        order = [str(e) for e in rng.permutation(list(old))]
        new: dict[str, redecoration.Ion] = {}
        for position, element in enumerate(order):
            taken = {symbol for symbol, _ in new.values()}
            ions, weights = self.pool[_sign(old[element])]
            keep = [k for k, (symbol, _) in enumerate(ions) if symbol not in taken]
            if position == len(order) - 1:  # the last ion cancels the charge exactly
                charge = sum(q * counts[e] for e, (_, q) in new.items())
                keep = [k for k in keep if ions[k][1] * counts[element] == -charge]
            if not keep:
                return None
            chosen = weights[keep]
            new[element] = ions[keep[int(rng.choice(len(keep), p=chosen / chosen.sum()))]]
        if not redecoration.neutral(new, counts, self.constraints):
            return None
        structure = redecoration.redecorated(template, old, new)
        if structure.composition.reduced_formula in prototype.formulas:
            return None
        decoration = " ".join(redecoration.describe_ion(new[e]) for e in old)
        return redecoration.Drawn(
            structure,
            parent=self.known.ids[prototype.template],
            how=f"{prototype.label}: {decoration}",
            values={"prototype": prototype.label, "prototype_members": prototype.members},
        )
