"""Stability-aware compositions: enumerated or proposed, estimated against the MP-20
hull, drawn toward it, and decoded by the bundled mp20 model exactly as given."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from pymatgen.core import Composition

from gendesign.audit.composition import charge_balanced
from gendesign.errors import ConfigError
from gendesign.model.common.constraints import Constraints
from gendesign.model.generator import Generator
from gendesign.sources.hull_compositions import (
    HullCompositionPlanner,
    plan_compositions,
    role_type,
    stoichiometry_prior,
    stoichiometry_type,
)
from predictors.composition import bundled_judge
from relax.reference_hull import mp20_hull_reference

pytestmark = pytest.mark.needs_data  # the MP-20 hull and training compositions


@pytest.fixture(scope="module")
def planner() -> HullCompositionPlanner:
    return HullCompositionPlanner(bundled_judge(), mp20_hull_reference(None, ("train",)))


@pytest.fixture(scope="module")
def generator() -> Generator:
    return Generator.from_pretrained("mp20", device="cpu")


def _symbols_counts(composition: Composition):
    elements = sorted(composition.elements, key=lambda el: el.Z)
    return tuple(e.symbol for e in elements), tuple(int(composition[e]) for e in elements)


def test_enumeration_covers_the_systems_balanced_formulas_and_nothing_else(planner):
    constraints = Constraints.parse(elements="Ca,Si,N", atoms="2:16")
    cells = planner.enumerate_cells(constraints, max_atoms=20)
    formulas = {c.reduced_formula for c in cells}
    assert "CaSiN2" in formulas  # MP-20 test only
    for cell in cells:  # the system asked for: every element in every formula
        assert 3 <= cell.num_atoms <= 16
        assert {el.symbol for el in cell.elements} == {"Ca", "Si", "N"}
        assert charge_balanced(*_symbols_counts(cell), "common")
    within = Constraints.parse(elements="Ca,Si,N", atoms="2:16", within=True)
    subsets = {c.reduced_formula for c in planner.enumerate_cells(within, max_atoms=20)}
    assert {"CaSiN2", "Ca3N2", "Si3N4", "Ca2Si"} <= subsets
    assert "CaN2" not in subsets  # a pernitride: N -1 is no common state
    assert all(len(Composition(f).elements) >= 2 for f in subsets)


def test_a_systems_known_ground_state_leads_the_plan(planner):
    """Mg-Al-O: the spinel, the system's one known ternary, is known to the hull (E_hull 0)
    and of the commonest ternary stoichiometry type; tie-line formulas such as Mg7Al2O10,
    which a composition model puts near the hull too, trail it by far."""
    constraints = Constraints.parse(elements="Mg,Al,O")
    planned = plan_compositions(planner, 30, 0, constraints, 20, None)
    formulas = Counter(p.composition.reduced_formula for p in planned)
    assert formulas["MgAl2O4"] == 9 == max(formulas.values())  # the per-system cap, 0.3 of 30
    assert formulas["Mg7Al2O10"] <= 1
    assert {p.e_hull_estimate for p in planned if p.composition.reduced_formula == "MgAl2O4"} == {
        0.0
    }
    assert stoichiometry_type("MgAl2O4") == stoichiometry_type("ZnCr2S4") == (1, 2, 4)
    assert stoichiometry_type("Li0.5Fe0.5PO4") == (1, 1, 2, 8)


def test_roles_rank_a_phosphate_above_a_phosphide_oxide(planner):
    """Li-Fe-P-O, whose compounds this hull (MP-20 train, ≤ 20 atoms) lacks: LiFePO4 has
    the role type of hundreds of phosphates and silicates (ABCX4, anion last); Li6FeP2O
    shares an ascending type (1, 1, 2, 6) with many compounds but its roles (six Li, one
    O) with none, and is not planned at all."""
    assert role_type(Composition("LiFePO4")) == (1, 1, 1, 4)
    assert role_type(Composition("Li6FeP2O")) == (6, 1, 2, 1)
    assert role_type(Composition("Mg2Al4O8")) == (1, 2, 4)
    prior = stoichiometry_prior(planner.hull)
    assert prior(Composition("LiFePO4")) > 100 * prior(Composition("Li6FeP2O"))
    constraints = Constraints.parse(elements="Li,Fe,P,O")
    planned = [plan_compositions(planner, 40, seed, constraints, 20, None) for seed in (0, 1)]
    formulas = Counter(p.composition.reduced_formula for plan in planned for p in plan)
    assert formulas["LiFePO4"] >= 5 and formulas["Li6FeP2O"] == 0


def test_estimates_put_known_phases_near_the_hull_and_odd_ones_above(planner):
    estimates = planner.estimates([Composition(f) for f in ("LiFePO4", "Li3PO4", "Li2Fe")])
    assert estimates["Li3PO4"][1] < 0.05 and estimates["LiFePO4"][1] < 0.05
    # Li and Fe form no compound: the estimate (one ensemble σ pessimistic) is well above
    assert estimates["Li2Fe"][1] > 0.15
    assert estimates["LiFePO4"][0] < -2.0  # eV/atom, a formation energy


def test_drawing_caps_each_formula_and_repeats_per_seed(planner, generator):
    constraints = Constraints.parse(elements="K,La,S")

    def propose(n, seed):
        return generator.propose_compositions(n, seed, constraints)

    first = plan_compositions(planner, 40, 1, constraints, 20, propose)
    again = plan_compositions(planner, 40, 1, constraints, 20, propose)
    other = plan_compositions(planner, 40, 2, constraints, 20, propose)
    formulas = Counter(p.composition.reduced_formula for p in first)
    assert len(first) == 40 and max(formulas.values()) <= 12  # system_max_share 0.3 of 40
    assert len(formulas) >= 3
    assert [p.composition for p in first] == [p.composition for p in again]
    assert [p.composition for p in first] != [p.composition for p in other]
    assert all(np.isfinite(p.e_hull_estimate) for p in first)


def test_open_element_sets_reweight_the_models_own_proposals(planner, generator):
    constraints = Constraints(atoms=(2, 12))
    proposals = generator.propose_compositions(64, 0, constraints)
    assert len(proposals) == 64
    for composition, balanced in proposals:
        assert 2 <= composition.num_atoms <= 12
        assert balanced == charge_balanced(*_symbols_counts(composition), "common")
    plan = plan_compositions(
        planner,
        30,
        0,
        constraints,
        20,
        lambda n, s: generator.propose_compositions(n, s, constraints),
    )
    assert len(plan) == 30
    assert all(charge_balanced(*_symbols_counts(p.composition), "common") for p in plan)


def test_the_model_decodes_the_given_compositions_exactly(generator):
    given = [Composition("Ca4Si4N8"), Composition("K2La2S4"), Composition("Li3Cl1O1")]
    structures, table = generator.sample_table(3, 0, compositions=given)
    assert [s.composition for s in structures] == given
    assert table["charge_balanced"].tolist() == [True, True, True]


def test_what_cannot_be_decoded_or_planned_is_one_sentence(planner, generator):
    with pytest.raises(ConfigError, match="this model never saw Og"):
        generator.sample_table(1, 0, compositions=[Composition("OgCl")])
    with pytest.raises(ConfigError, match="2 compositions given for 3 crystals"):
        generator.sample_table(3, 0, compositions=[Composition("NaCl")] * 2)
    with pytest.raises(ConfigError, match="need a crystalflow model"):
        Generator.from_pretrained("mp20-cdvae", device="cpu").propose_compositions(4)
    with pytest.raises(ConfigError, match="no composition over Ne-Ar is charge balanced"):
        plan_compositions(planner, 4, 0, Constraints.parse(elements="Ne,Ar"), 20, None)
    # a system with a single balanced cell still fills every sample with it
    salt = Constraints.parse(elements="Na,Cl", atoms="2:2")
    plan = plan_compositions(planner, 3, 0, salt, 20, None)
    assert [p.composition.formula for p in plan] == ["Na1 Cl1"] * 3
