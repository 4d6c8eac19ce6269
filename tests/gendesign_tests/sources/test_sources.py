"""The template candidate sources (ion exchange, prototype decoration) and novelty classes,
on a real slice of the MP-20 training crystals."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from gendesign.audit.composition import charge_balanced, reduced_counts
from gendesign.audit.matching import novelty_classes
from gendesign.data.inputs import dataset_split
from gendesign.data.known_crystals import KnownCrystals, known_crystals
from gendesign.model.common.constraints import Constraints
from gendesign.sources.prototypes import PrototypeDecoration
from gendesign.sources.substitution import IonExchange

SOURCES = {"substitution": IonExchange, "prototypes": PrototypeDecoration}
CONSTRAINT_SETS = {
    "none": Constraints(),
    "Li-Fe-P-O": Constraints(elements=["Li", "Fe", "P", "O"]),
    "no O, 4-12 atoms": Constraints(exclude=["O", "F"], atoms=(4, 12)),
}


@pytest.fixture(scope="module")
def known(mp20) -> KnownCrystals:
    """The first 2,000 MP-20 training crystals with their descriptors."""
    crystals = dataset_split(mp20, "train").subset(range(2000))
    return known_crystals(crystals, "mp20:train[:2000]")


def test_descriptors_are_cached_and_agree_with_pymatgen(known, mp20):
    crystals = dataset_split(mp20, "train").subset(range(2000))
    again = known_crystals(crystals, "mp20:train[:2000]")  # from the cache
    assert again.descriptors == known.descriptors
    for k in (0, 100, 1000):
        d, s = known.descriptors[k], known.structures[k]
        assert d.formula == s.composition.reduced_formula
        assert d.framework == s.composition.anonymized_formula
        assert d.primitive_sites == len(s.get_primitive_structure())
        if d.oxidation_states:  # an integral, charge-neutral assignment
            amounts = s.composition.get_el_amt_dict()
            assert sum(q * amounts[e] for e, q in d.oxidation_states.items()) == 0
    with_states = sum(d.oxidation_states is not None for d in known.descriptors)
    assert 0.3 < with_states / len(known) < 0.8


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("constraint_set", CONSTRAINT_SETS)
def test_every_candidate_honours_the_constraints_and_is_charge_balanced(
    known, source, constraint_set
):
    constraints = CONSTRAINT_SETS[constraint_set]
    drawn = SOURCES[source](known, constraints).draw(30, np.random.default_rng(0))
    made = [d for d in drawn if d is not None]
    assert len(made) >= 27, f"{source} found only {len(made)} of 30 under {constraint_set}"
    parents = dict(zip(known.ids, known.structures, strict=True))
    for item in made:
        structure = item.structure
        symbols = {el.symbol for el in structure.composition.elements}
        assert constraints.report(structure, {}).get("meets_elements", True), symbols
        assert constraints.report(structure, {}).get("meets_atoms", True), len(structure)
        assert charge_balanced(*reduced_counts(structure))
        parent = parents[item.parent]
        # the parent's sites, relabelled: same number of sites and distinct elements
        assert len(structure) == len(parent)
        assert len(symbols) == len(parent.composition.elements)
        assert structure.composition.reduced_formula != parent.composition.reduced_formula
        assert structure.is_ordered and np.isfinite(structure.frac_coords).all()


@pytest.mark.parametrize("source", SOURCES)
def test_the_same_seed_gives_the_same_candidates(known, source):
    first = SOURCES[source](known, Constraints()).draw(10, np.random.default_rng(7))
    again = SOURCES[source](known, Constraints()).draw(10, np.random.default_rng(7))
    other = SOURCES[source](known, Constraints()).draw(10, np.random.default_rng(8))
    assert [d.structure for d in first] == [d.structure for d in again]
    assert [d.how for d in first] == [d.how for d in again]
    assert [d.how for d in first] != [d.how for d in other]


def test_ion_exchange_keeps_the_frame_and_rescales_the_cell(known):
    drawn = IonExchange(known, Constraints()).draw(40, np.random.default_rng(1))
    parents = dict(zip(known.ids, known.structures, strict=True))
    ratios = []
    for item in drawn:
        parent = parents[item.parent]
        # one ion exchanged: all but one element kept with their site counts
        kept = set(parent.composition.get_el_amt_dict()) & set(
            item.structure.composition.get_el_amt_dict()
        )
        assert len(kept) == len(parent.composition.elements) - 1
        assert "→" in item.how and 0 < item.values["substitution_probability"] <= 1
        np.testing.assert_allclose(item.structure.frac_coords, parent.frac_coords, atol=1e-8)
        ratios.append(item.structure.volume / parent.volume)
    # bigger and smaller ions both occur; a cell never shrinks or swells wildly
    assert min(ratios) < 1 < max(ratios)
    assert min(ratios) > 0.4 and max(ratios) < 2.5


def test_prototypes_are_common_symmetric_frameworks(known):
    source = PrototypeDecoration(known, Constraints())
    assert all(p.members >= 5 for p in source.prototypes)
    drawn = source.draw(60, np.random.default_rng(2))
    labels = Counter(item.values["prototype"] for item in drawn)
    assert len(labels) > 5  # not one framework over and over
    for item in drawn:
        framework, _ = item.values["prototype"].split(" ", 1)
        assert item.structure.composition.anonymized_formula == framework


def test_novelty_classes_tell_duplicates_substitutions_and_new_frameworks(known):
    rock_salts = [
        k
        for k, d in enumerate(known.descriptors)
        if d.framework == "AB" and d.spacegroup == 225 and d.primitive_sites == 2
    ]
    assert rock_salts, "the slice holds a rock-salt crystal"
    salt = known.structures[rock_salts[0]]
    relabelled = salt.copy()
    a, b = [el.symbol for el in salt.composition.elements]
    relabelled.replace_species({a: "K" if "K" not in (a, b) else "Na", b: "I"})
    # a structure type no slice crystal has: five different elements on a simple cubic grid
    odd = Structure(
        Lattice.cubic(9.0),
        ["Li", "Be", "B", "Na", "Mg"],
        [[0, 0, 0], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5], [0.5, 0.5, 0.5]],
    )
    strained = salt.copy()
    strained.apply_strain(0.03)  # within the matcher's tolerances
    found = novelty_classes([salt, strained, relabelled, odd], known)
    assert [m.novelty_class for m in found] == [
        "known",
        "known",
        "substitution-derived",
        "novel-framework",
    ]
    assert found[0].matched_id in known.ids and found[3].matched_id is None
    matched = dict(zip(known.ids, known.descriptors, strict=True))[found[2].matched_id]
    assert matched.framework == "AB"


@pytest.mark.parametrize("source", SOURCES)
def test_each_oxidation_state_policy_governs_what_a_source_makes(known, source):
    """The policy is the constraints' one setting: each policy's candidates pass its own
    check (under ``common``: no peroxide, no state a chemist would not write)."""
    made = {}
    for policy in ("common", "permissive"):
        constraints = Constraints(
            elements=["Li", "Na", "Fe", "Mn", "P", "S", "O"],
            within=True,  # any subset: no known crystal holds all seven
            oxidation_states=policy,
        )
        drawn = SOURCES[source](known, constraints).draw(30, np.random.default_rng(4))
        made[policy] = [d.structure for d in drawn if d is not None]
        assert made[policy], f"{source} made nothing under {policy}"
        for structure in made[policy]:
            assert charge_balanced(*reduced_counts(structure), policy)
