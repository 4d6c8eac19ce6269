"""The ``substitution`` source: data-mined ion exchange on known crystals.

A candidate is a known crystal with one ion exchanged for another (more when the
constraints forbid some of its elements), the new ion drawn with the probability
that Hautier et al. (2011) mined from the ICSD, as pymatgen ships it: P(new | old).
An exchange is kept only when the charges still cancel and SMACT agrees the new
composition is charge balanced; the cell is then rescaled for the new ions'
radii. Elements stay distinct (two ions never become one element).
"""

from __future__ import annotations

from functools import cache

import numpy as np
from pymatgen.analysis.structure_prediction.substitution_probability import (
    SubstitutionProbability,
)

from gendesign.data.known_crystals import KnownCrystals
from gendesign.model.common.constraints import Constraints
from gendesign.sources import redecoration

# pymatgen's Substitutor drops substitutions below this conditional probability.
PROBABILITY_THRESHOLD = 1e-3


@cache
def _probability_table() -> SubstitutionProbability:
    """The data-mined table, built once (its constructor reruns on every call)."""
    return SubstitutionProbability()


@cache
def exchange_options(ion: redecoration.Ion) -> tuple[tuple[redecoration.Ion, ...], np.ndarray]:
    """The ions that may replace ``ion`` (another element) and P(new | old), from the
    data-mined table; empty when the table does not know ``ion``."""
    from pymatgen.core import Species

    table = _probability_table()
    old = Species(*ion)
    if old not in table.species:
        return (), np.zeros(0)
    options, weights = [], []
    for new in sorted(table.species, key=str):
        if new.symbol == old.symbol:
            continue
        probability = table.cond_prob(new, old)
        if probability >= PROBABILITY_THRESHOLD:
            options.append((new.symbol, int(new.oxi_state)))
            weights.append(probability)
    return tuple(options), np.array(weights)


class IonExchange(redecoration.TemplateSource):
    """Draws ion-exchanged candidates from ``known`` under ``constraints``."""

    def __init__(self, known: KnownCrystals, constraints: Constraints):
        super().__init__(known, constraints)
        self.templates = [
            k for k in redecoration.template_indices(known, constraints) if self._feasible(k)
        ]

    def _allowed_options(
        self, ion: redecoration.Ion, taken: set[str]
    ) -> tuple[list[redecoration.Ion], np.ndarray]:
        options, weights = exchange_options(ion)
        keep = [
            k
            for k, (element, _) in enumerate(options)
            if element not in taken and redecoration.allowed_element(element, self.constraints)
        ]
        return [options[k] for k in keep], weights[keep]

    def _feasible(self, index: int) -> bool:
        """Some ion can be exchanged, and every forbidden element has an allowed option."""
        ions = redecoration.ions_of(self.known, index)
        exchangeable = [bool(self._allowed_options(ion, set())[0]) for ion in ions.items()]
        forbidden_ok = all(
            ok or redecoration.allowed_element(element, self.constraints)
            for (element, _), ok in zip(ions.items(), exchangeable, strict=True)
        )
        return any(exchangeable) and forbidden_ok

    def _can_draw(self) -> bool:
        return bool(self.templates)

    def _choose(self, rng: np.random.Generator) -> int:
        return int(rng.choice(self.templates))

    def _try(self, index: int, rng: np.random.Generator) -> redecoration.Drawn | None:
        old = redecoration.ions_of(self.known, index)
        forced = [e for e in old if not redecoration.allowed_element(e, self.constraints)]
        exchanged = forced or [
            str(rng.choice([e for e in old if self._allowed_options((e, old[e]), set())[0]]))
        ]
        new: dict[str, redecoration.Ion] = {e: (e, q) for e, q in old.items() if e not in exchanged}
        probability = 1.0
        for element in map(str, rng.permutation(exchanged)):
            taken = {symbol for symbol, _ in new.values()}
            options, weights = self._allowed_options((element, old[element]), taken)
            if not options:
                return None
            pick = int(rng.choice(len(options), p=weights / weights.sum()))
            new[element] = options[pick]
            probability *= float(weights[pick])
        template = self.known.structures[index]
        counts = template.composition.get_el_amt_dict()
        if not redecoration.neutral(new, counts, self.constraints):
            return None
        changes = ", ".join(
            f"{redecoration.describe_ion((e, old[e]))}→{redecoration.describe_ion(new[e])}"
            for e in sorted(exchanged)
        )
        return redecoration.Drawn(
            redecoration.redecorated(template, old, new),
            parent=self.known.ids[index],
            how=changes,
            values={"substitution_probability": probability},
        )
