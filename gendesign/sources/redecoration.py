"""What both template sources share: the drawn-candidate record, drawing with retries,
the element rules of the constraints, and building a re-decorated crystal from a known one.

A template is a known crystal with a charge-neutral integral oxidation state per
element (pymatgen's ICSD-based guess, :mod:`gendesign.data.known_crystals`);
crystals without one (intermetallics, mixed valence) are not used as templates.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pymatgen.analysis.structure_prediction.volume_predictor import RLSVolumePredictor
from pymatgen.core import Species, Structure

from gendesign.audit.composition import charge_balanced
from gendesign.data.known_crystals import KnownCrystals
from gendesign.model.common.constraints import Constraints

Ion = tuple[str, int]  # (element symbol, oxidation state)
# Tries per candidate before a source gives up on it (the draw records None).
TRIES_PER_CANDIDATE = 200


@dataclass
class Drawn:
    """One candidate from a template source: the crystal and what it was made from."""

    structure: Structure
    parent: str  # id of the known crystal it was built from
    how: str  # e.g. "Fe2+→Mn2+" or "ABC3 #221: Sr2+ Ti4+ O2-"
    values: dict[str, Any] = field(default_factory=dict)


class TemplateSource:
    """A source that builds candidates from known crystals under ``constraints``: each
    candidate is the first of up to ``TRIES_PER_CANDIDATE`` random tries that works.
    A source says what it tries (:meth:`_choose`) and how (:meth:`_try`)."""

    def __init__(self, known: KnownCrystals, constraints: Constraints):
        self.known = known
        self.constraints = constraints

    def draw(self, count: int, rng: np.random.Generator) -> list[Drawn | None]:
        """``count`` candidates; None where no try worked."""
        return [self._one(rng) for _ in range(count)]

    def _one(self, rng: np.random.Generator) -> Drawn | None:
        if not self._can_draw():
            return None
        for _ in range(TRIES_PER_CANDIDATE):
            drawn = self._try(self._choose(rng), rng)
            if drawn is not None and self.constraints.meets_elements(
                {el.symbol for el in drawn.structure.composition.elements}
            ):
                return drawn
        return None

    def _can_draw(self) -> bool:
        raise NotImplementedError

    def _choose(self, rng: np.random.Generator) -> Any:
        """What one try starts from (a template, a prototype)."""
        raise NotImplementedError

    def _try(self, choice: Any, rng: np.random.Generator) -> Drawn | None:
        """A candidate built from ``choice``, or None when this try fails."""
        raise NotImplementedError


def template_indices(known: KnownCrystals, constraints: Constraints) -> list[int]:
    """Known crystals that can serve as templates: oxidation states known, atom count
    inside the ``atoms`` range (both sources keep a template's atom count)."""
    return [
        k
        for k, descriptor in enumerate(known.descriptors)
        if descriptor.oxidation_states
        and constraints.atoms.contains(float(len(known.structures[k])))
    ]


def allowed_element(symbol: str, constraints: Constraints) -> bool:
    """Whether the constraints let a candidate contain ``symbol``."""
    if constraints.elements and symbol not in constraints.elements:
        return False
    return symbol not in constraints.exclude


def ions_of(known: KnownCrystals, index: int) -> dict[str, int]:
    """Element → oxidation state of template ``index``."""
    states = known.descriptors[index].oxidation_states
    assert states is not None, "templates have oxidation states"
    return states


def redecorated(template: Structure, old: dict[str, int], new: dict[str, Ion]) -> Structure:
    """``template`` with each element ``e`` replaced by ``new[e]`` (element, charge), its
    volume rescaled by ionic radii (pymatgen's reference lattice scaling, atomic radii
    where an ion has no tabulated radius); returned without oxidation states."""
    reference = template.copy()
    reference.add_oxidation_state_by_element(old)
    changed = reference.copy()
    changed.replace_species(
        {Species(element, charge): Species(*new[element]) for element, charge in old.items()}
    )
    with warnings.catch_warnings():  # "will attempt atomic radii" is the documented fallback
        warnings.simplefilter("ignore")
        predictor = RLSVolumePredictor(check_isostructural=False, use_bv=False)
        scaled = predictor.get_predicted_structure(changed, reference)
    # a fresh structure: the template's site labels ("Zn2+") would otherwise stay behind
    return Structure(scaled.lattice, [site.specie.element for site in scaled], scaled.frac_coords)


def neutral(ions: dict[str, Ion], counts: dict[str, float], constraints: Constraints) -> bool:
    """Whether the ions' charges cancel over ``counts`` (sites per old element) and the
    new composition is charge balanced under the constraints' oxidation-state policy."""
    if sum(charge * counts[old] for old, (_, charge) in ions.items()) != 0:
        return False
    symbols = tuple(element for element, _ in ions.values())
    counts_new = tuple(int(counts[old]) for old in ions)
    return charge_balanced(symbols, counts_new, constraints.oxidation_states)


def describe_ion(ion: Ion) -> str:
    element, charge = ion
    sign = "+" if charge > 0 else "-" if charge < 0 else ""
    return f"{element}{abs(charge) if abs(charge) != 1 else ''}{sign}" if charge else element
