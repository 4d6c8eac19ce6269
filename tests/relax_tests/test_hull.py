"""Energy above the hull on a hand-made reference (no data root needed): E_hull, the
decomposition, leaving a scored crystal's own entry out, and the reference's coverage."""

from __future__ import annotations

import math

import pytest
from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
from pymatgen.core import Composition

from relax.hull import HullPhase, HullReference


def entry(formula: str, e_form_per_atom: float) -> PDEntry:
    composition = Composition(formula)
    return PDEntry(composition, e_form_per_atom * composition.num_atoms)


@pytest.fixture
def reference() -> HullReference:
    return HullReference.from_entries(
        [entry("NaCl", -2.0), entry("Na2O", -1.4), entry("NaO2", -0.9), entry("Cl2O", 0.3)],
        "hand-made",
    )


def test_on_below_and_above_the_hull(reference):
    on = reference.e_above_hull(Composition("NaCl"), -2.0)
    assert on.status == "ok" and on.e_above_hull == pytest.approx(0.0, abs=1e-9)
    assert on.decomposition == "1 NaCl"
    above = reference.e_above_hull(Composition("NaCl"), -1.7)
    assert above.e_above_hull == pytest.approx(0.3)
    below = reference.e_above_hull(Composition("Na3Cl3"), -2.1)  # the reduced formula counts
    assert below.e_above_hull == pytest.approx(-0.1)


def test_a_mixture_matches_pymatgens_phase_diagram(reference):
    composition, e_form = Composition("Na2ClO"), -1.0
    ours = reference.e_above_hull(composition, e_form)
    entries = reference.system_entries(frozenset({"Na", "Cl", "O"}))
    diagram = PhaseDiagram(entries)
    expected = diagram.get_e_above_hull(entry("Na2ClO", e_form), allow_negative=True)
    assert ours.e_above_hull == pytest.approx(expected, abs=1e-6)
    assert "NaCl" in ours.decomposition and "Na2O" in ours.decomposition


def test_an_element_outside_the_reference_is_named(reference):
    missing = reference.e_above_hull(Composition("NaBr"), -1.5)
    assert missing.status == "no reference" and math.isnan(missing.e_above_hull)
    assert "Br" in missing.reason and "hand-made" in missing.reason


def test_a_scored_crystal_is_left_out_of_its_own_hull():
    """By id, and for a source without ids by formula and energy: a stable crystal that is
    its own hull would sit at 0 eV/atom; left out, it lies below what else is known."""
    reference = HullReference(
        [
            HullPhase("NaCl", -2.0, "mp20", "mp-22862"),
            HullPhase("NaCl", -1.98, "mp_e_form", ""),  # the same crystal, another scheme
            HullPhase("NaCl", -1.7, "mp_e_form", ""),  # a real polymorph, 0.3 eV/atom up
        ],
        "test",
    )
    salt = Composition("NaCl")
    assert reference.e_above_hull(salt, -2.0).e_above_hull == pytest.approx(0.0)
    alone = reference.e_above_hull(salt, -2.0, leave_out="mp-22862")
    assert alone.e_above_hull == pytest.approx(-0.3) and alone.decomposition == "1 NaCl [MP]"
    polymorph = reference.e_above_hull(salt, -1.7, leave_out="mp-1")  # not in the hull
    assert polymorph.e_above_hull == pytest.approx(0.3)


def test_coverage_names_missing_subsystems_and_the_compounds_that_should_exist():
    reference = HullReference.from_entries([entry("ZnO", -1.8), entry("ZnBr2", -0.9)], "zn")
    coverage = reference.coverage(Composition("Zn3IBrO2"))
    assert "I-Zn" in coverage.empty_subsystems and "Br-Zn" not in coverage.empty_subsystems
    assert "ZnI2" in coverage.expected and coverage.lower_bound
    note = coverage.note()
    assert note.startswith("E_hull is a lower bound: the reference holds no ")
    assert "I-Zn" in note and "ZnI2" in note
    # two metals need not form a compound: a missing Mg-Zn binary bounds nothing
    alloys = HullReference.from_entries([entry("MgO", -3.0), entry("ZnO", -1.8)], "oxides")
    assert not alloys.coverage(Composition("MgZnO2")).lower_bound


def test_extra_phases_join_a_new_reference_and_leave_the_old_one_alone(reference):
    joined = reference.with_phases([HullPhase("NaCl", -2.5, "estimate", "")], "plus")
    assert joined.e_above_hull(Composition("NaCl"), -2.0).e_above_hull == pytest.approx(0.5)
    assert reference.e_above_hull(Composition("NaCl"), -2.0).e_above_hull == pytest.approx(0.0)
    assert len(joined) == len(reference) + 1 and joined.version != reference.version
    assert reference.tag == f"hand-made@{reference.version}" and "4 phases" in reference.label
