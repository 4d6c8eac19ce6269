"""Energy above the hull on a hand-made reference (no data root needed)."""

from __future__ import annotations

import math

import pytest
from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
from pymatgen.core import Composition

from relax.hull import HullReference


def entry(formula: str, e_form_per_atom: float) -> PDEntry:
    composition = Composition(formula)
    return PDEntry(composition, e_form_per_atom * composition.num_atoms)


@pytest.fixture
def reference() -> HullReference:
    return HullReference(
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
    entries = [*(e for system in reference.by_system.values() for e in system)]
    entries += [PDEntry(Composition(s), 0.0) for s in ("Na", "Cl", "O")]
    diagram = PhaseDiagram(entries)
    expected = diagram.get_e_above_hull(entry("Na2ClO", e_form), allow_negative=True)
    assert ours.e_above_hull == pytest.approx(expected, abs=1e-6)
    assert "NaCl" in ours.decomposition and "Na2O" in ours.decomposition


def test_an_element_outside_the_reference_is_named(reference):
    missing = reference.e_above_hull(Composition("NaBr"), -1.5)
    assert missing.status == "no reference" and math.isnan(missing.e_above_hull)
    assert "Br" in missing.reason and "hand-made" in missing.reason
