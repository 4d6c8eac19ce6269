"""A formula decoded through the known frameworks of its stoichiometry: MgAl2O4 as a
spinel, LiFePO4 as an olivine, with the system's own crystals held out on request."""

from __future__ import annotations

import pytest
from pymatgen.core import Composition
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from gendesign.data.inputs import dataset_split
from gendesign.data.known_crystals import known_crystals
from gendesign.sources.formula_decodes import FormulaDecoder, framework_crystals, framework_plan
from gendesign.sources.hull_compositions import stoichiometry_type

pytestmark = pytest.mark.needs_data  # MP-20's and MPTS-52's crystals


@pytest.fixture(scope="module")
def crystals(mp20):
    training = known_crystals(dataset_split(mp20, "train").subset(range(3000)), "mp20:train[:3000]")
    kinds = {stoichiometry_type(f) for f in ("MgAl2O4", "LiFePO4")}
    return framework_crystals(kinds, training)


def test_mgal2o4_decodes_as_a_spinel_with_mg_on_the_tetrahedral_site(crystals):
    decoder = FormulaDecoder(crystals)
    frameworks = decoder.frameworks(Composition("MgAl2O4"))
    # ions of the right size first, then the most common: the spinel leads
    assert frameworks == sorted(
        frameworks, key=lambda f: (round(f.mismatch, 1), -f.members, f.label)
    )
    spinel = next(f for f in frameworks[:3] if f.label.startswith("227:"))
    assert spinel.mismatch < 0.1
    drawn = decoder.decode(Composition("MgAl2O4"), spinel)
    structure = drawn.structure
    assert structure.composition.reduced_formula == "MgAl2O4"
    analyzer = SpacegroupAnalyzer(structure, symprec=0.1)
    assert analyzer.get_space_group_number() == 227
    # normal spinel: Mg2+ four-coordinated by oxygen, Al3+ six-coordinated
    for element, oxygens in (("Mg", 4), ("Al", 6)):
        for site in structure:
            if site.specie.symbol == element:
                near = structure.get_neighbors(site, 2.4)
                assert sum(n.specie.symbol == "O" for n in near) == oxygens
    volume = structure.volume / len(structure)
    assert 8 < volume < 14  # Å³ per atom, rescaled by ionic radii (MgAl2O4: 9.9)
    assert drawn.parent in crystals.ids and "227:" in drawn.how


def test_lifepo4_reaches_the_olivine_from_mpts52(crystals):
    decoder = FormulaDecoder(crystals)
    olivine = decoder.frameworks(Composition("LiFePO4"))[0]
    assert olivine.label == "62:a|c|c|ccd"  # Li on 4a (the M1 chains), Fe, P on 4c
    structure = decoder.decode(Composition("LiFePO4"), olivine).structure
    assert len(structure) == 28 and structure.composition.reduced_formula == "LiFePO4"
    assert crystals.ids[olivine.template].startswith("mpts52:")


def test_held_out_systems_lend_no_framework_and_plans_alternate_with_the_flow(crystals):
    everything = FormulaDecoder(crystals)
    held_out = FormulaDecoder(crystals, leave_out={"Al-Mg-O"})
    spinels = Composition("MgAl2O4")
    own = sum(
        d.formula == "MgAl2O4" and d.oxidation_states is not None for d in crystals.descriptors
    )
    assert own >= 1, "MPTS-52 holds MgAl2O4 crystals"
    members = [sum(f.members for f in d.frameworks(spinels)) for d in (everything, held_out)]
    assert members[0] - members[1] == own  # every Mg-Al-O crystal left out, nothing else
    plan = framework_plan([spinels] * 6 + [Composition("Mg7Al2O10")], held_out)
    assert [p is not None for p in plan[:6]] == [True, False] * 3
    assert len({p.label for p in plan[:6] if p}) == 3  # a new framework each time
    assert plan[6] is None  # no known compound has that stoichiometry: the flow decodes it
    framework = everything.frameworks(spinels)[0]
    assert everything.decode(Composition("MgAl2Cu4"), framework) is None  # no oxidation states
