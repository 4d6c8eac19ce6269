"""Compositional validity by SMACT, following CDVAE's rule.

A composition is valid when some combination of allowed oxidation states makes
the gcd-reduced formula charge neutral and passes Pauling's electronegativity
test (cations less electronegative than anions). Single elements and all-metal
alloys are valid outright. Unlike CDVAE, an element without oxidation-state data
does not crash the check: the verdict names it.

Which oxidation states are allowed is a choice of list: ``icsd24`` (SMACT 4's
default, from the 2024 ICSD; the stricter check, used by default) or ``smact14``
(SMACT's 2014 list, which CDVAE and DiffCSP evaluated with; the ``cdvae`` audit
protocol uses it so that figures compare with theirs).

What the generator, the template sources and a campaign's audit call *charge
balanced* is one setting, the **oxidation-state policy**:

- ``common`` (default): the states a chemist writes first: pymatgen's common
  oxidation states plus the positive states its ICSD table lists (O −2 only,
  N −3, S −2, Fe +2/+3, V +2 to +5, Cu +1 to +3). Peroxides, persulfides,
  pernitrides, suboxides and P(+1) oxides fail; 81.7 % of MP-20's test crystals
  pass (most that fail are mixed valence, such as LiMn2O4, which one state per
  element cannot express; 1.6 % are polyanion compounds such as pyrite-type CoP2).
- ``icsd``: SMACT's ICSD-24 list (every state seen in the 2024 ICSD, O −1 included).
- ``permissive``: SMACT's 2014 list (P from −3 to +5, O −1 and +1, ...).

Under every policy the Pauling test applies and all-metal cells (intermetallics)
and single elements pass.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from math import gcd
from typing import Literal

import smact
from pymatgen.core import Element, Structure
from smact.screening import pauling_test


@dataclass(frozen=True)
class CompositionVerdict:
    """SMACT verdict for one composition."""

    valid: bool
    reason: str  # empty when valid; why it failed otherwise
    elements_without_oxidation_states: tuple[str, ...] = ()
    elements_without_electronegativity: tuple[str, ...] = ()


OxidationStateList = Literal["icsd24", "smact14", "common"]
DEFAULT_OXIDATION_STATES: OxidationStateList = "icsd24"

OxidationPolicy = Literal["common", "icsd", "permissive"]
DEFAULT_POLICY: OxidationPolicy = "common"
POLICY_LISTS: dict[str, OxidationStateList] = {
    "common": "common",
    "icsd": "icsd24",
    "permissive": "smact14",
}


@cache
def _smact_element(
    symbol: str, states: OxidationStateList = DEFAULT_OXIDATION_STATES
) -> tuple[tuple[int, ...], float | None]:
    """(allowed oxidation states from list ``states``, Pauling electronegativity)."""
    element = smact.element_dictionary((symbol,))[symbol]
    if states == "common":
        element_data = Element(symbol)
        cations = {state for state in element_data.icsd_oxidation_states if state > 0}
        allowed = tuple(sorted(set(element_data.common_oxidation_states) | cations))
    else:
        allowed = tuple(getattr(element, f"oxidation_states_{states}") or ())
    return allowed, element.pauling_eneg


def reduced_counts(structure: Structure) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Element symbols (sorted by atomic number) and site counts divided by their gcd."""
    counter = Counter(site.specie.Z for site in structure)
    numbers = sorted(counter)
    counts = [counter[z] for z in numbers]
    divisor = gcd(*counts)
    symbols = tuple(Element.from_Z(z).symbol for z in numbers)
    return symbols, tuple(c // divisor for c in counts)


def smact_validity(
    symbols: tuple[str, ...],
    counts: tuple[int, ...],
    states: OxidationStateList = DEFAULT_OXIDATION_STATES,
) -> CompositionVerdict:
    """CDVAE's SMACT test on gcd-reduced ``counts`` of ``symbols`` with oxidation-state
    list ``states``."""
    if len(set(symbols)) == 1:
        return CompositionVerdict(True, "")
    if all(symbol in smact.metals for symbol in symbols):
        return CompositionVerdict(True, "")

    data = [_smact_element(symbol, states) for symbol in symbols]
    no_states = tuple(s for s, (states, _) in zip(symbols, data, strict=True) if not states)
    no_eneg = tuple(s for s, (_, eneg) in zip(symbols, data, strict=True) if eneg is None)
    if no_states:
        return CompositionVerdict(
            False,
            f"no oxidation-state data for {', '.join(no_states)}",
            no_states,
            no_eneg,
        )

    electronegativities = [eneg for _, eneg in data]
    neutral_found = False
    for states in neutral_combinations([states for states, _ in data], counts):
        neutral_found = True
        try:
            if pauling_test(states, electronegativities):
                return CompositionVerdict(True, "", (), no_eneg)
        except TypeError:
            # No electronegativity for some element: CDVAE accepts the combination.
            return CompositionVerdict(True, "", (), no_eneg)
    reason = (
        "charge-neutral oxidation states fail the Pauling electronegativity test"
        if neutral_found
        else "no combination of allowed oxidation states is charge neutral"
    )
    return CompositionVerdict(False, reason, (), no_eneg)


def neutral_combinations(
    choices: list[tuple[int, ...]], counts: tuple[int, ...]
) -> Iterator[tuple[int, ...]]:
    """The oxidation-state combinations (one state per element) with
    sum(count × state) = 0, in ``itertools.product`` order.

    The same ones that testing every product would find, but a depth-first search
    prunes a prefix as soon as no choice of the remaining states can cancel its
    charge, so many-element compositions take milliseconds instead of seconds.
    """
    # reachable[k]: every total charge the elements k.. can contribute
    reachable: list[set[int]] = [set() for _ in choices] + [{0}]
    for k in range(len(choices) - 1, -1, -1):
        reachable[k] = {c * counts[k] + rest for c in choices[k] for rest in reachable[k + 1]}

    def search(k: int, charge: int, prefix: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
        if k == len(choices):
            yield prefix
            return
        for state in choices[k]:
            if -(charge + state * counts[k]) in reachable[k + 1]:
                yield from search(k + 1, charge + state * counts[k], (*prefix, state))

    yield from search(0, 0, ())


def structure_smact_validity(
    structure: Structure, states: OxidationStateList = DEFAULT_OXIDATION_STATES
) -> CompositionVerdict:
    """:func:`smact_validity` of a structure's gcd-reduced composition."""
    return smact_validity(*reduced_counts(structure), states)


@lru_cache(maxsize=200_000)
def charge_balanced(
    symbols: tuple[str, ...], counts: tuple[int, ...], policy: OxidationPolicy = DEFAULT_POLICY
) -> bool:
    """Whether ``counts`` of ``symbols`` (any multiple of the formula) are charge balanced
    under the oxidation-state ``policy`` (see the module docstring): what every
    candidate source promises."""
    if policy not in POLICY_LISTS:
        raise ValueError(
            f"unknown oxidation-state policy '{policy}'; choose from {', '.join(POLICY_LISTS)}"
        )
    divisor = gcd(*counts)
    reduced = tuple(c // divisor for c in counts)
    return smact_validity(symbols, reduced, POLICY_LISTS[policy]).valid


def structure_balanced(structure: Structure, policy: OxidationPolicy = DEFAULT_POLICY) -> bool:
    """:func:`charge_balanced` of a structure's composition."""
    return charge_balanced(*reduced_counts(structure), policy)
