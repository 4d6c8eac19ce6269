"""Compositional validity by SMACT, following CDVAE's rule.

A composition is valid when some combination of allowed oxidation states makes
the gcd-reduced formula charge neutral and passes Pauling's electronegativity
test (cations less electronegative than anions). Single elements and all-metal
alloys are valid outright. Unlike CDVAE, an element without oxidation-state data
does not crash the check: the verdict names it.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from functools import cache
from math import gcd

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


@cache
def _smact_element(symbol: str) -> tuple[tuple[int, ...], float | None]:
    """(allowed oxidation states, Pauling electronegativity) of one element."""
    element = smact.element_dictionary((symbol,))[symbol]
    return tuple(element.oxidation_states or ()), element.pauling_eneg


def reduced_counts(structure: Structure) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Element symbols (sorted by atomic number) and site counts divided by their gcd."""
    counter = Counter(site.specie.Z for site in structure)
    numbers = sorted(counter)
    counts = [counter[z] for z in numbers]
    divisor = gcd(*counts)
    symbols = tuple(Element.from_Z(z).symbol for z in numbers)
    return symbols, tuple(c // divisor for c in counts)


def smact_validity(symbols: tuple[str, ...], counts: tuple[int, ...]) -> CompositionVerdict:
    """CDVAE's SMACT test on gcd-reduced ``counts`` of ``symbols``."""
    if len(set(symbols)) == 1:
        return CompositionVerdict(True, "")
    if all(symbol in smact.metals for symbol in symbols):
        return CompositionVerdict(True, "")

    data = [_smact_element(symbol) for symbol in symbols]
    no_states = tuple(s for s, (states, _) in zip(symbols, data, strict=True) if not states)
    no_eneg = tuple(s for s, (_, eneg) in zip(symbols, data, strict=True) if eneg is None)
    if no_states:
        return CompositionVerdict(
            False,
            f"no oxidation-state data for {', '.join(no_states)}",
            no_states,
            no_eneg,
        )

    stoichs = [(count,) for count in counts]
    electronegativities = [eneg for _, eneg in data]
    neutral_found = False
    for states in itertools.product(*(states for states, _ in data)):
        if not smact.neutral_ratios(states, stoichs=stoichs, threshold=max(counts)):
            continue
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


def structure_smact_validity(structure: Structure) -> CompositionVerdict:
    """:func:`smact_validity` of a structure's gcd-reduced composition."""
    return smact_validity(*reduced_counts(structure))
